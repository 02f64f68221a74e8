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

/** One character into a running mod 97 (letters count as two digits, A = 10); -1 for any other character. */
function mod97(rem: number, code: number): number {
  if (code >= 65 && code <= 90) return (rem * 100 + (code - 55)) % 97;
  if (code >= 48 && code <= 57) return (rem * 10 + (code - 48)) % 97;
  return -1;
}

/** IBAN check digits (ISO 13616, mod 97 of the rearranged number must be 1); spaces are skipped, nothing is allocated. */
export function ibanValid(raw: string): boolean {
  let len = 0;
  for (let i = 0; i < raw.length; i++) if (raw.charCodeAt(i) !== 32) len++;
  if (len < 15 || len > 34) return false;
  // The first four characters go last: read from the fifth on, then wrap around.
  let rem = 0;
  let seen = 0;
  let headEnd = 0;
  for (let i = 0; i < raw.length && rem >= 0; i++) {
    const c = raw.charCodeAt(i);
    if (c === 32) continue;
    if (seen++ < 4) headEnd = i + 1;
    else rem = mod97(rem, c);
  }
  for (let i = 0; i < headEnd && rem >= 0; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 32) rem = mod97(rem, c);
  }
  return rem === 1;
}

/**
 * A public (routable, client-looking) IPv4 address. Private, loopback, link-local, CGNAT,
 * multicast and reserved ranges (RFC 6890) are infrastructure and stay for correlation.
 * The documentation ranges (RFC 5737) count as public: they stand in for real clients.
 *
 * Read as node:net's isIPv4 reads one (four parts of 1-3 digits, each at most 255, no
 * leading zero), in one scan that allocates nothing: it runs on every address-shaped match.
 */
export function isPublicIPv4(ip: string): boolean {
  return isPublicIPv4At(ip, 0, ip.length);
}

/** isPublicIPv4 on text[from, to): nothing sliced (the IPv4 scanner reads addresses in place). */
export function isPublicIPv4At(ip: string, from: number, to: number): boolean {
  let i = from;
  let a = 0;
  let b = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= to || ip.charCodeAt(i) !== 46 /* . */) return false;
      i++;
    }
    const start = i;
    let v = 0;
    while (i < to && i - start < 4) {
      const d = ip.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && ip.charCodeAt(start) === 48)) return false;
    if (part === 0) a = v;
    else if (part === 1) b = v;
  }
  if (i !== to) return false;
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

/** Global unicast IPv6 (2000::/3); loopback, ULA, link-local and multicast are kept. The cheap test on the first group goes first, read from char codes. */
export function isPublicIPv6(ip: string): boolean {
  let first = 0;
  let i = 0;
  let hexAndColons = true;
  for (; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 58 /* : */) break;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) {
      // Not hex: as parseInt reads the group, only the digits before it count.
      hexAndColons = false;
      break;
    }
    first = first * 16 + d;
  }
  const colon = ip.indexOf(':');
  if (colon <= 0 || colon > 4) return false;
  if (!hexAndColons) {
    first = parseInt(ip.slice(0, colon), 16);
  } else {
    for (let k = colon; k < ip.length && hexAndColons; k++) {
      const c = ip.charCodeAt(k);
      hexAndColons = c === 58 || isHex(c);
    }
  }
  return first >= 0x2000 && first <= 0x3fff && (hexAndColons ? hexColonIPv6(ip) : isIPv6(ip));
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** An IPv6 address written with hex groups and colons only (no embedded IPv4), as node:net's isIPv6 reads one; one scan. */
function hexColonIPv6(ip: string): boolean {
  return hexColonIPv6At(ip, 0, ip.length);
}

/** hexColonIPv6 on text[from, to), which holds only hex digits and colons: nothing sliced. */
function hexColonIPv6At(text: string, from: number, to: number): boolean {
  let i = from;
  let groups = 0;
  let compressed = false;
  if (to - from >= 2 && text.charCodeAt(from) === 58 && text.charCodeAt(from + 1) === 58) {
    compressed = true;
    i = from + 2;
    if (i === to) return true;
  }
  for (;;) {
    const start = i;
    while (i < to && text.charCodeAt(i) !== 58) i++;
    if (i === start || i - start > 4) return false;
    groups++;
    if (i === to) break;
    i++; // a colon
    if (text.charCodeAt(i) === 58) {
      if (compressed) return false;
      compressed = true;
      i++;
      if (i === to) break;
    } else if (i === to) return false;
  }
  return compressed ? groups <= 7 : groups === 8;
}

/**
 * isPublicIPv6 on text[from, to), which holds only hex digits and colons (what the IPv6
 * scanner finds): the first group read in place, nothing sliced.
 */
export function isPublicHexColonIPv6At(text: string, from: number, to: number): boolean {
  let first = 0;
  let i = from;
  for (; i < to && i - from <= 4; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) break;
    first = first * 16 + (c <= 57 ? c - 48 : (c | 0x20) - 87);
  }
  const colon = i - from;
  if (i >= to || text.charCodeAt(i) !== 58 || colon === 0 || colon > 4) return false;
  return first >= 0x2000 && first <= 0x3fff && hexColonIPv6At(text, from, to);
}

/** Digits only. */
export function digitsOf(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return s.replace(/\D/g, '');
  }
  return s;
}

/** Card numbers are 13–19 digits with a known leading digit and a valid Luhn sum (read in one scan over the digits, separators skipped). */
export function cardValid(candidate: string): boolean {
  let sum = 0;
  let n = 0;
  for (let i = candidate.length - 1; i >= 0; i--) {
    let d = candidate.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    if (n % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    n++;
  }
  return n >= 13 && n <= 19 && sum % 10 === 0;
}

/** E.164 allows at most 15 digits; national numbers have at least 10 (8 with a `+` code). */
export function phoneValid(candidate: string): boolean {
  let n = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return candidate.startsWith('+') ? n >= 8 && n <= 15 : n >= 10 && n <= 15;
}
