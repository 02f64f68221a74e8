import type { LokiClient } from '../clients/loki';
import { logqlString, streamSelector } from '../clients/loki';

export { parseStreamLabelMap, streamSelector } from '../clients/loki';
import type { LogStream } from '../model/evidence';
import { reasonText, remaining, settleLimited } from './budget';
import type { GatherRequest, Source, SourceResult } from './source';

/**
 * Log evidence: the error/warn lines of the alerting workload in the baseline and incident
 * windows, found through a map from alert labels to Loki stream labels (LOKI_STREAM_LABELS).
 * Two query_range calls per workload (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time),
 * so a noisy incident cannot crowd the baseline out of the line limit.
 */

export interface LokiLogSourceOptions {
  client: LokiClient;
  /** alert label -> stream label; the first alert label that maps to a stream label wins. */
  streamLabels: readonly (readonly [string, string])[];
  /** RE2 line filter (`|~`) that keeps error and warn lines. */
  lineFilter: string;
  /** Lines per window per workload. */
  limit: number;
  timeoutMs: number;
}

/**
 * Orders Loki's nanosecond timestamp strings by value without BigInt: they exceed 2^53, and
 * without leading zeros a shorter string is an earlier time.
 */
function compareNs(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** At most this many distinct workloads per group: a 200-alert group must not send 400 queries. */
const MAX_SELECTORS = 5;

export class LokiLogSource implements Source {
  readonly name = 'loki' as const;
  constructor(private readonly opts: LokiLogSourceOptions) {}

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const w = req.windows;
    const selectors = [...new Set(req.alerts.map((a) => streamSelector(a, this.opts.streamLabels)).filter((s): s is string => !!s))];
    if (selectors.length === 0) return { logs: [], partial: 'no alert label maps to a log stream label (LOKI_STREAM_LABELS)' };
    const used = selectors.slice(0, MAX_SELECTORS);
    const windows = [
      { name: 'incident' as const, start: w.incidentStart, end: w.end },
      { name: 'baseline' as const, start: w.baselineStart, end: w.incidentStart },
    ];
    const jobs = used.flatMap((selector) => windows.map((win) => ({ selector, win })));
    const filter = this.opts.lineFilter ? ` |~ ${logqlString(this.opts.lineFilter)}` : '';
    const results = await settleLimited(
      jobs,
      4,
      ({ selector, win }) =>
        this.opts.client.queryRange(
          `${selector}${filter}`,
          { start: win.start, end: win.end, limit: this.opts.limit, direction: 'backward' },
          signal,
          remaining(deadline),
        ),
      deadline,
    );

    const byStream = new Map<string, LogStream>();
    const notes: string[] = [];
    const logsFrom: { baseline?: Date; incident?: Date } = {};
    let failures = 0;
    results.forEach((r, i) => {
      const job = jobs[i]!;
      if (r.status === 'rejected') {
        failures++;
        notes.push(`${job.win.name} window: ${reasonText(r.reason)}`);
        return;
      }
      const count = r.value.reduce((n, s) => n + s.values.length, 0);
      // Backward with a limit keeps the newest lines: say so, and from when the window is whole.
      if (count >= this.opts.limit) {
        notes.push(`${job.win.name} window truncated at ${this.opts.limit} lines`);
        const oldestNs = r.value.flatMap((s) => s.values.map((v) => v[0])).reduce((m, t) => (compareNs(t, m) < 0 ? t : m));
        const oldest = new Date(Number(BigInt(oldestNs) / 1_000_000n));
        const key = job.win.name;
        // Several workloads: the latest cut applies to all, so rates stay comparable.
        if (!logsFrom[key] || oldest > logsFrom[key]) logsFrom[key] = oldest;
      }
      for (const s of r.value) {
        const key = JSON.stringify(Object.entries(s.stream).sort(([a], [b]) => a.localeCompare(b)));
        const stream = byStream.get(key) ?? { labels: s.stream, values: [] };
        stream.values.push(...s.values);
        byStream.set(key, stream);
      }
    });
    const firstRejection = results.find((r) => r.status === 'rejected');
    if (failures === jobs.length && firstRejection) throw firstRejection.reason;
    if (selectors.length > used.length) notes.push(`${selectors.length - used.length} more workloads not queried`);
    const logs = [...byStream.values()].map((s) => ({ ...s, values: s.values.sort((a, b) => compareNs(a[0], b[0])) }));
    return {
      logs,
      ...(logsFrom.baseline || logsFrom.incident ? { logsFrom } : {}),
      ...(notes.length ? { partial: notes.join('; ') } : {}),
    };
  }
}
