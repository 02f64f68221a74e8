import { isIPv4, isIPv6 } from 'node:net';

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
 * A public (routable, client-looking) IPv4 address. Private, loopback, link-local, CGNAT,
 * multicast and reserved ranges (RFC 6890) are infrastructure and stay for correlation.
 * The documentation ranges (RFC 5737) count as public: they stand in for real clients.
 */
export function isPublicIPv4(ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const [a = 0, b = 0] = ip.split('.').map(Number);
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

/** Global unicast IPv6 (2000::/3); loopback, ULA, link-local and multicast are kept. */
export function isPublicIPv6(ip: string): boolean {
  if (!isIPv6(ip)) return false;
  const head = ip.split(':')[0] ?? '';
  if (head === '') return false;
  const first = parseInt(head, 16);
  return first >= 0x2000 && first <= 0x3fff;
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
