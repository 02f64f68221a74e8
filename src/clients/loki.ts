import { z } from 'zod';
import { httpRequest, parseJsonBody, splitCredentials } from './http';

/**
 * Loki HTTP API client (https://grafana.com/docs/loki/latest/reference/loki-http-api/).
 * Used by dedup (is there a record?), gather (application logs) and publish (records).
 */

const streamsSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.string(),
    result: z.array(
      z.object({
        stream: z.record(z.string(), z.string()),
        values: z.array(z.tuple([z.string(), z.string()])),
      }),
    ),
  }),
});

export type LokiStreams = z.infer<typeof streamsSchema>['data']['result'];

export interface LokiEntry {
  labels: Record<string, string>;
  line: string;
  /**
   * The entry's time in ns; now when absent. Loki stores an entry with the same stream,
   * time and line once, so a push repeated with both the same is harmless.
   */
  tsNs?: bigint;
}

export interface LokiClientOptions {
  url: string;
  tenant?: string;
  timeoutMs?: number;
}

/** Loki rejects label values over 2048 characters (measured on Loki 2.8). */
export const MAX_LABEL_VALUE = 2048;

let lastNs = 0n;
/** Current time in ns, strictly increasing within this process. */
export function nowNs(): bigint {
  let ns = BigInt(Date.now()) * 1_000_000n;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

export function sanitiseLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    const name = k.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
    if (!name || v === '') continue;
    out[name] = v.length > MAX_LABEL_VALUE ? v.slice(0, MAX_LABEL_VALUE) : v;
  }
  return out;
}

export class LokiClient {
  private readonly base: string;
  private readonly auth: Record<string, string>;
  constructor(private readonly opts: LokiClientOptions) {
    const { url, headers } = splitCredentials(opts.url);
    this.base = url;
    this.auth = headers;
  }

  private headers(): Record<string, string> {
    return { ...this.auth, ...(this.opts.tenant ? { 'X-Scope-OrgID': this.opts.tenant } : {}) };
  }

  /**
   * Pushes entries with their own time, or the current one (strings of ns, as Loki wants).
   * One push per call, kept small: a batch with one bad entry answers 400 but stores the
   * good ones, so callers push one record at a time.
   */
  async push(entries: LokiEntry[], signal?: AbortSignal): Promise<void> {
    const streams = entries.map((e) => ({ stream: sanitiseLabels(e.labels), values: [[(e.tsNs ?? nowNs()).toString(), e.line]] }));
    await httpRequest('loki', {
      method: 'POST',
      url: `${this.base}/loki/api/v1/push`,
      headers: { ...this.headers(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ streams }),
      timeoutMs: this.opts.timeoutMs ?? 10_000,
      signal,
    });
  }

  /** `query_range` for log queries; times are Dates, sent as ns. */
  async queryRange(
    query: string,
    range: { start: Date; end: Date; limit?: number; direction?: 'forward' | 'backward' },
    signal?: AbortSignal,
    timeoutMs?: number,
  ): Promise<LokiStreams> {
    const params = new URLSearchParams({
      query,
      start: (BigInt(range.start.getTime()) * 1_000_000n).toString(),
      end: (BigInt(range.end.getTime()) * 1_000_000n).toString(),
      limit: String(range.limit ?? 100),
      direction: range.direction ?? 'backward',
    });
    const res = await httpRequest('loki', {
      url: `${this.base}/loki/api/v1/query_range?${params.toString()}`,
      headers: this.headers(),
      timeoutMs: timeoutMs ?? this.opts.timeoutMs ?? 10_000,
      signal,
    });
    return parseJsonBody('loki', res, streamsSchema).data.result;
  }
}

/** A LogQL string literal (backtick form cannot hold a backtick, so use escaped double quotes). */
export function logqlString(s: string): string {
  return JSON.stringify(s);
}

/** LOKI_STREAM_LABELS and LOKI_LOG_FILTER when unset: the log source and the Grafana Logs link share them. */
export const DEFAULT_LOKI_STREAM_LABELS =
  'service=service_name,service_name=service_name,app=app,namespace=namespace,pod=pod,container=container';
export const DEFAULT_LOKI_LOG_FILTER = '(?i)(error|warn|fatal|panic|exception|timeout|refused|fail)';

/** `service=service_name,pod=pod` -> [['service','service_name'], ['pod','pod']]. */
export function parseStreamLabelMap(csv: string): [string, string][] {
  return csv
    .split(',')
    .map((pair) => pair.split('=').map((s) => s.trim()))
    .filter((p): p is [string, string] => p.length === 2 && !!p[0] && !!p[1]);
}

/** Loki needs at least one non-empty matcher; a workload is any alert with a mapped label. */
export function streamSelector(
  alert: { labels: Readonly<Record<string, string>> },
  map: readonly (readonly [string, string])[],
): string | undefined {
  const matchers = new Map<string, string>();
  for (const [from, to] of map) {
    const v = alert.labels[from];
    if (v && !matchers.has(to)) matchers.set(to, v);
  }
  if (matchers.size === 0) return undefined;
  return `{${[...matchers].map(([k, v]) => `${k}=${logqlString(v)}`).join(', ')}}`;
}
