import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseServiceLabels } from './analyze/service';
import { DEFAULT_LOKI_LOG_FILTER, DEFAULT_LOKI_STREAM_LABELS, parseStreamLabelMap } from './clients/loki';
import { hashTagProblem, parseHostPorts } from './clients/redis';
import { loadRoutesFile, RoutesFileError, type Route, type TenantSettings } from './route/routes';

/**
 * The whole configuration surface: one zod schema over the environment, parsed once in
 * main.ts. Empty strings count as unset. Every secret may also come from `<NAME>_FILE`
 * (Docker and Kubernetes mount secrets as files).
 */

const SECRET_VARS = [
  'WEBHOOK_BEARER_TOKEN',
  'WEBHOOK_BASIC_AUTH',
  'OPENAI_API_KEY',
  'SLACK_BOT_TOKEN',
  'SLACK_WEBHOOK_URL',
  'PAGERDUTY_ROUTING_KEY',
  'REDIS_URL',
  'SLACK_SIGNING_SECRET',
  'REDIS_SENTINEL_PASSWORD',
] as const;

const url = z.url({ protocol: /^https?$/ });
const optionalUrl = url.optional();
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const severity = z.enum(['critical', 'error', 'warning', 'info']);
const hostPorts = z
  .string()
  .refine((v) => parseHostPorts(v) !== undefined, 'must be host:port,host:port,…')
  .transform((v) => parseHostPorts(v)!);

export const configSchema = z.object({
  PORT: int(8080, 0).pipe(z.number().max(65535)),
  /**
   * The address the HTTP server binds: unset, every interface (IPv4 and IPv6, what a
   * container needs to be reached); `127.0.0.1` keeps it on this machine. Logged at start.
   */
  HOST: z
    .string()
    .trim()
    .refine((v) => isIP(v) !== 0 || /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(v), 'must be an IP address or a host name')
    .optional(),
  ROLE: z.enum(['receiver', 'worker', 'all']).default('all'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Braces allowed for a Redis Cluster hash tag: `{alert-annotator}`. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.{}-]+$/, 'letters, digits, _ . - and braces (a hash tag) only')
    .default('alert-annotator'),
  /** Seed nodes of a Redis Cluster (`host:port,…`); REDIS_URL then gives only credentials, database and TLS. */
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  /** Sentinels (`host:port,…`) that know the master REDIS_SENTINEL_NAME; REDIS_URL then gives only credentials, database and TLS. */
  REDIS_SENTINELS: hostPorts.optional(),
  REDIS_SENTINEL_NAME: z.string().default('mymaster'),
  /** The sentinels' own password (`requirepass` of the sentinels), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  WEBHOOK_BEARER_TOKEN: z.string().min(8, 'at least 8 characters').optional(),
  WEBHOOK_BASIC_AUTH: z
    .string()
    .regex(/^[^:]+:.+$/, 'must be user:pass')
    .optional(),
  /**
   * `required` (the default): a receiver refuses to start without WEBHOOK_BEARER_TOKEN or
   * WEBHOOK_BASIC_AUTH. `none` opens the webhook to anyone on purpose, with a warning.
   */
  WEBHOOK_AUTH: z.enum(['required', 'none']).default('required'),
  WEBHOOK_MAX_BODY_BYTES: int(5 * 1024 * 1024, 1024),
  WORKER_CONCURRENCY: int(4, 1),
  /** With the backoff below: about 8 hours of retries before a job becomes a dead letter. */
  JOB_ATTEMPTS: int(40, 1),
  JOB_BACKOFF_MS: int(5000, 1),
  /** The longest wait between two attempts: the exponential backoff stops growing here. */
  JOB_BACKOFF_MAX_MS: int(15 * 60_000, 1),
  SHUTDOWN_TIMEOUT_MS: int(25000, 100),

  PROMETHEUS_URL: optionalUrl,
  /** The most series one Prometheus query may return; the alert's expression comes from whoever posts the webhook. */
  PROMETHEUS_MAX_SERIES: int(500, 1).pipe(z.number().max(10_000)),
  LOKI_URL: optionalUrl,
  TEMPO_URL: optionalUrl,
  /** Alertmanager API v2 base URL: other alerts firing now are read from it (and silences created there). */
  ALERTMANAGER_URL: optionalUrl,
  LOKI_TENANT: z.string().optional(),
  /** X-Scope-OrgID for a multi-tenant Prometheus-compatible back end (Mimir, Cortex). */
  PROMETHEUS_TENANT: z.string().optional(),
  /** X-Scope-OrgID for a multi-tenant Tempo. */
  TEMPO_TENANT: z.string().optional(),
  SOURCE_TIMEOUT_MS: int(5000, 100),
  BASELINE_WINDOW_MIN: int(60, 5),
  RELATED_QUERIES_FILE: z.string().optional(),
  /** Parsed here, once, so every user (sources, analyze, publishers) gets the same list. */
  SERVICE_LABELS: z.string().default('service,service_name,app,job,container').transform(parseServiceLabels),
  /** Incident window starts this long before startsAt; the baseline ends there (issue 3). */
  INCIDENT_LEAD_MIN: int(5, 0),
  /** Alert label -> Loki stream label, `alertLabel=streamLabel` comma separated (deploy/related-queries.md). */
  LOKI_STREAM_LABELS: z
    .string()
    .regex(
      /^\s*[A-Za-z_][A-Za-z0-9_]*=[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*=[A-Za-z_][A-Za-z0-9_]*)*\s*$/,
      'must be alertLabel=streamLabel,…',
    )
    .default(DEFAULT_LOKI_STREAM_LABELS)
    .transform(parseStreamLabelMap),
  /** LogQL line filter (RE2) that keeps error/warn lines. */
  LOKI_LOG_FILTER: z.string().default(DEFAULT_LOKI_LOG_FILTER),
  /** Longest annotation record line pushed to Loki (its max_line_size, 256 KB by default); longer records are cut. */
  LOKI_MAX_LINE_BYTES: int(256 * 1024, 1024),
  /** Lines per window per query; Loki's default max_entries_limit_per_query is 5000. */
  LOKI_LINE_LIMIT: int(2000, 1).pipe(z.number().max(5000)),
  /** Traces fetched in full from Tempo after the TraceQL search. */
  TEMPO_TRACE_LIMIT: int(20, 0).pipe(z.number().max(100)),
  /** A trace slower than this counts as slow in the TraceQL search. */
  TEMPO_SLOW_MS: int(1000, 1),

  LLM_PROVIDER: z.enum(['ollama', 'openai', 'none']).default('ollama'),
  OLLAMA_HOST: url.default('http://127.0.0.1:11434'),
  OLLAMA_MODEL: z.string().default('qwen2.5:3b-instruct'),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  LLM_TIMEOUT_MS: int(60000, 100),
  LLM_MAX_CONCURRENCY: int(2, 1),
  /** The model's output cap in tokens; a full note needs about 400. */
  LLM_MAX_OUTPUT_TOKENS: int(1024, 64).pipe(z.number().max(32768)),
  /** Prompt template file prompts/<id>.md; the record carries the id as promptVersion. */
  LLM_PROMPT_VERSION: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]*$/, 'a file name under prompts/, without .md')
    .default('narrate-v2'),
  /** Consecutive failed narrations that open the circuit breaker (the model is skipped). */
  LLM_BREAKER_THRESHOLD: int(5, 1),
  /** How long an open breaker skips the model before one trial call. */
  LLM_BREAKER_COOLDOWN_MS: int(60000, 100),
  /** Cap on model calls per clock hour across every worker (Redis); unset means no cap. */
  LLM_MAX_CALLS_PER_HOUR: z.coerce.number().int().min(0).optional(),

  SLACK_BOT_TOKEN: z.string().optional(),
  SLACK_CHANNEL: z.string().optional(),
  SLACK_WEBHOOK_URL: optionalUrl,
  SLACK_API_URL: url.default('https://slack.com/api'),
  SLACK_MIN_SEVERITY: severity.default('info'),
  /** New top-level Slack messages per minute (bot mode); past it one roll-up message lists the rest. Unset: no cap. */
  SLACK_MAX_NEW_PER_MINUTE: z.coerce.number().int().min(1).optional(),
  /** Verifies POST /slack/interactions; the card has buttons only when it is set (bot mode). */
  SLACK_SIGNING_SECRET: z.string().min(8, 'at least 8 characters').optional(),
  /** Bot mode: the chart of the alert into the message's thread (needs the files:write scope). */
  SLACK_CHART: z
    .enum(['true', 'false'], { message: 'true or false' })
    .default('true')
    .transform((v) => v === 'true'),
  PAGERDUTY_ROUTING_KEY: z.string().optional(),
  PAGERDUTY_EVENTS_URL: url.default('https://events.pagerduty.com/v2/enqueue'),
  PAGERDUTY_MIN_SEVERITY: severity.default('critical'),
  GRAFANA_URL: optionalUrl,
  /** Ordered routes (YAML): which Slack channel and PagerDuty service each group goes to. */
  ROUTES_FILE: z.string().optional(),
  /** An alert label naming the tenant (Loki/Tempo/Prometheus X-Scope-OrgID); a route's tenant wins. */
  TENANT_LABEL: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name')
    .optional(),

  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: z.string().default('alert-annotator'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Rules across variables; run on the raw values so they are reported with every other problem. */
function crossChecks(v: Record<string, string>): string[] {
  const problems: string[] = [];
  if (v.SLACK_BOT_TOKEN && !v.SLACK_CHANNEL) problems.push('SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set');
  if (v.WEBHOOK_AUTH === 'none' && (v.WEBHOOK_BEARER_TOKEN || v.WEBHOOK_BASIC_AUTH)) {
    problems.push('WEBHOOK_AUTH: none contradicts the webhook credential that is set; unset one of them');
  }
  if (v.REDIS_CLUSTER_NODES && v.REDIS_SENTINELS) problems.push('REDIS_SENTINELS: set REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both');
  if (v.REDIS_CLUSTER_NODES) {
    const problem = hashTagProblem(v.QUEUE_PREFIX ?? 'alert-annotator');
    if (problem) problems.push(`QUEUE_PREFIX: ${problem}`);
  }
  if (v.LLM_PROVIDER === 'openai' && !v.OPENAI_API_KEY && !v.OPENAI_BASE_URL) {
    problems.push('OPENAI_API_KEY: required when LLM_PROVIDER=openai (or set OPENAI_BASE_URL for a compatible server)');
  }
  return problems;
}

export type Config = z.infer<typeof configSchema> & {
  /** The parsed ROUTES_FILE; absent or empty: the single default route from the variables above. */
  routes?: readonly Route[];
  /** The routes file's `tenants:` section, by tenant name. */
  tenants?: Readonly<Record<string, TenantSettings>>;
  /** The route a derived per-part configuration belongs to (wiring.configForPart); unset at the top. */
  ROUTE_NAME?: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `<NAME>_FILE` secrets and drops empty strings, so the schema sees only real values. */
function normalise(env: Record<string, string | undefined>): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && v.trim() !== '') values[k] = v.trim();
  }
  for (const name of SECRET_VARS) {
    const file = values[`${name}_FILE`];
    if (!file) continue;
    if (values[name]) {
      problems.push(`${name}: set both ${name} and ${name}_FILE; choose one`);
      continue;
    }
    try {
      const content = readFileSync(file, 'utf8').trim();
      if (content) values[name] = content;
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return { values, problems };
}

/** Parses the environment; throws one ConfigError listing every problem by variable name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const { values, problems } = normalise(env);
  problems.push(...crossChecks(values));
  const parsed = configSchema.safeParse(values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.') || '(config)';
      // Never echo the received value: it may be a secret.
      problems.push(`${name}: ${issue.message}`);
    }
  }
  let routes: Route[] | undefined;
  let tenants: Record<string, TenantSettings> | undefined;
  if (parsed.success && parsed.data.ROUTES_FILE) {
    try {
      ({ routes, tenants } = loadRoutesFile(parsed.data.ROUTES_FILE));
      if (!parsed.data.SLACK_BOT_TOKEN) {
        for (const r of routes) {
          if (r.slack !== undefined && r.slack !== 'none' && 'channel' in r.slack) {
            problems.push(`ROUTES_FILE: route "${r.name}" posts to channel ${r.slack.channel}, which needs SLACK_BOT_TOKEN`);
          }
        }
      }
    } catch (e) {
      if (!(e instanceof RoutesFileError)) throw e;
      problems.push(...e.problems.map((p) => `ROUTES_FILE: ${e.file}: ${p}`));
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return routes ? { ...parsed.data, routes, tenants: tenants ?? {} } : parsed.data;
}

/** Values that must never appear in logs, errors or job data. */
export function secretValues(config: Config): string[] {
  const out: string[] = [];
  for (const name of SECRET_VARS) {
    const v = config[name];
    if (typeof v === 'string' && v.length >= 4) {
      out.push(v);
      if (name === 'WEBHOOK_BASIC_AUTH') out.push(v.slice(v.indexOf(':') + 1));
    }
  }
  // Secrets from the routes file: PagerDuty keys, Slack webhook URLs, tenants' passwords.
  for (const r of config.routes ?? []) {
    if (r.pagerduty && r.pagerduty !== 'none') out.push(r.pagerduty.routingKey);
    if (r.slack && r.slack !== 'none' && 'webhookUrl' in r.slack) out.push(r.slack.webhookUrl);
  }
  for (const t of Object.values(config.tenants ?? {}))
    if (t.basicAuth) out.push(t.basicAuth, t.basicAuth.slice(t.basicAuth.indexOf(':') + 1));
  return out.filter((v) => v.length >= 4);
}

/**
 * Why a process must not start with this configuration's webhook, or undefined: whoever can
 * post a webhook chooses the alerts, the PromQL that runs against Prometheus with our
 * credentials and what is posted to Slack, so a receiver without credentials is refused
 * unless WEBHOOK_AUTH=none says it is meant. A worker takes no webhooks.
 */
export function webhookAuthProblem(config: Config): string | undefined {
  if (config.ROLE === 'worker' || config.WEBHOOK_BEARER_TOKEN || config.WEBHOOK_BASIC_AUTH || config.WEBHOOK_AUTH === 'none') {
    return undefined;
  }
  return 'refusing to start: the webhook has no credentials; set WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_AUTH (or their _FILE), or WEBHOOK_AUTH=none to accept anyone on purpose';
}

/** Every name the service reads. */
const KNOWN_NAMES = [...Object.keys(configSchema.shape), ...SECRET_VARS.map((n) => `${n}_FILE`)];

/**
 * Our prefixes, from the schema's own names (WEBHOOK_, LOKI_, LLM_, SLACK_, …). OTEL_ is
 * left out: the OpenTelemetry SDK reads dozens of OTEL_* variables of its own.
 */
const OUR_PREFIXES = [...new Set(KNOWN_NAMES.filter((n) => n.includes('_')).map((n) => n.slice(0, n.indexOf('_') + 1)))].filter(
  (p) => p !== 'OTEL_',
);

/**
 * Variables with our prefixes that others set: Kubernetes service links for a Service named
 * redis or loki (REDIS_PORT, LOKI_SERVICE_HOST, REDIS_PORT_6379_TCP_ADDR …) and the OpenAI
 * client's own (OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_LOG).
 */
const FOREIGN =
  /^[A-Z0-9_]+_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$|^OPENAI_(?:ORG_ID|PROJECT_ID|LOG)$/;

/** Edit distance (insertions, deletions, substitutions), one row at a time. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * One line per variable that carries one of our prefixes (in any case) but is not a
 * setting, with the nearest one: "WEBHOOK_BEARER_TOKN is not a setting; did you mean
 * WEBHOOK_BEARER_TOKEN?". Warnings, not errors: orchestrators set variables that share our
 * prefixes (see FOREIGN), and one of those must not stop the service. Never the value.
 */
export function unknownSettings(env: Record<string, string | undefined>): string[] {
  const known = new Set(KNOWN_NAMES);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    const upper = name.toUpperCase();
    if (known.has(name) || FOREIGN.test(upper) || !OUR_PREFIXES.some((p) => upper.startsWith(p))) continue;
    const nearest = KNOWN_NAMES.reduce((best, k) => (distance(upper, k) < distance(upper, best) ? k : best));
    out.push(`${name} is not a setting; did you mean ${nearest}?`);
  }
  return out;
}
