/**
 * The alert's own expression, from its generatorURL (`…/graph?g0.expr=<expr>&g0.tab=1`),
 * reduced to the value it compares: `rate(x[5m]) > 0.05` only returns samples while the
 * alert fires, so the baseline would be empty; `rate(x[5m])` has one.
 */

export function exprFromGeneratorUrl(generatorURL: string): string | undefined {
  if (!generatorURL) return undefined;
  try {
    const expr = new URL(generatorURL).searchParams.get('g0.expr');
    return expr && expr.trim() ? expr.trim() : undefined;
  } catch {
    return undefined;
  }
}

const COMPARISONS = ['==', '!=', '>=', '<=', '>', '<'];
const SET_OPS = ['and', 'or', 'unless'];
const COMPARISON_START = new Set(COMPARISONS.map((op) => op[0]!));
const SET_OP_START = new Set(SET_OPS.map((op) => op[0]!));

/**
 * Splits at the top level (outside (), {}, [] and strings) at the first set operator, then
 * at the last comparison, and keeps the left side: the value the rule thresholds.
 * `x > bool 1` loses `bool 1` the same way. Returns the expression unchanged when it has
 * no top-level comparison.
 */
export function valueExpression(expr: string): string {
  const left = splitTopLevel(
    expr,
    (s, i) => {
      // A cheap first-character test: this runs at every top-level position (bench:adversarial).
      if (!SET_OP_START.has(s[i]!)) return 0;
      for (const op of SET_OPS) {
        if (s.startsWith(op, i) && /\s/.test(s[i - 1] ?? '') && /[\s(]/.test(s[i + op.length] ?? '')) return op.length;
      }
      return 0;
    },
    'first',
  );
  const value = splitTopLevel(
    left,
    (s, i) => {
      if (!COMPARISON_START.has(s[i]!)) return 0;
      for (const op of COMPARISONS) {
        if (!s.startsWith(op, i)) continue;
        // `=~` and `!~` are label matchers, never at top level; `!=`/`==` must not be read as `=`.
        if (op.length === 1 && s[i + 1] === '=') return 0;
        if (op === '>' || op === '<' ? s[i - 1] === '=' || s[i - 1] === '!' : false) return 0;
        return op.length;
      }
      return 0;
    },
    'last',
  );
  return value.trim() || expr.trim();
}

function splitTopLevel(s: string, opAt: (s: string, i: number) => number, which: 'first' | 'last'): string {
  let depth = 0;
  let quote: string | null = null;
  let cut = -1;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if (ch === ')' || ch === '}' || ch === ']') depth--;
    else if (depth === 0) {
      const len = opAt(s, i);
      if (len > 0) {
        cut = i;
        if (which === 'first') break;
        i += len - 1;
      }
    }
  }
  return cut >= 0 ? s.slice(0, cut) : s;
}
