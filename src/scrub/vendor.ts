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
const context: SecretlintContext = {
  report: (d) => void found.push([current, d.range[0], d.range[1]]),
  ignore: () => undefined,
  createTranslator: () => () => '',
};

type Handler = { id: string; prefix: RegExp | undefined; file: (source: SecretlintSource) => unknown };

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
      .filter((h): h is Handler => typeof h.file === 'function');
  }
  return loaded;
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
    h.file(source);
  }
  const out = found.filter(([, start, end]) => end > start && !SPANS_A_KEY.test(text.slice(start, end)));
  found = [];
  return out;
}
