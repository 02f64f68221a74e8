/**
 * A password on a command line: `mysql -h db -u app -pSECRET`, `sshpass -p SECRET ssh …`,
 * `redis-cli -h cache -a SECRET`. Read as this pattern reads it (the property test holds the
 * scanner to it):
 *
 *   (?<![A-Za-z0-9_-])(?:(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)(?:\s+\S{1,200}){0,12}?\s+-p
 *     |sshpass\s+-p\s+|redis-cli(?:\s+\S{1,200}){0,12}?\s+-a\s+)  then the value [^\s"']+
 *
 * As a regex it re-read up to twelve arguments after every command word, twelve times a linear
 * pass on `mysql -p mysql -p …` (bench:adversarial); this scanner reads the text's words once.
 */

import { isSpace as textIsSpace } from '../text';

/** A module-local binding: an imported one is a property read on every call under tsx. */
const isSpace = textIsSpace;

const quote = (c: number): boolean => c === 34 || c === 39;

/** The lookbehind's class: a command word starts after none of these. */
function isWordish(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
}

/** Most arguments between the command and its password flag, and most characters of one. */
const MAX_ARGS = 12;
const MAX_ARG_CHARS = 200;

const enum Kind {
  None = 0,
  Mysql = 1,
  Sshpass = 2,
  Redis = 3,
}

/** The command word that is text[p, p + len), by length first: no slice per word of the text. */
function commandAt(text: string, p: number, len: number): Kind {
  if (len === 5) return text.startsWith('mysql', p) ? Kind.Mysql : Kind.None;
  if (len === 7) return text.startsWith('mariadb', p) ? Kind.Mysql : text.startsWith('sshpass', p) ? Kind.Sshpass : Kind.None;
  if (len === 9) return text.startsWith('mysqldump', p) ? Kind.Mysql : text.startsWith('redis-cli', p) ? Kind.Redis : Kind.None;
  if (len === 10) return text.startsWith('mysqladmin', p) ? Kind.Mysql : Kind.None;
  if (len === 12) return text.startsWith('mariadb-dump', p) ? Kind.Mysql : Kind.None;
  return Kind.None;
}

/** The pattern the scanner reads as (the scrubber's rule keeps it; the property test compares them). */
export const CLI_PATTERN = String.raw`(?<head>(?<![A-Za-z0-9_-])(?:(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)(?:\s+[^\s]{1,200}){0,12}?\s+-p|(?:sshpass)\s+-p\s+|redis-cli(?:\s+[^\s]{1,200}){0,12}?\s+-a\s+))(?<value>[^\s"']+)`;

/** Whether the text can hold one (a command word and a `-p`/`-a` after whitespace): most cannot, and pay two scans. */
export function mayHoldCliPassword(text: string): boolean {
  return /mysql|mariadb|sshpass|redis-cli/.test(text) && /\s-[pa]/.test(text);
}

/** Every command-line password: [match start, value start, value end], in order, not overlapping. */
export function cliPasswords(text: string): [start: number, valueStart: number, end: number][] {
  const out: [number, number, number][] = [];
  eachCliPassword(text, (start, valueStart, end) => void out.push([start, valueStart, end]));
  return out;
}

/** cliPasswords, each match handed to `found` as it is read (no array per match). */
export function eachCliPassword(text: string, found: (start: number, valueStart: number, end: number) => void): void {
  if (!mayHoldCliPassword(text)) return;
  // The words (runs of non-space), and where a command word starts in each (its suffix); in
  // typed arrays (a text has at most half its length + 1 words): plain arrays pushed per word
  // were most of the time on a dense line.
  const starts = new Int32Array((text.length >> 1) + 1);
  const ends = new Int32Array(starts.length);
  let n = 0;
  for (let i = 0; i < text.length;) {
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (i >= text.length) break;
    const s = i;
    while (i < text.length && !isSpace(text.charCodeAt(i))) i++;
    starts[n] = s;
    ends[n++] = i;
  }
  // From each word on: the next word that completes a mysql flag (-pVALUE), a redis flag (-a VALUE), and the next word too long to be an argument.
  const nextMysql = new Int32Array(n + 1).fill(n);
  const nextRedis = new Int32Array(n + 1).fill(n);
  const nextLong = new Int32Array(n + 1).fill(n);
  for (let t = n - 1; t >= 0; t--) {
    const s = starts[t]!;
    const len = ends[t]! - s;
    const dashP = len >= 3 && text.charCodeAt(s) === 45 && text.charCodeAt(s + 1) === 112 && !quote(text.charCodeAt(s + 2));
    const dashA =
      len === 2 && text.charCodeAt(s) === 45 && text.charCodeAt(s + 1) === 97 && t + 1 < n && !quote(text.charCodeAt(starts[t + 1]!));
    nextMysql[t] = dashP ? t : nextMysql[t + 1]!;
    nextRedis[t] = dashA ? t : nextRedis[t + 1]!;
    nextLong[t] = len > MAX_ARG_CHARS ? t : nextLong[t + 1]!;
  }
  let done = 0;
  for (let t = 0; t < n; t++) {
    const end = ends[t]!;
    let p = end;
    while (p > starts[t]! && isWordish(text.charCodeAt(p - 1))) p--;
    if (p < done) continue;
    const kind = commandAt(text, p, end - p);
    if (kind === Kind.None) continue;
    let valueStart: number;
    let flag: number;
    if (kind === Kind.Sshpass) {
      // sshpass -p VALUE: the flag right after the command, the value the next word.
      flag = t + 1;
      if (
        flag + 1 >= n ||
        ends[flag]! - starts[flag]! !== 2 ||
        text.charCodeAt(starts[flag]!) !== 45 ||
        text.charCodeAt(starts[flag]! + 1) !== 112
      )
        continue;
      valueStart = starts[flag + 1]!;
      if (quote(text.charCodeAt(valueStart))) continue;
    } else {
      // The first flag within twelve arguments, every argument before it at most 200 characters.
      flag = kind === Kind.Mysql ? nextMysql[t + 1]! : nextRedis[t + 1]!;
      if (flag >= n || flag - t - 1 > MAX_ARGS || nextLong[t + 1]! < flag) continue;
      valueStart = kind === Kind.Mysql ? starts[flag]! + 2 : starts[flag + 1]!;
    }
    let valueEnd = valueStart;
    while (valueEnd < text.length) {
      const c = text.charCodeAt(valueEnd);
      if (isSpace(c) || quote(c)) break;
      valueEnd++;
    }
    found(p, valueStart, valueEnd);
    done = valueEnd;
    while (t + 1 < n && ends[t + 1]! <= done) t++;
  }
}
