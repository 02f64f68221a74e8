/**
 * Hand-written scanners for rules whose pattern is tried at every position of a text (a
 * leading lookbehind or a long alternation rules out V8's literal search) and matches
 * every few bytes of a dense line. Each reads as its pattern (kept beside it, the spec)
 * reads: leftmost match first, the next one from the end of the last, as a global
 * `exec` loop finds them; test/scrub.test.ts holds each scanner to its pattern on random
 * text. They return matches as flat triples (start, value start, end): no array per match.
 */

import { isSpace as textIsSpace } from '../text';
import { isPublicHexColonIPv6At } from './validate';

/** JavaScript's \s (a module-local binding: an imported one is a property read on every call under tsx). */
const isSpace = textIsSpace;

/**
 * The matches of the last scan, four numbers each, in a buffer reused by every scan: a
 * plain array pushed to tens of thousands of numbers cost more than the scan itself
 * (1.7 ms for 80,000 pushes; the typed array 0.2 ms).
 */
export interface Found {
  at: Int32Array;
  /** Numbers in use (four a match). */
  n: number;
}
const found: Found = { at: new Int32Array(1024), n: 0 };

/** Starts a scan's matches afresh. */
export function beginScan(): Found {
  found.n = 0;
  return found;
}

/** One match: start, mask start, mask end, end. */
export function emit(start: number, maskStart: number, maskEnd: number, end: number): void {
  let at = found.at;
  const k = found.n;
  if (k + 4 > at.length) {
    const grown = new Int32Array(at.length * 2);
    grown.set(at);
    found.at = at = grown;
  }
  at[k] = start;
  at[k + 1] = maskStart;
  at[k + 2] = maskEnd;
  at[k + 3] = end;
  found.n = k + 4;
}

/** A scan's matches as a plain array (for the tests). */
export const asArray = (f: Found): number[] => Array.from(f.at.subarray(0, f.n));

/** [A-Za-z0-9_]: what the patterns' `(?<![A-Za-z0-9_])` and `(?![A-Za-z0-9_])` look at. */
function isWord(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || c === 95;
}
/** ASCII classes for hexIds: 0 not a word character, else one of these. */
const WORD = 1;
const DIGIT = 2;
const HEX_LETTER = 3;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) CLASS[c] = c >= 48 && c <= 57 ? DIGIT : c >= 97 && c <= 102 ? HEX_LETTER : isWord(c) ? WORD : 0;
const isLowerHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
const isHex = (c: number): boolean => isLowerHex(c) || (c >= 65 && c <= 70);

/** Whether text[i, i + len) are all hex digits (lowercase only when `lower`). */
function hexRun(text: string, i: number, len: number, lower: boolean): boolean {
  if (i + len > text.length) return false;
  for (let k = i; k < i + len; k++) {
    const c = text.charCodeAt(k);
    if (!(lower ? isLowerHex(c) : isHex(c))) return false;
  }
  return true;
}

/** Whether a UUID (8-4-4-4-12 hex digits, any case) starts at i. */
function uuidAt(text: string, i: number): boolean {
  return (
    hexRun(text, i, 8, false) &&
    text.charCodeAt(i + 8) === 45 &&
    hexRun(text, i + 9, 4, false) &&
    text.charCodeAt(i + 13) === 45 &&
    hexRun(text, i + 14, 4, false) &&
    text.charCodeAt(i + 18) === 45 &&
    hexRun(text, i + 19, 4, false) &&
    text.charCodeAt(i + 23) === 45 &&
    hexRun(text, i + 24, 12, false)
  );
}

/** Whether a traceparent (`00-` then 32-16-2 lowercase hex digits) starts at i. */
function traceparentAt(text: string, i: number): boolean {
  return (
    text.startsWith('00-', i) &&
    hexRun(text, i + 3, 32, true) &&
    text.charCodeAt(i + 35) === 45 &&
    hexRun(text, i + 36, 16, true) &&
    text.charCodeAt(i + 52) === 45 &&
    hexRun(text, i + 53, 2, true)
  );
}

/** The pattern `hexIds` reads as (the keep rule for ids: digests, traceparents, UUIDs, hex ids). */
export const HEX_ID_PATTERN = String.raw`(?<![A-Za-z0-9_])(?:sha(?:256|512):[0-9a-f]{32,}|00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?=[0-9]*[a-f])[0-9a-f]{7,64})(?![A-Za-z0-9_])`;

/**
 * Whether the text has seven hex digits in a row (any case), as every branch of
 * HEX_ID_PATTERN does: a cheaper scan than the scanner's for the many texts without one.
 */
export function hasHexRun(text: string): boolean {
  // Seven characters in a row cover one index of every seven (6, 13, 20, …): only those are
  // read first, and the run around a hex digit there is measured.
  const hex = (c: number): boolean => {
    const l = c | 0x20;
    return (l >= 48 && l <= 57) || (l >= 97 && l <= 102);
  };
  const n = text.length;
  for (let i = 6; i < n; i += 7) {
    if (!hex(text.charCodeAt(i))) continue;
    let a = i;
    while (a > i - 6 && hex(text.charCodeAt(a - 1))) a--;
    let b = i + 1;
    while (b < n && b - a < 7 && hex(text.charCodeAt(b))) b++;
    if (b - a >= 7) return true;
  }
  return false;
}

/**
 * Hex ids as HEX_ID_PATTERN matches them. Every branch starts with a word character after
 * a non-word one, so only the start of each run of word characters is tried; the branches in
 * the pattern's order, each ending before a non-word character.
 */
export function hexIds(text: string): Found {
  const out = beginScan();
  if (!hasHexRun(text)) return out;
  const n = text.length;
  const wordAt = (k: number): boolean => k < n && isWord(text.charCodeAt(k));
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || CLASS[c] === 0) {
      i++;
      continue;
    }
    // i starts a run of word characters (the one before it is not one, or i is 0): read it
    // once, noting whether it is all lowercase hex and holds a letter.
    let r = i;
    let lowerHex = true;
    let letter = false;
    for (; r < n; r++) {
      const d = text.charCodeAt(r);
      const k = d < 128 ? CLASS[d]! : 0;
      if (k === 0) break;
      letter ||= k === HEX_LETTER;
      lowerHex &&= k !== WORD;
    }
    let end = -1;
    if (c === 115 /* s */ && r === i + 6 && (text.startsWith('sha256:', i) || text.startsWith('sha512:', i))) {
      let h = i + 7;
      while (h < n && isLowerHex(text.charCodeAt(h))) h++;
      if (h - i - 7 >= 32 && !wordAt(h)) end = h;
    }
    if (end < 0 && r === i + 2 && c === 48 && traceparentAt(text, i) && !wordAt(i + 55)) end = i + 55;
    if (end < 0 && r === i + 8 && uuidAt(text, i) && !wordAt(i + 36)) end = i + 36;
    // (?=[0-9]*[a-f])[0-9a-f]{7,64}(?![A-Za-z0-9_]): the whole run, lowercase hex with a letter.
    if (end < 0 && lowerHex && letter && r - i >= 7 && r - i <= 64) end = r;
    if (end >= 0) {
      emit(i, i, end, end);
      i = end;
    } else i = r;
  }
  return out;
}

const isQuote = (c: number): boolean => c === 34 || c === 39;
/** What `.` does not match (no `s` flag). */
const isLineEnd = (c: number): boolean => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
/** [A-Za-z0-9_.-]: a parameter name's characters. */
const isNameChar = (c: number): boolean => isWord(c) || c === 46 || c === 45;
/** [^\s,;&"'}\]]: an unquoted value's characters. */
const isValueChar = (c: number): boolean =>
  !(c === 44 || c === 59 || c === 38 || c === 34 || c === 39 || c === 125 || c === 93 || isSpace(c));

/**
 * The end of a PAIR_VALUE (src/scrub/rules.ts) at i, or -1: a double-quoted string with
 * escapes, a single-quoted one, or a run of value characters where an `&` that does not
 * start another `name=` parameter belongs to the value.
 */
export function pairValueEnd(text: string, i: number): number {
  const n = text.length;
  if (i >= n) return -1;
  const c = text.charCodeAt(i);
  if (c === 34) {
    for (let k = i + 1; k < n;) {
      const d = text.charCodeAt(k);
      if (d === 34) return k + 1;
      if (d === 92 /* \ */) {
        if (k + 1 >= n || isLineEnd(text.charCodeAt(k + 1))) return -1;
        k += 2;
      } else k++;
    }
    return -1;
  }
  if (c === 39) {
    const close = text.indexOf("'", i + 1);
    return close < 0 ? -1 : close + 1;
  }
  if (!isValueChar(c)) return -1;
  let k = i + 1;
  for (;;) {
    while (k < n && isValueChar(text.charCodeAt(k))) k++;
    if (k >= n || text.charCodeAt(k) !== 38 /* & */) return k;
    // (?![A-Za-z0-9_.-]+=): an & before `name=` ends the value.
    let q = k + 1;
    while (q < n && isNameChar(text.charCodeAt(q))) q++;
    if (q > k + 1 && q < n && text.charCodeAt(q) === 61) return k;
    k++;
  }
}

/** A match whose value starts at valueStart: masked inside its quotes when it is quoted, as the scrubber masks a pattern's value. */
function emitValue(text: string, start: number, valueStart: number, end: number): void {
  const q = text.charCodeAt(valueStart);
  if (end - valueStart >= 2 && isQuote(q) && text.charCodeAt(end - 1) === q) emit(start, valueStart + 1, end - 1, end);
  else emit(start, valueStart, end, end);
}

/** Where a value starts after a separator at j: past the spaces. */
function skipSpaces(text: string, j: number): number {
  let v = j;
  while (v < text.length && isSpace(text.charCodeAt(v))) v++;
  return v;
}

/** The short secret word that ends at e, as SHORT_KEYS spells them: its length (4: PASS, Pass, pass; 2: PW, Pw, pw), or 0 for none. */
function shortWordBefore(text: string, e: number): number {
  if (e >= 2) {
    const a = text.charCodeAt(e - 2);
    const b = text.charCodeAt(e - 1);
    if ((a === 80 && (b === 87 || b === 119)) || (a === 112 && b === 119)) return 2;
  }
  if (e >= 4) {
    const w = text.slice(e - 4, e);
    if (w === 'pass' || w === 'Pass' || w === 'PASS') return 4;
  }
  return 0;
}

/**
 * Short secret words as keys, as the shortpair rule's pattern (src/scrub/rules.ts) matches them. Read from each
 * `:` and `=` back to the word before it: the word, then its key shape by what precedes it
 * (a `_`/`-` or a lower-case letter before a capital: a word of a longer key; nothing
 * word-like: the key alone; a quote: a quoted key).
 */
export function shortPairs(text: string): Found {
  const out = beginScan();
  const n = text.length;
  let lastEnd = 0;
  for (let j = 0; j < n; j++) {
    const sep = text.charCodeAt(j);
    if (sep !== 58 && sep !== 61) continue;
    let k = j;
    while (k > 0 && isSpace(text.charCodeAt(k - 1))) k--;
    const quoted = k > 0 && isQuote(text.charCodeAt(k - 1));
    const e = quoted ? k - 1 : k;
    const len = shortWordBefore(text, e);
    if (len === 0) continue;
    const p = e - len;
    if (p < lastEnd) continue;
    const prev = p > 0 ? text.charCodeAt(p - 1) : -1;
    let ok: boolean;
    if (prev === 95 || prev === 45)
      ok = true; // [_-]: any of the words, in a longer key
    else if (prev >= 97 && prev <= 122)
      ok = text.charCodeAt(p) === 80; // [a-z] before PASS, Pass, PW, Pw (dbPass)
    else if (prev >= 0 && isWord(prev)) ok = false;
    else if (!quoted)
      ok = len === 4 ? sep === 61 : true; // alone: pass=, pw= or pw:
    else ok = isQuote(prev) && sep === 58; // a quoted key: "pass":
    if (!ok) continue;
    const v = skipSpaces(text, j + 1);
    const end = pairValueEnd(text, v);
    if (end < 0) continue;
    emitValue(text, p, v, end);
    lastEnd = end;
  }
  return out;
}

/** [0-9A-Za-z:.]: what the IPv6 pattern's lookbehind rules out before an address. */
const isAddressChar = (c: number): boolean => (isWord(c) ? c !== 95 : c === 58 || c === 46);
const isHexOrColon = (c: number): boolean => isHex(c) || c === 58;

/** Hex digits from i on, counting to five at most. */
function hexCount(text: string, i: number): number {
  let k = i;
  while (k < text.length && k - i < 5 && isHex(text.charCodeAt(k))) k++;
  return k - i;
}

/** (?=[0-9a-fA-F]{0,4}::?[0-9a-fA-F]{0,4}:) at i: a group of up to four, a colon, then a colon or a group of up to four and a colon. */
function ipv6Ahead(text: string, i: number): boolean {
  const h1 = hexCount(text, i);
  if (h1 > 4 || text.charCodeAt(i + h1) !== 58) return false;
  const a = i + h1 + 1;
  if (text.charCodeAt(a) === 58) return true;
  const h2 = hexCount(text, a);
  return h2 <= 4 && text.charCodeAt(a + h2) === 58;
}

/**
 * Public IPv6 addresses as the ipv6 rule (src/scrub/rules.ts) finds them: its pattern's
 * matches that isPublicIPv6 accepts (a refused one is passed over, as the rule's exec loop
 * passes it), read in place.
 * A match starts a run of [0-9A-Za-z:.] and is the whole run of hex digits and colons there.
 */
export function ipv6s(text: string): Found {
  const out = beginScan();
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isAddressChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    if (isHexOrColon(text.charCodeAt(i)) && ipv6Ahead(text, i)) {
      let h = i + 1;
      while (h < n && isHexOrColon(text.charCodeAt(h))) h++;
      // [0-9a-fA-F:]{3,39}(?![0-9A-Za-z:]): the run, 3 to 39 long, not followed by a letter.
      if (h - i >= 3 && h - i <= 39 && !(h < n && isWord(text.charCodeAt(h)) && text.charCodeAt(h) !== 95)) {
        if (isPublicHexColonIPv6At(text, i, h)) emit(i, i, h, h);
        i = h;
        continue;
      }
    }
    while (i < n && isAddressChar(text.charCodeAt(i))) i++;
  }
  return out;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** [0-9A-Za-z.]: what the IPv4 pattern's lookbehind rules out before an address. */
const isDottedChar = (c: number): boolean => (isWord(c) ? c !== 95 : c === 46);

/** The end of a run of one to three digits at i (not part of a longer run), or -1. */
function octetEnd(text: string, i: number): number {
  let k = i;
  while (k < text.length && k - i < 4 && isDigit(text.charCodeAt(k))) k++;
  return k === i || k - i > 3 ? -1 : k;
}

/**
 * IPv4 addresses as the ipv4 rule's pattern (src/scrub/rules.ts) matches them, kept when
 * `accept` takes text[start, end) (a refused match is passed over, as the rule's exec loop
 * passes it): four groups of one to three digits split by dots, after none of [0-9A-Za-z.],
 * not followed by a letter or digit, nor by a dot and a digit.
 */
export function ipv4s(text: string, accept: (text: string, start: number, end: number) => boolean): Found {
  const out = beginScan();
  const n = text.length;
  // Only a digit after none of [0-9A-Za-z.] can start a match: the loop looks for digits.
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || (i > 0 && isDottedChar(text.charCodeAt(i - 1)))) continue;
    let end = i;
    for (let part = 0; part < 4 && end >= 0; part++) {
      end = octetEnd(text, end);
      if (end >= 0 && part < 3) end = end < n && text.charCodeAt(end) === 46 ? end + 1 : -1;
    }
    if (end < 0) continue;
    const next = end < n ? text.charCodeAt(end) : 0;
    if ((isWord(next) && next !== 95) || (next === 46 && end + 1 < n && isDigit(text.charCodeAt(end + 1)))) continue;
    if (accept(text, i, end)) emit(i, i, end, end);
    i = end - 1;
  }
  return out;
}
