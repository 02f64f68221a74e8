/**
 * Vendor token formats (npm, GitHub, GitLab, Slack, AWS, Grafana, HashiCorp Vault, OpenAI,
 * Anthropic, SendGrid, Shopify, …) come from secretlint's recommended preset: its rules are
 * maintained as vendors change their formats, each with the vendor's documentation behind
 * it. Each rule runs as secretlint runs it (its `file()` handler over the text) with a
 * context that only collects the reported ranges.
 *
 * Left out: the rules that report a whole URL (basic auth, database connection strings) or a
 * whole key file (private keys, GCP service-account files): the scrubber's own rules mask
 * only the password of a URL and the body of a PEM block, keeping scheme, user and host.
 */

interface SecretlintContext {
  report(descriptor: { range: readonly [number, number] }): void;
  ignore(): void;
  createTranslator(): () => string;
}
interface SecretlintSource {
  content: string;
  filePath: string;
  ext: string;
  contentType: 'text';
}
interface SecretlintRule {
  meta: { id: string };
  create(context: SecretlintContext, options: Record<string, unknown>): { file?(source: SecretlintSource): unknown };
}

const LEFT_OUT = new Set(
  ['filter-comments', 'basicauth', 'database-connection-string', 'privatekey', 'gcp'].map((r) => `@secretlint/secretlint-rule-${r}`),
);

/** Options per rule: AWS access key ids are reported only when asked for. */
const OPTIONS: Record<string, Record<string, unknown>> = {
  '@secretlint/secretlint-rule-aws': { enableIDScanRule: true },
};

/** What the rules reported during the current call: [rule id, start, end]. */
let found: [string, number, number][] = [];
let current = '';
/** Where the content a handler reads starts in the text (a window of it, see `windowed`). */
let offset = 0;
const context: SecretlintContext = {
  report: (d) => void found.push([current, d.range[0] + offset, d.range[1] + offset]),
  ignore: () => undefined,
  createTranslator: () => () => '',
};

type Handler = {
  id: string;
  prefix: RegExp | undefined;
  file: (source: SecretlintSource) => unknown;
  /** The rule's patterns when every one has the plain token shape (see `plainShape`), else undefined. */
  shapes: PlainShape[] | undefined;
};

/**
 * A pattern of the preset's most common shape, `(?<!\p{L})PREFIX[CLASS]{m,n}(?![CLASS])`: a
 * literal prefix (or a group of literal alternatives), then a run of one character class
 * whose length must lie in [min, max], ended by anything outside the class. It matches only
 * where a prefix is followed by a whole run of that length, which one pass over the text
 * finds; the regex itself tries every prefix and reads up to `max` characters at each
 * (36 per 4 bytes on `ghp_ghp_…`).
 */
interface PlainShape {
  prefixes: string[];
  /** ASCII code -> in the class (the patterns are ASCII classes; nothing else is in them). */
  inClass: Uint8Array;
  min: number;
  max: number;
}

const LITERAL = String.raw`(?:[A-Za-z0-9_-]|\\.)+`;
const PLAIN = new RegExp(
  String.raw`^\(\?<!\\p\{L\}\)(?:\((?:\?<\w+>)?(${LITERAL}(?:\|${LITERAL})*)\))?(${LITERAL})?\[([^\]\\]+)\]\{(\d+)(?:,(\d+))?\}\(\?!\[([^\]\\]+)\]\)$`,
);
const unescape = (lit: string): string => lit.replace(/\\(.)/g, '$1');

/** A character class body of ranges and single characters (`A-Za-z0-9_-`) as a table, or undefined for anything else. */
function classTable(body: string): Uint8Array | undefined {
  const t = new Uint8Array(128);
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c >= 128) return undefined;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      const d = body.charCodeAt(i + 2);
      if (d >= 128 || d < c) return undefined;
      for (let k = c; k <= d; k++) t[k] = 1;
      i += 2;
    } else t[c] = 1;
  }
  return t;
}

/** The shape of one of the preset's patterns, or undefined when it is not the plain token shape. */
function plainShape(source: string, flags: string): PlainShape | undefined {
  if (/[imsyv]/.test(flags)) return undefined;
  const m = PLAIN.exec(source);
  // 1: the alternatives of a prefix group, 2: the literal after it, 3: the class, 4-5: the bounds, 6: the lookahead's class.
  if (!m || m[3] !== m[6]) return undefined;
  const inClass = classTable(m[3]!);
  if (!inClass) return undefined;
  const tail = unescape(m[2] ?? '');
  const prefixes = (m[1] ? m[1].split('|').map((a) => unescape(a) + tail) : [tail]).filter((p) => p.length > 0);
  if (prefixes.length === 0 || prefixes.length !== new Set(prefixes).size) return undefined;
  const min = Number(m[4]);
  return { prefixes, inClass, min, max: m[5] === undefined ? min : Number(m[5]) };
}

/**
 * The patterns a rule's handler runs, seen by running it once on a stand-in for the content
 * that answers `matchAll` (recording the pattern) and notes any other use (a `test`, an
 * `includes`, a conversion to text). Only a handler that does nothing with the content but
 * `matchAll` it with plain-shaped patterns runs on windows (`windowed`). A stand-in, not a
 * watched RegExp.prototype.exec: patching a RegExp builtin, even briefly, sends every regex
 * of the process off V8's fast path for good.
 */
function shapesOf(file: (source: SecretlintSource) => unknown): PlainShape[] | undefined {
  const seen: PlainShape[] = [];
  let plain = true;
  const other = (): string => {
    plain = false;
    return '';
  };
  const content = new Proxy(
    {},
    {
      get(_target, key) {
        if (key === 'matchAll')
          return (re: unknown) => {
            const shape = re instanceof RegExp ? plainShape(re.source, re.flags) : undefined;
            if (shape) seen.push(shape);
            else plain = false;
            return [][Symbol.iterator]();
          };
        plain = false;
        return key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf' ? other : undefined;
      },
    },
  ) as unknown as string;
  try {
    file({ content, filePath: 'line.txt', ext: '.txt', contentType: 'text' });
  } catch {
    plain = false;
  }
  found = [];
  return plain && seen.length > 0 ? seen : undefined;
}

/**
 * The rules, loaded on first use: the preset is a 200 KB module, and a process whose texts
 * never carry a token prefix (most CLI runs, a receiver-only instance) does not pay for it.
 */
let loaded: Handler[] | undefined;
function handlers(): Handler[] {
  if (!loaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (see above)
    const preset = require('@secretlint/secretlint-rule-preset-recommend') as { rules: SecretlintRule[] };
    loaded = preset.rules
      .filter((r) => !LEFT_OUT.has(r.meta.id))
      .map((r) => ({
        id: r.meta.id,
        prefix: RULE_PREFIX[r.meta.id.replace('@secretlint/secretlint-rule-', '')],
        file: r.create(context, OPTIONS[r.meta.id] ?? {}).file,
      }))
      .filter((h): h is Omit<Handler, 'shapes'> => typeof h.file === 'function')
      .map((h) => ({ ...h, shapes: shapesOf(h.file) }));
  }
  return loaded;
}

/** The rules whose patterns all have the plain token shape: run on windows around their candidates (for the tests). */
export function windowedRuleIds(): string[] {
  return handlers()
    .filter((h) => h.shapes)
    .map((h) => h.id);
}

/** The rule ids in use (for the docs and the tests). */
export function vendorRuleIds(): string[] {
  return handlers().map((h) => h.id);
}

/**
 * The literal every format of a rule starts with. Most log lines carry none, and each rule
 * costs about a scan per pattern (their `(?<!\p{L})` start rules out V8's fast literal
 * search), so a rule runs only on text that has its literal; a rule this table does not
 * know (a newer preset) runs on every text. test/scrub-vendor.test.ts checks that gated
 * and ungated runs agree on the corpus and on random text around every format.
 */
const RULE_PREFIX: Record<string, RegExp> = {
  aws: /A3T|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA/,
  npm: /npm_/,
  slack: /xox[a-z]-|xapp-|[Hh][Oo][Oo][Kk][Ss]\.[Ss][Ll][Aa][Cc][Kk]/,
  sendgrid: /SG\./,
  shopify: /shp[a-z]{2}_/,
  github: /gh[a-z]_|github_pat_/,
  gitlab: /glpat-/,
  grafana: /gl[a-z]{1,3}_/,
  openai: /sk-/,
  anthropic: /sk-ant-/,
  groq: /gsk_/,
  huggingface: /hf_/,
  linear: /lin_api_/,
  notion: /ntn_/,
  '1password': /ops_/,
  'hashicorp-vault': /hv[a-z]\./,
  vercel: /vc[a-z]_/,
  databricks: /dapi/,
  docker: /dckr_pat_/,
  figma: /figd_/,
};
const ANY_PREFIX = new RegExp(
  Object.values(RULE_PREFIX)
    .map((r) => r.source)
    .join('|'),
);

export function mayHoldVendorToken(text: string): boolean {
  return ANY_PREFIX.test(text);
}

/**
 * A reported range that spans a `key=value` comes from a keyword rule reporting from the
 * key (the preset's AWS secret-key rule): dropped, the scrubber's keyword rules mask that value.
 */
const SPANS_A_KEY = /[:=]\s*["']?[A-Za-z0-9/+]/;

/** Vendor tokens in a text as the preset's rules report them: [rule id, start, end], unsorted, may overlap. */
export function vendorTokens(text: string, gated = true): [rule: string, start: number, end: number][] {
  if (gated && !mayHoldVendorToken(text)) return [];
  found = [];
  const source: SecretlintSource = { content: text, filePath: 'line.txt', ext: '.txt', contentType: 'text' };
  for (const h of handlers()) {
    if (gated && h.prefix && !h.prefix.test(text)) continue;
    current = h.id;
    if (gated && h.shapes) windowed(h, h.shapes, text);
    else h.file(source);
  }
  const out = found.filter(([, start, end]) => end > start && !SPANS_A_KEY.test(text.slice(start, end)));
  found = [];
  return out;
}

/**
 * A plain-shaped rule's matches: one pass per prefix finds where a prefix is followed by a
 * whole class run of an allowed length (the run ends are computed once, each character
 * read at most once per prefix); the handler then runs on a window around each such place
 * only (two characters before it for the lookbehind, one after the run for the lookahead),
 * and its regex decides. Of its reports the one at that place is kept, and as matchAll
 * does, a place inside the previous match of the same pattern is skipped.
 */
function windowed(h: Handler, shapes: PlainShape[], text: string): void {
  const n = text.length;
  for (const shape of shapes) {
    const places: number[] = [];
    for (const prefix of shape.prefixes) {
      let runFrom = -1;
      let runEnd = -1;
      for (let q = text.indexOf(prefix); q !== -1; q = text.indexOf(prefix, q + 1)) {
        const from = q + prefix.length;
        if (from < runFrom || from >= runEnd) {
          runFrom = from;
          runEnd = from;
          while (runEnd < n) {
            const c = text.charCodeAt(runEnd);
            if (c >= 128 || shape.inClass[c] === 0) break;
            runEnd++;
          }
        }
        const run = runEnd - from;
        if (run >= shape.min && run <= shape.max) places.push(q, runEnd);
      }
    }
    if (places.length === 0) continue;
    const order = [...Array(places.length / 2).keys()];
    if (shape.prefixes.length > 1) order.sort((a, b) => places[2 * a]! - places[2 * b]!);
    let lastEnd = -1;
    for (const k of order) {
      const start = places[2 * k]!;
      const end = places[2 * k + 1]!;
      if (start < lastEnd) continue;
      const from = Math.max(0, start - 2);
      const before = found.length;
      offset = from;
      try {
        h.file({ content: text.slice(from, Math.min(n, end + 1)), filePath: 'line.txt', ext: '.txt', contentType: 'text' });
      } finally {
        offset = 0;
      }
      let hit: [string, number, number] | undefined;
      for (let i = before; i < found.length; i++) if (found[i]![1] === start && found[i]![2] === end) hit = found[i];
      found.length = before;
      if (hit) {
        found.push(hit);
        lastEnd = end;
      }
    }
  }
}
