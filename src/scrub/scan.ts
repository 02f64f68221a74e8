/**
 * Hand-written scanners for rules whose pattern is tried at every position of a text (a
 * leading lookbehind or a long alternation rules out V8's literal search) and matches
 * every few bytes of a dense line. Each reads as its pattern (kept beside it, the spec)
 * reads: leftmost match first, the next one from the end of the last, as a global
 * `exec` loop finds them; test/scrub.test.ts holds each scanner to its pattern on random
 * text. They return matches as flat triples (start, value start, end): no array per match.
 */

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
function hasHexRun(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) {
      if (++run >= 7) return true;
    } else run = 0;
  }
  return false;
}

/**
 * Hex ids as HEX_ID_PATTERN matches them. Every branch starts with a word character after
 * a non-word one, so only the start of each run of word characters is tried; the branches in
 * the pattern's order, each ending before a non-word character.
 */
export function hexIds(text: string): number[] {
  const out: number[] = [];
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
      out.push(i, i, end);
      i = end;
    } else i = r;
  }
  return out;
}
