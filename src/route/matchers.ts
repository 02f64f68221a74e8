/**
 * Alertmanager's label matchers (`team="payments"`, `severity=~"critical|page"`,
 * `env!="staging"`), parsed and evaluated the way Alertmanager 0.25 does it
 * (https://prometheus.io/docs/alerting/latest/configuration/#matcher), so a routes file can
 * reuse the matchers of the Alertmanager route tree unchanged:
 *
 * - the label name is `[a-zA-Z_:][a-zA-Z0-9_:]*`, the operator one of `=`, `!=`, `=~`, `!~`;
 * - the value may be double-quoted; inside it `\"`, `\\` and `\n` are escapes, any other
 *   backslash is literal, and an unescaped `"` is an error;
 * - a regex is anchored at both ends (`^(?:re)$`), as in Prometheus;
 * - a label the alert does not have has the value "", so `env!="staging"` matches an alert
 *   without `env`, and `env=""` matches only such alerts;
 * - a list may be written `{a="1", b=~"2|3"}` or `a="1",b=~"2|3"`.
 *
 * Go's RE2 and JavaScript's regexes agree on the syntax alert routes use (alternation,
 * classes, quantifiers); constructs RE2 rejects (look-arounds, back-references) are rejected
 * here too, so a file that loads here also loads in Alertmanager.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** The compiled, anchored regex for `=~` and `!~`. */
  regex?: RegExp;
}

export class MatcherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatcherError';
  }
}

const MATCHER_RE = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*([\s\S]*?)\s*$/;
/** RE2 has no look-around and no back-references; JavaScript does. */
const NOT_RE2 = /\(\?<?[=!]|\\[1-9]|\\k</;
/** RE2's POSIX classes, valid inside brackets, with their JavaScript equivalents. */
const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-/:-@[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/**
 * Compiles an RE2 (Go) regex as JavaScript, anchored as Prometheus anchors it. Go's `.` does
 * not match a newline unless `(?s)`, like JavaScript without the `s` flag. Leading flag
 * groups (`(?i)`, `(?s)`, `(?is)`) become flags, POSIX classes are expanded, `\A`/`\z`
 * become `^`/`$`; what JavaScript would read differently is rejected rather than guessed.
 */
export function compileRe2(source: string, text = source): RegExp {
  if (NOT_RE2.test(source)) throw new MatcherError(`regex not supported by Alertmanager (RE2): ${text}`);
  let body = source;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    if (lead[1]!.includes('U')) throw new MatcherError(`the (?U) flag is not supported here: ${text}`);
    flags = [...new Set(lead[1]!.replace('m', '').split(''))].join('');
    if (lead[1]!.includes('m')) flags += 'm';
    body = body.slice(lead[0].length);
  }
  if (/\(\?[imsU-]+[:)]/.test(body)) throw new MatcherError(`inline flags are supported only at the start of the regex: ${text}`);
  if (/\\[QEpPCbB]/.test(body.replace(/\\\\/g, ''))) throw new MatcherError(`regex escape not supported here: ${text}`);
  body = body.replace(/\[:(\^?)([a-z]+):\]/g, (m, neg: string, name: string) => {
    const cls = POSIX[name];
    if (!cls) throw new MatcherError(`unknown POSIX class [:${name}:] in ${text}`);
    if (neg) throw new MatcherError(`negated POSIX classes are not supported here: ${text}`);
    return cls;
  });
  body = body.replace(/\\A/g, '^').replace(/\\z/g, '$');
  try {
    return new RegExp(`^(?:${body})$`, flags);
  } catch (e) {
    throw new MatcherError(`invalid regex in ${text}: ${(e as Error).message}`);
  }
}

export function parseMatcher(text: string): Matcher {
  const m = MATCHER_RE.exec(text);
  if (!m) throw new MatcherError(`bad matcher format: ${text}`);
  const [, name, op, raw] = m as unknown as [string, string, MatchOp, string];
  const value = unquote(raw, text);
  const matcher: Matcher = { name, op, value };
  if (op === '=~' || op === '!~') matcher.regex = compileRe2(value, text);
  return matcher;
}

/** Alertmanager's unescaping of a matcher value, quoted or not. */
function unquote(raw: string, text: string): string {
  let rest = raw;
  let expectTrailingQuote = false;
  if (rest.startsWith('"')) {
    rest = rest.slice(1);
    expectTrailingQuote = true;
  }
  let out = '';
  let escaped = false;
  const chars = [...rest];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (escaped) {
      escaped = false;
      if (c === 'n') out += '\n';
      else if (c === '"' || c === '\\') out += c;
      else out += '\\' + c;
      continue;
    }
    if (c === '\\') {
      if (i < chars.length - 1) escaped = true;
      else out += '\\';
    } else if (c === '"') {
      if (!expectTrailingQuote || i < chars.length - 1) throw new MatcherError(`matcher value contains unescaped double quote: ${text}`);
      expectTrailingQuote = false;
    } else out += c;
  }
  if (expectTrailingQuote) throw new MatcherError(`matcher value contains unescaped double quote: ${text}`);
  return out;
}

/**
 * A list of matchers: `{a="1", b="2"}` or `a="1", b="2"`. Commas inside quoted values do not
 * split (Alertmanager's ParseMatchers).
 */
export function parseMatchers(text: string): Matcher[] {
  let s = text.trim();
  if (s.startsWith('{')) {
    if (!s.endsWith('}')) throw new MatcherError(`missing closing brace: ${text}`);
    s = s.slice(1, -1);
  }
  const parts: string[] = [];
  let current = '';
  let inQuotes = false;
  let escaped = false;
  for (const c of s) {
    if (escaped) {
      escaped = false;
      current += c;
      continue;
    }
    if (c === '\\') escaped = true;
    else if (c === '"') inQuotes = !inQuotes;
    else if (c === ',' && !inQuotes) {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts.filter((p) => p.trim() !== '').map(parseMatcher);
}

export function matches(m: Matcher, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return m.regex!.test(v);
    case '!~':
      return !m.regex!.test(v);
  }
}

export function matchesAll(ms: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return ms.every((m) => matches(m, labels));
}

/** The matcher as Alertmanager prints it: the value always quoted and escaped. */
export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}"${m.value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
