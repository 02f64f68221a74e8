/**
 * The alert's own expression, from its generatorURL (`…/graph?g0.expr=<expr>&g0.tab=1`),
 * reduced to the value it compares: `rate(x[5m]) > 0.05` only returns samples while the
 * alert fires, so the baseline would be empty; `rate(x[5m])` has one.
 */
import { unescape } from 'node:querystring';
import { isSpace } from '../text';

export function exprFromGeneratorUrl(generatorURL: string): string | undefined {
  if (!generatorURL) return undefined;
  let search: string;
  try {
    search = new URL(generatorURL).search;
  } catch {
    return undefined;
  }
  const expr = queryParam(search, 'g0.expr');
  return expr && expr.trim() ? expr.trim() : undefined;
}

/**
 * The first value of parameter `name` in a URL's query, decoded as URLSearchParams decodes
 * it (`+` is a space, percent-escapes are UTF-8 bytes, a malformed one stays as it is). It
 * decodes that one value only: URLSearchParams decodes every parameter of a 100 KB query
 * to read one (bench:adversarial).
 */
function queryParam(search: string, name: string): string | undefined {
  let start = search.startsWith('?') ? 1 : 0;
  while (start <= search.length) {
    let end = search.indexOf('&', start);
    if (end < 0) end = search.length;
    const eq = search.indexOf('=', start);
    const nameEnd = eq >= 0 && eq < end ? eq : end;
    if (end > start && formDecode(search.slice(start, nameEnd)) === name) {
      return nameEnd < end ? formDecode(search.slice(nameEnd + 1, end)) : '';
    }
    start = end + 1;
  }
  return undefined;
}

/** application/x-www-form-urlencoded decoding of one name or value. */
function formDecode(raw: string): string {
  const s = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  // decodeURIComponent, or byte by byte (as the URL standard does) where it would throw on a malformed escape.
  return s.includes('%') ? unescape(s) : s;
}

/** `and`, `or`, `unless` at `i` as a word: whitespace before it, whitespace or `(` after it. Returns its length or 0. */
function setOpAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  const len =
    c === 97 /* a */
      ? s.startsWith('and', i)
        ? 3
        : 0
      : c === 111 /* o */
        ? s.charCodeAt(i + 1) === 114
          ? 2
          : 0
        : c === 117 /* u */
          ? s.startsWith('unless', i)
            ? 6
            : 0
          : 0;
  if (len === 0) return 0;
  if (i === 0 || !isSpace(s.charCodeAt(i - 1)) || i + len >= s.length) return 0;
  const after = s.charCodeAt(i + len);
  return isSpace(after) || after === 40 /* ( */ ? len : 0;
}

/**
 * A comparison operator at `i` (`==`, `!=`, `>=`, `<=`, `>`, `<`): its length or 0. `=~` and
 * `!~` are label matchers, never at top level; the `>` of `=>` or `!>` is no operator.
 */
function comparisonAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  const next = s.charCodeAt(i + 1);
  if (c === 61 /* = */ || c === 33 /* ! */) return next === 61 ? 2 : 0;
  if (c !== 62 /* > */ && c !== 60 /* < */) return 0;
  if (next === 61) return 2;
  const prev = i > 0 ? s.charCodeAt(i - 1) : 0;
  return prev === 61 || prev === 33 ? 0 : 1;
}

/**
 * Splits at the top level (outside (), {}, [] and strings) at the first set operator, then
 * at the last comparison, and keeps the left side: the value the rule thresholds.
 * `x > bool 1` loses `bool 1` the same way. Returns the expression unchanged when it has
 * no top-level comparison. One pass over char codes: linear on any input (bench:adversarial).
 */
export function valueExpression(expr: string): string {
  let depth = 0;
  let quote = 0;
  let setOp = -1;
  let comparison = -1;
  for (let i = 0; i < expr.length; i++) {
    const c = expr.charCodeAt(i);
    if (quote) {
      if (c === 92 /* \ */) i++;
      else if (c === quote) quote = 0;
      continue;
    }
    if (c === 34 || c === 39 || c === 96) quote = c;
    else if (c === 40 || c === 123 || c === 91) depth++;
    else if (c === 41 || c === 125 || c === 93) depth--;
    else if (depth !== 0) continue;
    else if (c === 97 || c === 111 || c === 117) {
      if (setOpAt(expr, i) > 0) {
        setOp = i;
        break;
      }
    } else if (c === 33 || (c >= 60 && c <= 62)) {
      const len = comparisonAt(expr, i);
      if (len > 0) {
        comparison = i;
        i += len - 1;
      }
    }
  }
  const left = setOp >= 0 ? expr.slice(0, setOp) : expr;
  const value = comparison >= 0 ? left.slice(0, comparison) : left;
  return value.trim() || expr.trim();
}
