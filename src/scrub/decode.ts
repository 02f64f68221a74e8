/**
 * Decoding before matching: `alice%40example.com`, `\u0040`, `\x40` and `&#64;` all hide an
 * `@` from a pattern that looks for one. The scrubber matches on the decoded text and masks
 * the same span of the original, so a line keeps its encoding and structure.
 */

/** A decoded text and, for every decoded position (and its end), the original position. */
export interface Decoded {
  text: string;
  /** `map[i]` is where decoded character `i` starts in the original; `map[text.length]` is the original's length. */
  map: Int32Array;
}

/** Anything decode() would change: a percent escape, a \u or \x escape, an HTML character reference. */
const ENCODED = /%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f{]|\\x[0-9A-Fa-f]{2}|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z]{2,6});/;

/** The named references that hide characters the rules look at (`@`, quotes, `=`, `&`, `:`, …). */
const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  commat: '@',
  equals: '=',
  colon: ':',
  sol: '/',
  num: '#',
  percnt: '%',
  plus: '+',
  nbsp: ' ',
};

const hexAt = (s: string, i: number, n: number): number => {
  if (i + n > s.length) return -1;
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
};

/** A code point as text, or undefined for one that is not a character (a lone surrogate is kept as is). */
const fromCode = (cp: number): string | undefined => (cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : undefined);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One escape at `i`: [decoded text, original length] or undefined when there is none. */
function escapeAt(s: string, i: number): [string, number] | undefined {
  const c = s[i];
  if (c === '%') {
    const b = hexAt(s, i + 1, 2);
    if (b < 0) return undefined;
    if (b < 0x80) return [String.fromCharCode(b), 3];
    // A UTF-8 sequence spells one character over several escapes (%C3%A9).
    const bytes = [b];
    let j = i + 3;
    while (bytes.length < 4 && s[j] === '%') {
      const n = hexAt(s, j + 1, 2);
      if (n < 0x80 || n > 0xbf) break;
      bytes.push(n);
      j += 3;
    }
    try {
      return [utf8.decode(Uint8Array.from(bytes)), j - i];
    } catch {
      return undefined;
    }
  }
  if (c === '\\') {
    const kind = s[i + 1];
    if (kind === 'x') {
      const v = hexAt(s, i + 2, 2);
      return v < 0 ? undefined : [String.fromCharCode(v), 4];
    }
    if (kind === 'u') {
      if (s[i + 2] === '{') {
        const close = s.indexOf('}', i + 3);
        if (close < 0 || close - i - 3 > 6 || close === i + 3) return undefined;
        const ch = fromCode(hexAt(s, i + 3, close - i - 3));
        return ch === undefined ? undefined : [ch, close - i + 1];
      }
      const v = hexAt(s, i + 2, 4);
      return v < 0 ? undefined : [String.fromCharCode(v), 6];
    }
    return undefined;
  }
  if (c === '&') {
    const semi = s.indexOf(';', i + 2);
    if (semi < 0 || semi - i > 9) return undefined;
    const name = s.slice(i + 1, semi);
    let ch: string | undefined;
    if (name[0] === '#') {
      const hex = name[1] === 'x' || name[1] === 'X';
      const digits = name.slice(hex ? 2 : 1);
      ch = /^[0-9A-Fa-f]+$/.test(digits) && (hex || /^\d+$/.test(digits)) ? fromCode(parseInt(digits, hex ? 16 : 10)) : undefined;
    } else ch = ENTITIES[name];
    return ch === undefined ? undefined : [ch, semi - i + 1];
  }
  return undefined;
}

/** Decoded code units waiting to become text (see decodeOnce). */
const pending = new Uint16Array(4096);

/** One decoding pass; undefined when the text has nothing to decode. */
function decodeOnce(s: string): Decoded | undefined {
  // includes() first: three memchr-like scans cost far less than the alternation on a line without any of them.
  if (!(s.includes('%') || s.includes('\\') || s.includes('&')) || !ENCODED.test(s)) return undefined;
  // The decoded text is never longer than the original: the map fits in its length + 1.
  // Unchanged runs are copied as slices, decoded characters gathered as code units and turned
  // into text a block at a time, the map filled by index (a plain array pushed per character,
  // and a string grown per escape, cost 20 times a pass over the text on a run of escapes).
  let out = '';
  const map = new Int32Array(s.length + 1);
  let m = 0;
  let run = 0;
  let np = 0;
  const flush = (): void => {
    out += String.fromCharCode.apply(null, pending.subarray(0, np) as unknown as number[]);
    np = 0;
  };
  for (let i = 0; i < s.length;) {
    const c = s.charCodeAt(i);
    if (c !== 37 && c !== 92 && c !== 38) {
      map[m++] = i++;
      continue;
    }
    // %XX below 0x80, the common escape, read in place; the others through escapeAt.
    const b = c === 37 ? hexAt(s, i + 1, 2) : -1;
    let len: number;
    if (b >= 0 && b < 0x80) {
      if (i > run) {
        if (np) flush();
        out += s.slice(run, i);
      }
      if (np === pending.length) flush();
      pending[np++] = b;
      map[m++] = i;
      len = 3;
    } else {
      const esc = escapeAt(s, i);
      if (!esc) {
        map[m++] = i++;
        continue;
      }
      if (i > run) {
        if (np) flush();
        out += s.slice(run, i);
      }
      for (let k = 0; k < esc[0].length; k++) {
        if (np === pending.length) flush();
        pending[np++] = esc[0].charCodeAt(k);
        map[m++] = i;
      }
      len = esc[1];
    }
    i += len;
    run = i;
  }
  if (np) flush();
  if (s.length > run) out += s.slice(run);
  map[m++] = s.length;
  return { text: out, map: map.subarray(0, m) };
}

/**
 * Decodes up to two layers (`%2540` is an `@` encoded twice, as a redirect parameter
 * carries it); undefined when the text has nothing to decode. Linear in the text's length.
 */
export function decode(s: string): Decoded | undefined {
  const first = decodeOnce(s);
  if (!first) return undefined;
  const second = decodeOnce(first.text);
  if (!second) return first;
  const map = new Int32Array(second.map.length);
  for (let i = 0; i < map.length; i++) map[i] = first.map[second.map[i]!]!;
  return { text: second.text, map };
}
