import fc from 'fast-check';
import { DrainMiner, MAX_LOG_LINE_CHARS, maskLine, maskNumbers, tokenize } from '../src/analyze/drain';
import { exprFromGeneratorUrl, valueExpression } from '../src/gather/promql';
import { alertKey, describeIssues, isRealTimestamp, webhookPayloadSchema } from '../src/model/alert';
import { stripFence } from '../src/narrate/guard';
import { createScrubber } from '../src/scrub';

/**
 * Property-based tests (issue 11) over every parser of outside input: the webhook schema,
 * the PromQL splitting of the alert's expression, the log miner, the scrubber and the
 * model-answer unfencing. Each gets arbitrary input (it must not throw) and the properties
 * that hold for it: idempotence, round trips, planted secrets never surviving.
 */

const RUNS = { numRuns: 400 };
/** Any UTF-16 text, lone surrogates included, as a hostile sender can produce. */
const anyText = (maxLength = 300) => fc.string({ unit: 'binary', maxLength });
/** Text made of the characters the parsers care about, so the interesting paths are hit often. */
const syntaxText = (chars: string, maxLength = 200) => fc.string({ unit: fc.constantFrom(...chars.split('')), maxLength });

describe('the webhook schema', () => {
  const iso = fc
    .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString());
  const labels = fc.dictionary(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/), fc.string({ maxLength: 30 }), { maxKeys: 5 });
  const alert = fc.record({
    status: fc.constantFrom('firing', 'resolved'),
    labels: labels.map((l) => ({ ...l, alertname: 'A' })),
    annotations: labels,
    startsAt: iso,
    endsAt: iso,
    generatorURL: fc.webUrl(),
    fingerprint: fc.stringMatching(/^[0-9a-f]{16}$/),
  });
  const payload = fc.record({
    version: fc.constant('4'),
    groupKey: fc.string({ minLength: 1, maxLength: 40 }),
    truncatedAlerts: fc.nat(5),
    status: fc.constantFrom('firing', 'resolved'),
    receiver: fc.string({ maxLength: 20 }),
    groupLabels: labels,
    commonLabels: labels,
    commonAnnotations: labels,
    externalURL: fc.webUrl(),
    alerts: fc.array(alert, { minLength: 1, maxLength: 4 }),
  });

  test('never throws on any JSON value, and a rejection lists its issues', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (body) => {
        const r = webhookPayloadSchema.safeParse(body);
        if (!r.success) expect(describeIssues(r.error).length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });

  test('accepts every well-formed payload, and parsing what it parsed gives the same payload', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const once = webhookPayloadSchema.parse(JSON.parse(JSON.stringify(p)));
        expect(webhookPayloadSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
        for (const a of once.alerts) expect(alertKey(a)).toBe(`${a.fingerprint}@${new Date(a.startsAt).toISOString()}`);
      }),
      RUNS,
    );
  });

  test('a timestamp is accepted exactly when it names a real instant', () => {
    fc.assert(
      fc.property(anyText(40), (ts) => {
        expect(() => isRealTimestamp(ts)).not.toThrow();
        if (isRealTimestamp(ts)) expect(Number.isNaN(Date.parse(ts))).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('PromQL splitting', () => {
  const metric = fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/);
  const matcherValue = syntaxText('abc>=<! "\\{}()[]', 12).map((v) => JSON.stringify(v));
  const selector = fc
    .tuple(
      metric,
      fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.constantFrom('=', '!=', '=~', '!~'), matcherValue), { maxLength: 3 }),
    )
    .map(([m, ms]) => (ms.length ? `${m}{${ms.map(([k, op, v]) => `${k}${op}${v}`).join(',')}}` : m));
  /** An expression with no top-level comparison or set operator: what the splitter must return whole. */
  const valueExpr = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small' },
      selector,
      selector.map((s) => `rate(${s}[5m])`),
      fc.tuple(fc.constantFrom('sum', 'max', 'avg'), tie('e')).map(([f, e]) => `${f}(${e})`),
      fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/'), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
      fc.tuple(tie('e'), fc.constantFrom('>', '<', '==', 'and', 'or')).map(([e, op]) => `(${e} ${op} 1)`),
    ),
  })).e;

  test('never throws, and returns a prefix of the expression', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), syntaxText('a(){}[]"\'`\\ <>=!andorunless01.')), (expr) => {
        const v = valueExpression(expr);
        expect(expr.trim().startsWith(v)).toBe(true);
      }),
      RUNS,
    );
  });

  test('cuts a rule at its threshold and keeps everything before it', () => {
    fc.assert(
      fc.property(
        valueExpr,
        fc.constantFrom('>', '<', '>=', '<=', '==', '!=', '> bool'),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (e, op, n) => {
          expect(valueExpression(e)).toBe(e);
          expect(valueExpression(`${e} ${op} ${n}`)).toBe(e);
          expect(valueExpression(`${e} ${op} ${n} and on() vector(1)`)).toBe(e);
        },
      ),
      RUNS,
    );
  });

  /**
   * The straightforward reading the index scanner replaced (two passes, one per split, with a
   * per-character operator test): the oracle for where valueExpression cuts.
   */
  function referenceValueExpression(expr: string): string {
    const split = (s: string, opAt: (s: string, i: number) => number, first: boolean): string => {
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
        else if ('({['.includes(ch)) depth++;
        else if (')}]'.includes(ch)) depth--;
        else if (depth === 0) {
          const len = opAt(s, i);
          if (len > 0) {
            cut = i;
            if (first) break;
            i += len - 1;
          }
        }
      }
      return cut >= 0 ? s.slice(0, cut) : s;
    };
    const left = split(
      expr,
      (s, i) => {
        for (const op of ['and', 'or', 'unless']) {
          if (s.startsWith(op, i) && /\s/.test(s[i - 1] ?? '') && /[\s(]/.test(s[i + op.length] ?? '')) return op.length;
        }
        return 0;
      },
      true,
    );
    const value = split(
      left,
      (s, i) => {
        for (const op of ['==', '!=', '>=', '<=', '>', '<']) {
          if (!s.startsWith(op, i)) continue;
          if (op.length === 1 && s[i + 1] === '=') return 0;
          if ((op === '>' || op === '<') && (s[i - 1] === '=' || s[i - 1] === '!')) return 0;
          return op.length;
        }
        return 0;
      },
      false,
    );
    return value.trim() || expr.trim();
  }

  test('cuts where the straightforward two-pass reading cuts, on any text', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), syntaxText('a(){}[]"\'`\\ \u00a0\t<>=!~andorunless01.')), (expr) => {
        expect(valueExpression(expr)).toBe(referenceValueExpression(expr));
      }),
      { numRuns: 3000 },
    );
  });

  test('reads g0.expr as URLSearchParams does, malformed escapes and bytes that are not UTF-8 included', () => {
    const piece = fc.oneof(
      syntaxText('az09%+&=.#? "\u00e9'),
      fc.constantFrom(
        '%',
        '%2',
        '%E9',
        '%C3%A9',
        '%ED%A0%80',
        '%F0%9F',
        '%F0%9F%98%80',
        '%FF',
        '+',
        '%2B',
        '&',
        '=',
        'g0.expr=',
        'g0%2Eexpr=',
        'g0.expr',
      ),
    );
    const query = fc.array(piece, { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(query, query, (before, expr) => {
        const url = `http://prom:9090/graph?${before}&g0.expr=${expr}`;
        const read = new URL(url).searchParams.get('g0.expr');
        expect(exprFromGeneratorUrl(url)).toBe(read && read.trim() ? read.trim() : undefined);
      }),
      { numRuns: 3000 },
    );
  });

  test('reads back the expression a generatorURL carries, and nothing from a URL that does not parse', () => {
    fc.assert(
      fc.property(valueExpr, fc.webUrl(), (e, base) => {
        const url = new URL('/graph', base);
        url.searchParams.set('g0.expr', e);
        url.searchParams.set('g0.tab', '1');
        expect(exprFromGeneratorUrl(url.toString())).toBe(e.trim());
      }),
      RUNS,
    );
    fc.assert(
      fc.property(anyText(), (s) => {
        expect(() => exprFromGeneratorUrl(s)).not.toThrow();
      }),
      RUNS,
    );
  });
});

describe('the log miner', () => {
  const logText = fc.oneof(anyText(), syntaxText('a1f-_.:@/ 0x=<>"', 300));

  test('the number scan masks what the number regex it replaced masks', () => {
    fc.assert(
      fc.property(fc.oneof(logText, syntaxText('1.a_-9 ', 100)), (line) => {
        expect(maskNumbers(line)).toBe(line.replace(/(?<![A-Za-z0-9_])\d+(?:\.\d+)?/g, '<NUM>'));
      }),
      { numRuns: 3000 },
    );
  });

  test('masking never throws and is idempotent', () => {
    fc.assert(
      fc.property(logText, (line) => {
        const once = maskLine(line);
        expect(maskLine(once)).toBe(once);
      }),
      RUNS,
    );
  });

  test('every line lands in one template of its own token count, and the counts add up', () => {
    fc.assert(
      fc.property(fc.array(logText, { maxLength: 30 }), (lines) => {
        const m = new DrainMiner();
        for (const line of lines) {
          const c = m.add(line);
          if (c.tokens[0] !== '<other>') expect(c.tokens.length).toBe(tokenize(maskLine(line.slice(0, MAX_LOG_LINE_CHARS))).length);
        }
        expect(m.clusters().reduce((n, c) => n + c.count, 0)).toBe(lines.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the scrubber', () => {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  const alnum = (n: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${n}}$`));
  /** Secrets of each class, as they would be planted in a line; each must disappear. */
  const secret = fc.oneof(
    fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9._]{0,10}[a-z0-9]$/), fc.constantFrom('example.com', 'corp.example.org'))
      .map(([u, d]) => `${u}@${d}`),
    alnum(36).map((b) => `npm_${b}`),
    alnum(36).map((b) => `ghp_${b}`),
    alnum(20).map((b) => `glpat-${b}`),
    fc.stringMatching(/^[A-Z0-9]{16}$/).map((b) => `AKIA${b}`),
    fc.constantFrom('4111111111111111', '5555555555554444', '378282246310005'),
    fc.constantFrom('+44 20 7946 0958', '0044 20 7946 0958', '+1 415 555 2671'),
    fc.constantFrom('203.0.113.9', '2001:db8::1'),
  );
  const pairSecret = fc.stringMatching(/^[A-Za-z0-9!@#$%^*~]{6,20}$/);
  const around = syntaxText('abc xyz,;:()[]-_/', 30);
  const sep = fc.constantFrom(' ', '\t', ' (', ' "', ' [', ' <', ', ');

  test('never throws, and scrubbing scrubbed text changes nothing (in the same session or a new one)', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), syntaxText('a1@.%:=;"\'\\u0x&#-_/ ', 300)), (text) => {
        const s = createScrubber();
        const once = s.scrub(text);
        expect(s.scrub(once)).toBe(once);
        expect(createScrubber().scrub(once)).toBe(once);
      }),
      RUNS,
    );
  });

  test('a planted secret never survives, plain or percent-encoded', () => {
    fc.assert(
      fc.property(around, sep, secret, sep, around, (before, s1, planted, s2, after) => {
        const s = createScrubber();
        expect(s.scrub(`${before}${s1}${planted}${s2.trimStart() || ' '}${after}`)).not.toContain(planted);
        const encoded = encodeURIComponent(planted);
        expect(s.scrub(`GET /find?q=${encoded}&page=1`)).not.toContain(encoded);
      }),
      RUNS,
    );
  });

  test('a keyword=value secret never survives, whatever the key spelling', () => {
    const key = fc.constantFrom(
      'password',
      'DB_PASS',
      'pw',
      'passwd',
      'api_key',
      'apiKey',
      'client_secret',
      'X-Auth-Token',
      'dbPassword',
      'PGPASSWORD',
    );
    fc.assert(
      fc.property(around, key, fc.constantFrom('=', ': ', '="', "='"), pairSecret, (before, k, eq, v) => {
        const close = eq.endsWith('"') ? '"' : eq.endsWith("'") ? "'" : '';
        expect(createScrubber().scrub(`${before} ${k}${eq}${v}${close} next=1`)).not.toContain(v);
      }),
      RUNS,
    );
  });

  test('text with nothing to mask comes back unchanged, and ids around a secret stay', () => {
    fc.assert(
      fc.property(syntaxText('abcde ,.;:()-', 200), hex(32), hex(16), secret, (plain, traceId, spanId, planted) => {
        const s = createScrubber();
        expect(s.scrub(plain)).toBe(plain);
        const out = s.scrub(`trace_id=${traceId} user ${planted} span_id=${spanId}`);
        expect(out).toContain(`trace_id=${traceId}`);
        expect(out).toContain(`span_id=${spanId}`);
      }),
      RUNS,
    );
  });

  test('scrubValue never throws on any JSON value and returns JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const out = createScrubber().scrubValue(v);
        expect(() => JSON.stringify(out)).not.toThrow();
      }),
      RUNS,
    );
  });
});

describe('the model-answer unfencing', () => {
  const answer = fc.record({
    summary: fc.string({ maxLength: 80 }),
    rootCause: fc.string({ maxLength: 80 }),
    confidence: fc.constantFrom('low', 'medium', 'high'),
    evidence: fc.array(fc.stringMatching(/^[MLT][0-9]{1,2}$/), { maxLength: 3 }),
  });

  test('never throws, and never returns more than it was given', () => {
    fc.assert(
      fc.property(fc.oneof(anyText(), syntaxText('`json {}" \n', 300)), (text) => {
        expect(stripFence(text).length).toBeLessThanOrEqual(text.length);
      }),
      RUNS,
    );
  });

  test('a JSON answer comes back whole, bare or in a fence (closed or cut off), with any spacing', () => {
    const ws = syntaxText(' \n\t', 6);
    fc.assert(
      fc.property(answer, ws, ws, fc.constantFrom('```json', '```JSON', '```', ''), fc.boolean(), (a, w1, w2, open, closed) => {
        const json = JSON.stringify(a, null, 1);
        const text = open ? `${w1}${open}${w2}${json}${w2}${closed ? '```' : ''}${w1}` : `${w1}${json}${w2}`;
        expect(JSON.parse(stripFence(text))).toEqual(a);
        expect(stripFence(stripFence(text))).toBe(stripFence(text));
      }),
      RUNS,
    );
  });
});
