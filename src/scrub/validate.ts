import { isIPv6 } from 'node:net';

/**
 * Checks that turn a pattern match into a real finding. Pattern-only detectors of numbers
 * flag timestamps and counters; these keep false positives low so identifiers survive.
 */

/** Luhn checksum (ISO/IEC 7812-1), over digits only. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN check digits (ISO 13616, mod 97 of the rearranged number must be 1). */
export function ibanValid(raw: string): boolean {
  const iban = raw.replace(/ /g, '');
  if (iban.length < 15 || iban.length > 34) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 && code <= 90 ? String(code - 55) : ch;
    for (const d of value) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/**
 * The four octets of a dotted IPv4 address as node:net's isIPv4 reads one (1-3 digits each,
 * at most 255, no leading zero), or undefined. A scan, not a regex and a split: it runs on
 * every address-shaped match of a log line.
 */
function ipv4Octets(ip: string): [number, number, number, number] | undefined {
  const o: number[] = [];
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (ip.charCodeAt(i) !== 46 /* . */) return undefined;
      i++;
    }
    const start = i;
    let v = 0;
    while (i < ip.length && i - start < 4) {
      const d = ip.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && ip.charCodeAt(start) === 48)) return undefined;
    o.push(v);
  }
  return i === ip.length ? (o as [number, number, number, number]) : undefined;
}

/**
 * A public (routable, client-looking) IPv4 address. Private, loopback, link-local, CGNAT,
 * multicast and reserved ranges (RFC 6890) are infrastructure and stay for correlation.
 * The documentation ranges (RFC 5737) count as public: they stand in for real clients.
 */
export function isPublicIPv4(ip: string): boolean {
  const octets = ipv4Octets(ip);
  if (!octets) return false;
  const [a, b] = octets;
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

/** Global unicast IPv6 (2000::/3); loopback, ULA, link-local and multicast are kept. The cheap test on the first group goes first. */
export function isPublicIPv6(ip: string): boolean {
  const colon = ip.indexOf(':');
  if (colon <= 0 || colon > 4) return false;
  const first = parseInt(ip.slice(0, colon), 16);
  return first >= 0x2000 && first <= 0x3fff && isIPv6(ip);
}

/** Digits only. */
export function digitsOf(s: string): string {
  return s.replace(/\D/g, '');
}

/** Card numbers are 13–19 digits with a known leading digit and a valid Luhn sum. */
export function cardValid(candidate: string): boolean {
  const d = digitsOf(candidate);
  return d.length >= 13 && d.length <= 19 && luhnValid(d);
}

/** E.164 allows at most 15 digits; national numbers have at least 10 (8 with a `+` code). */
export function phoneValid(candidate: string): boolean {
  const n = digitsOf(candidate).length;
  return candidate.startsWith('+') ? n >= 8 && n <= 15 : n >= 10 && n <= 15;
}
