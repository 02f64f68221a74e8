import { CLI_PATTERN, eachCliPassword, mayHoldCliPassword } from './cli';
import { HEX_ID_PATTERN, beginScan, emit, hasHexRun, hexIds, ipv4s, ipv6s, shortPairs, type Found } from './scan';
import { cardValid, ibanValid, isPublicIPv4, isPublicIPv4At, isPublicIPv6, phoneValid } from './validate';

/**
 * The detectors: one pattern per rule, each behind a cheap pre-check, so a line pays only
 * for the rules it could match (one combined alternation measured 3x slower: V8 tries every
 * branch at every position). The scrubber collects the matches, resolves overlaps
 * (leftmost first, then rule order, keep rules first) and rewrites the text once.
 */

/** Placeholder families, as they appear in `<FAMILY_n>`. */
export type Family = 'EMAIL' | 'PHONE' | 'CARD' | 'IBAN' | 'IP' | 'SSN' | 'TOKEN' | 'SECRET' | 'PRIVATE_KEY' | 'COOKIE';

/** `[Tt][Rr]…`: case-insensitive words without making the whole pattern `/i` (AWS keys are upper case). */
function ci(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);
}
const anyCase = (...words: string[]): string => words.map(ci).join('|');

/** Values that are already masked or empty: left alone. */
export const ALREADY_MASKED = /^(?:<[A-Z_]+_\d+>|\*+|\[?redacted\]?|\[?filtered\]?|\[?hidden\]?|null|none|nil|true|false|undefined|x+|)$/i;

const HEX_ID_KEYS = anyCase(
  'traceparent',
  'tracestate',
  'trace_id',
  'traceid',
  'trace-id',
  'span_id',
  'spanid',
  'span-id',
  'parent_id',
  'parentid',
  'fingerprint',
  'request_id',
  'requestid',
  'x-request-id',
  'correlation_id',
  'correlationid',
  'commit',
  'revision',
  'git_sha',
  'sha',
  'digest',
  'image_id',
  'version',
);

const SECRET_WORDS = [
  'password',
  'passwd',
  'passphrase',
  'passcode',
  'requirepass',
  'pwd',
  'secret',
  'token',
  'api_key',
  'api-key',
  'apikey',
  'access_key',
  'access-key',
  'secret_key',
  'private_key',
  'private-key',
  'privatekey',
  'signing_key',
  'signing-key',
  'signingkey',
  'encryption_key',
  'credential',
  'credentials',
  'session',
  'session_id',
  'sessionid',
  'sessid',
  'sid',
  'signature',
  'auth',
];
/** Short words that are secrets only as a whole word of a key (`DB_PASS`, `pw`, `dbPass`), never inside one (`bypass`, `compass`). */
const SHORT_SECRET_WORDS = ['pass', 'pw'];
const SECRET_KEY_WORDS = anyCase(...SECRET_WORDS, ...SHORT_SECRET_WORDS);
const SHORT_KEYS = 'PASS|Pass|pass|PW|Pw|pw';
/**
 * A secret value: quoted (with escapes), or up to a separator. An `&` that does not start
 * another `name=` parameter is part of the value (`DB_PASS=Tr0ub4dor&3`).
 */
const PAIR_VALUE = String.raw`"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\]]+(?:&(?![A-Za-z0-9_.-]+=)[^\s,;&"'}\]]*)*`;

const QUERY_KEYS = anyCase(
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'api_key',
  'apikey',
  'key',
  'sig',
  'signature',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'code',
  'auth',
  'password',
  'secret',
  'client_secret',
);

/** The label of a private key's PEM armour (`RSA PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`); the CLI stream finds block ends with it too. */
export const PEM_LABEL = String.raw`(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?`;

/** One detector: a pattern, an optional cheap pre-check, and what a match becomes. */
export interface Rule {
  name: string;
  /** A sticky-free global pattern; exec'd from index 0 on each text. */
  pattern: RegExp;
  /**
   * A cheap test on the text; when false the pattern cannot match, so it is not run.
   * Most log lines carry no '@', no "Bearer", no "::".
   */
  maybe?: (text: string) => boolean;
  /** undefined: a keep rule (the match is protected as is). */
  family?: Family;
  /**
   * The match is a head kept as it is (`password=`, `Bearer `), then the value to mask up to
   * the match's end; the pattern names them `(?<head>…)(?<value>…)`. Default: the whole match
   * is the value.
   */
  split?: boolean;
  /** A check that turns a pattern match into a finding; false means "not PII" (a bad checksum, a private address). */
  accept?: (match: string, text: string, index: number) => boolean;
  /**
   * A scanner that finds what `pattern` matches, run instead of it (after `maybe`): four
   * numbers a match, in order (start, mask start, mask end, end; a quoted value masked inside its quotes).
   */
  scan?: (text: string) => Found;
  /**
   * The shortest text `scan` reads; a shorter one is matched with `pattern` (and `accept`),
   * which finds the same. On a log line of a few hundred characters V8's native regex code
   * beats the scanner's JavaScript; on a long, dense line (tens of thousands of matches) the
   * scanner, which does not try the pattern at every position nor build a match array each,
   * wins. Default 0: always the scanner.
   */
  scanFrom?: number;
  /** The spans of the value to mask, relative to it, when only parts of it are secret (a cookie's values, not its attributes). */
  parts?: (value: string, head: string) => [start: number, end: number][];
}

/** The command-line passwords as a scan's matches. */
function cliScan(text: string): Found {
  const found = beginScan();
  eachCliPassword(text, (start, valueStart, end) => {
    if (end > valueStart) emit(start, valueStart, end, end);
  });
  return found;
}

/** Every rule has every field (undefined when unused), so the scrubber's loop over them sees one object shape. */
const R = (name: string, source: string, family: Family | undefined, maybe?: Rule['maybe'], split?: boolean, flags = 'g'): Rule => ({
  name,
  // The head and value groups are named for the reader; the scrubber reads the head as group 1
  // (the pattern's only capture), which spares a groups object per match.
  pattern: new RegExp(split ? source.replace('(?<head>', '(').replace('(?<value>', '(?:') : source, flags),
  maybe,
  family,
  split,
  accept: undefined,
  scan: undefined,
  scanFrom: undefined,
  parts: undefined,
});

/** Where the scanners of the dense-match rules take over from their patterns (see Rule.scanFrom). */
const SCAN_FROM = 1024;

/** A pre-check from one regular expression (a single scan beats many `includes`). */
const hint = (re: RegExp) => (t: string) => re.test(t);

/** `name/1.2.3.4` (a user agent or package) and `pkg@1.2.3.4` are versions, not addresses. */
function looksLikeVersion(text: string, offset: number): boolean {
  const before = offset > 0 ? text.charCodeAt(offset - 1) : 0;
  if (before === 64 /* @ */) return true;
  if (before !== 47 /* / */ || offset < 2) return false;
  const c = text.charCodeAt(offset - 2);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** The ipv4 rule's check on text[start, end), read in place. */
const publicIPv4At = (text: string, start: number, end: number): boolean =>
  isPublicIPv4At(text, start, end) && !looksLikeVersion(text, start);

/** Colons of an uncompressed IPv6 address; timestamps have two or three. */
function sevenColons(t: string): boolean {
  let n = 0;
  for (let i = t.indexOf(':'); i !== -1; i = t.indexOf(':', i + 1)) if (++n >= 7) return true;
  return false;
}

/**
 * What one pass over the text's digits tells the number rules (IBAN, card, phone), whose
 * patterns start with a lookbehind and so are tried at every position of every text: the
 * longest run of digits, the most digits in a run of digits split by single spaces or dashes
 * counted from a place where a card may start (a card's 13: 2-6 after none of [0-9A-Za-z_.-]),
 * and whether two capitals are followed by two digits (an IBAN's start). Kept
 * for the last text: the three rules ask about the same one.
 */
interface DigitHints {
  longestRun: number;
  cardDigits: number;
  ibanStart: boolean;
  /**
   * Whether some place can start a phone number, one branch each: `+` or `(` before a digit,
   * `00` before a digit, three digits before `-` or `.`, a `0` and two to four digits before
   * a space.
   */
  phoneStart: boolean;
}
/** What the card pattern's lookbehind rules out before a card: [0-9A-Za-z_.-]. */
function cardBefore(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 45;
}
let hintsText: string | undefined;
let hints: DigitHints = { longestRun: 0, cardDigits: 0, ibanStart: false, phoneStart: false };
function digitHints(t: string): DigitHints {
  if (t === hintsText) return hints;
  let longestRun = 0;
  let cardDigits = 0;
  let ibanStart = false;
  let phoneStart = false;
  let run = 0;
  /** Digits of the card run since the first place in it where the card pattern may start (-1: none yet). */
  let fromStart = -1;
  /** The first digit of the current run. */
  let lead = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (run === 0) {
        lead = c;
        const b = i > 0 ? t.charCodeAt(i - 1) : 0;
        if (b === 43 /* + */ || b === 40 /* ( */) phoneStart = true;
      } else if (run === 2 && lead === 48 && t.charCodeAt(i - 1) === 48) phoneStart = true;
      if (++run > longestRun) longestRun = run;
      // A card starts with 2-6 after none of [0-9A-Za-z_.-] (a space or a dash of the run counts).
      if (fromStart >= 0) fromStart++;
      else if (c >= 50 && c <= 54 && (i === 0 || !cardBefore(t.charCodeAt(i - 1)))) fromStart = 1;
      if (fromStart > cardDigits) cardDigits = fromStart;
      if (run === 2 && !ibanStart && i >= 3) {
        const a = t.charCodeAt(i - 3);
        const b = t.charCodeAt(i - 2);
        ibanStart = a >= 65 && a <= 90 && b >= 65 && b <= 90;
      }
      continue;
    }
    if ((run === 3 && (c === 45 || c === 46)) || (lead === 48 && run >= 3 && run <= 5 && c === 32)) phoneStart = true;
    // A single space or dash between digits keeps a card's run going.
    if (!((c === 32 || c === 45) && run > 0)) {
      fromStart = -1;
    }
    run = 0;
    lead = 0;
  }
  hintsText = t;
  hints = { longestRun, cardDigits, ibanStart, phoneStart };
  return hints;
}

/** An uncompressed IPv6 address has seven colons between hex groups. */
const IPV6_FULL =
  /[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}/;

/** Detectors of values to mask, most specific first (the order breaks ties at one position). */
export const MASK_RULES: readonly Rule[] = [
  // A private key block, or what is left of one when a line cuts it.
  R('pem', String.raw`-----BEGIN ${PEM_LABEL}-----(?:[\s\S]*?-----END ${PEM_LABEL}-----|[\s\S]*$)`, 'PRIVATE_KEY', (t) =>
    t.includes('PRIVATE KEY'),
  ),
  R('jwt', String.raw`(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`, 'TOKEN', (t) => t.includes('eyJ')),
  // Credentials inside a URL: scheme://user:password@host keeps scheme and user.
  R(
    'urlcred',
    String.raw`(?<![A-Za-z0-9+.-])(?<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>]*:)(?<value>[^\s@/?#"'<>]+)(?=@)`,
    'SECRET',
    (t) => t.includes('://') && t.includes('@'),
    true,
  ),
  R('slackhook', String.raw`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]+`, 'TOKEN', (t) =>
    t.includes('hooks.slack.com'),
  ),
  R(
    'vendor',
    String.raw`(?<![A-Za-z0-9])(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{30,}|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})`,
    'TOKEN',
    hint(/AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|xapp-|_live_|_test_|whsec_|AIza|sk-/),
  ),
  // Authorization headers: the scheme stays, the credential goes.
  R(
    'auth',
    String.raw`(?<head>(?:${anyCase('proxy-authorization', 'authorization')})["']?\s*[:=]\s*["']?(?:(?:Bearer|Basic|Token|Digest|Negotiate|ApiKey|AWS4-HMAC-SHA256|bearer|basic|token)\s+)?)(?<value>[^\s"',;}\]]+)`,
    'TOKEN',
    hint(/authorization/i),
    true,
  ),
  R('bearer', String.raw`(?<head>\b[Bb]earer\s+)(?<value>[A-Za-z0-9._~+/-]{8,}=*)(?![A-Za-z0-9._~+/=-])`, 'TOKEN', hint(/bearer/i), true),
  {
    ...R('cookie', String.raw`(?<head>(?:[Ss]et-)?[Cc]ookie["']?\s*[:=]\s*["']?)(?<value>[^"'\r\n]+)`, 'COOKIE', hint(/cookie/i), true),
    parts: cookieValues,
  },
  // Tokens in query strings (?access_token=…&sig=…).
  R(
    'query',
    String.raw`(?<=[?&;])(?<head>(?:${QUERY_KEYS})=)(?<value>[^&\s#"'<>]+)`,
    'TOKEN',
    (t) => t.includes('=') && (t.includes('?') || t.includes('&') || t.includes(';')),
    true,
  ),
  // key=value / "key": "value" pairs whose key ends with a secret word (also JSON). The
  // match starts at the word (what precedes it in the key stays as it is): a lazy key
  // prefix before the word measured 4x slower.
  R('pair', String.raw`(?<head>(?:${SECRET_WORDS.join('|')})["']?\s*[:=]\s*)(?<value>${PAIR_VALUE})`, 'SECRET', undefined, true, 'gi'),
  // The same for short words, only where they are a key: a word of a longer key
  // (`DB_PASS:`, `X-DB-Pass:`, `dbPass=`), alone before `=` (`pass=`, `pw=`, `pw:`), or a quoted key
  // (`"pass":`); never in prose ("tests pass: 412") or inside a word (`bypass=`).
  // Read by a scanner (src/scrub/scan.ts): the pattern tried its lookbehinds at every word and
  // matched every few bytes of a dense `pw=x pw=x …` line.
  {
    ...R(
      'shortpair',
      String.raw`(?<head>(?:${SHORT_KEYS})(?:(?<=[_-](?:${SHORT_KEYS})|[a-z](?:PASS|Pass|PW|Pw))["']?\s*[:=]|(?<=(?<![A-Za-z0-9_-])(?:PASS|Pass|pass))\s*=|(?<=(?<![A-Za-z0-9_-])(?:PW|Pw|pw))\s*[:=]|(?<=["'](?:${SHORT_KEYS}))["']\s*:)\s*)(?<value>${PAIR_VALUE})`,
      'SECRET',
      hint(/[Pp](?:[Ww]|[Aa][Ss][Ss])/),
      true,
    ),
    scan: shortPairs,
    scanFrom: SCAN_FROM,
  },
  // DER key material in base64 (`MIIE…`, the body of a PEM block) under any name or none.
  R('der', String.raw`(?<![A-Za-z0-9+/])MII[A-Za-z0-9+/]{40,}={0,2}`, 'PRIVATE_KEY', (t) => t.includes('MII')),
  // A password on a command line: `mysql -pSECRET`, `sshpass -p SECRET`, `redis-cli -a SECRET`.
  // Read by a scanner (src/scrub/cli.ts): the pattern re-read up to twelve arguments after every command word.
  { ...R('cli', CLI_PATTERN, 'SECRET', mayHoldCliPassword, true), scan: cliScan },
  // In prose: "my password is BlueHorse42", "the PIN was 4711".
  R(
    'prose',
    String.raw`(?<head>(?<![A-Za-z])(?:${anyCase('password', 'passwd', 'passphrase', 'passcode', 'pin')})\s+(?:${anyCase('is', 'was')})\s+["']?)(?<value>[^\s"',;]+)`,
    'SECRET',
    hint(/pass|pin/i),
    true,
  ),
  R(
    'email',
    String.raw`(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])`,
    'EMAIL',
    (t) => t.includes('@'),
  ),
  {
    ...R(
      'iban',
      String.raw`(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])`,
      'IBAN',
      (t) => digitHints(t).ibanStart,
    ),
    accept: ibanValid,
  },
  {
    ...R('card', String.raw`(?<![0-9A-Za-z_.-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![0-9A-Za-z_])`, 'CARD', (t) => digitHints(t).cardDigits >= 13),
    accept: cardValid,
  },
  R('ssn', String.raw`(?<![0-9A-Za-z.-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![0-9A-Za-z-])`, 'SSN', (t) => t.includes('-')),
  {
    ...R(
      'phone',
      String.raw`(?<![0-9A-Za-z.+-])(?:(?:\+|00)\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}[-.]\d{3}[-.]\d{4}|0\d{2,4}(?: \d{2,6}){1,3})(?![0-9A-Za-z])`,
      'PHONE',
      // Each branch starts where digitHints finds a phone start.
      (t) => digitHints(t).phoneStart,
    ),
    accept: phoneValid,
  },
  {
    ...R(
      'ipv6',
      String.raw`(?<![0-9A-Za-z:.])(?=[0-9a-fA-F]{0,4}::?[0-9a-fA-F]{0,4}:)[0-9a-fA-F:]{3,39}(?![0-9A-Za-z:])`,
      'IP',
      (t) => t.includes('::') || (sevenColons(t) && IPV6_FULL.test(t)),
    ),
    accept: isPublicIPv6,
    // Read by a scanner: the pattern's lookbehind start was tried at every position of a dense line.
    scan: ipv6s,
    scanFrom: SCAN_FROM,
  },
  {
    ...R('ipv4', String.raw`(?<![0-9A-Za-z.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z]|\.\d)`, 'IP', (t) => t.includes('.')),
    accept: (ip, text, index) => isPublicIPv4(ip) && !looksLikeVersion(text, index),
    // Read by a scanner, each address checked in place (the pattern's lookbehind start was tried at every position).
    scan: (t) => ipv4s(t, publicIPv4At),
    scanFrom: SCAN_FROM,
  },
];

/**
 * Identifiers correlation needs. Run only on text where a mask rule found something; a
 * masked value that overlaps a kept identifier loses to it when the identifier starts first.
 */
export const KEEP_RULES: readonly Rule[] = [
  // A value under an id/version key (trace_id=…, "fingerprint":"…", version=10.2.0.1).
  R('keepkv', String.raw`(?:${HEX_ID_KEYS})["']?\s*[:=]\s*["']?[A-Za-z0-9._:@/+-]+`, undefined),
  // UUIDs, traceparent, image digests and hex ids (trace/span ids, fingerprints, git SHAs):
  // read by a scanner (src/scrub/scan.ts); the pattern was tried at every word start.
  { ...R('keephex', HEX_ID_PATTERN, undefined, hasHexRun), scan: hexIds, scanFrom: SCAN_FROM },
];

/** Object keys (snake, kebab or camel case) whose whole value is a secret: scrubValue masks it whatever its shape. */
export const SECRET_KEY = new RegExp(`(?:^|[^A-Za-z]|(?<=[a-z])(?=[A-Z]))(?:${SECRET_KEY_WORDS}|${anyCase('authorization', 'cookie')})$`);

/**
 * The values of a cookie header, relative to it: every `name=value` of a `Cookie` header;
 * in a `Set-Cookie` header the cookie's own value only: its attributes (`Path=/`,
 * `HttpOnly`, `Max-Age=3600`, `SameSite=Lax`) hold no secret and stay readable.
 */
function cookieValues(value: string, head: string): [number, number][] {
  const out: [number, number][] = [];
  const setCookie = /^set-/i.test(head);
  let pos = 0;
  for (const piece of value.split(';')) {
    const eq = piece.indexOf('=');
    if (eq >= 0) {
      let start = pos + eq + 1;
      let end = pos + piece.length;
      while (start < end && value[start] === ' ') start++;
      while (end > start && value[end - 1] === ' ') end--;
      if (end > start) out.push([start, end]);
    }
    if (setCookie) break;
    pos += piece.length + 1;
  }
  return out;
}
