import { z } from 'zod';
import type { LokiClient } from '../clients/loki';
import { httpRequest, parseJsonBody, splitCredentials } from '../clients/http';
import { CHANGE_JOB_LABEL, changeEventInputSchema, type ChangeEvent } from '../model/context';
import { stepSeconds } from '../model/window';
import { reasonText, remaining, settleLimited } from './budget';
import type { GatherRequest, Source, SourceResult } from './source';

/**
 * What changed before the incident (issue 12 item 3), from two places:
 * - events users pushed with POST /events/change, stored as JSON lines in Loki under
 *   {job="alert-annotator-changes"};
 * - Prometheus, whatever the exporter: a version-like label of an `*_info` series that changed,
 *   a process restart (process_start_time_seconds moved, kube_pod_container_status_restarts_total
 *   rose), a configuration reload (`*_config_last_reload_success_timestamp_seconds` moved).
 * At most two Prometheus queries per group (CHANGE_PROMETHEUS_QUERIES), inside the source's own budget.
 */

/** Labels that carry a build's identity. */
export const VERSION_LABELS = ['version', 'image', 'image_id', 'revision', 'git_commit', 'commit', 'build', 'tag', 'gitsha'];
/** Labels that change on every rollout without naming a version: ignored when matching series. */
const ROLLOUT_LABELS = new Set(['pod', 'instance', 'container_id', 'pod_template_hash', 'uid', 'pod_ip', 'host_ip']);

export const CHANGE_PROMETHEUS_QUERIES = {
  info: '{__name__=~".+_info"}',
  restarts:
    '{__name__=~"process_start_time_seconds|kube_pod_container_status_restarts_total|.+_config_last_reload_success_timestamp_seconds"}',
} as const;

/** What the change source costs Prometheus per group: counted in PrometheusSource.MAX_QUERIES (reservedQueries). */
export const CHANGE_PROMETHEUS_QUERY_COUNT = Object.keys(CHANGE_PROMETHEUS_QUERIES).length;

const matrixSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })),
  }),
});
type Matrix = z.infer<typeof matrixSchema>['data']['result'];

export interface ChangeSourceOptions {
  /** Pushed events; absent without LOKI_URL. */
  loki?: LokiClient;
  /** Prometheus base URL; absent without PROMETHEUS_URL. */
  prometheusUrl?: string;
  prometheusTenant?: string;
  serviceLabels: readonly string[];
  timeoutMs: number;
  /** Series kept per query (PROMETHEUS_MAX_SERIES). */
  maxSeries?: number;
  /** Pushed events read per group. */
  limit?: number;
}

function serviceOf(labels: Record<string, string>, serviceLabels: readonly string[]): string | undefined {
  for (const l of serviceLabels) if (labels[l]) return labels[l];
  return undefined;
}

const iso = (s: number): string => new Date(s * 1000).toISOString();

/** Version-like label changes among `*_info` series: a series with a new version appears. */
export function versionChanges(result: Matrix, serviceLabels: readonly string[], fromS: number): ChangeEvent[] {
  const groups = new Map<string, { version: string; first: number; last: number; service: string }[]>();
  for (const s of result) {
    const versionLabels = VERSION_LABELS.filter((l) => s.metric[l]);
    if (versionLabels.length === 0 || s.values.length === 0) continue;
    const service = serviceOf(s.metric, serviceLabels);
    if (!service) continue;
    const identity = Object.entries(s.metric)
      .filter(([k]) => !VERSION_LABELS.includes(k) && !ROLLOUT_LABELS.has(k))
      .sort(([a], [b]) => a.localeCompare(b));
    const key = JSON.stringify(identity);
    const list = groups.get(key) ?? [];
    list.push({
      version: versionLabels.map((l) => s.metric[l]).join(' '),
      first: s.values[0]![0],
      last: s.values[s.values.length - 1]![0],
      service,
    });
    groups.set(key, list);
  }
  const out: ChangeEvent[] = [];
  const seen = new Set<string>();
  for (const list of groups.values()) {
    const versions = new Map<string, { first: number; last: number; service: string }>();
    for (const x of list) {
      const cur = versions.get(x.version);
      versions.set(x.version, cur ? { ...cur, first: Math.min(cur.first, x.first), last: Math.max(cur.last, x.last) } : x);
    }
    if (versions.size < 2) continue;
    const ordered = [...versions.entries()].sort((a, b) => a[1].first - b[1].first);
    for (let i = 1; i < ordered.length; i++) {
      const [version, v] = ordered[i]!;
      if (v.first <= fromS) continue; // present from the start of the range: not a change we saw
      const key = `${v.service}|${version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ service: v.service, kind: 'deploy', time: iso(v.first), version, from: ordered[i - 1]![0], origin: 'prometheus' });
    }
  }
  return out;
}

/** Restarts and config reloads: a start/reload timestamp that moved, a restart counter that rose. */
export function restartChanges(result: Matrix, serviceLabels: readonly string[]): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  const seen = new Set<string>();
  for (const s of result) {
    const service = serviceOf(s.metric, serviceLabels);
    const name = s.metric.__name__ ?? '';
    if (!service) continue;
    const counter = name === 'kube_pod_container_status_restarts_total';
    const reload = name.endsWith('_config_last_reload_success_timestamp_seconds');
    for (let i = 1; i < s.values.length; i++) {
      const prev = Number(s.values[i - 1]![1]);
      const cur = Number(s.values[i]![1]);
      if (!Number.isFinite(prev) || !Number.isFinite(cur) || cur <= prev) continue;
      // A start or reload timestamp says when; a counter only that it happened within the step.
      const t = counter ? s.values[i]![0] : Math.min(cur, s.values[i]![0]);
      const key = `${service}|${reload ? 'config' : 'restart'}|${Math.round(t / 60)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        service,
        kind: reload ? 'config' : 'restart',
        time: iso(t),
        description: reload ? 'configuration reloaded' : counter ? 'container restarted' : 'process restarted',
        origin: 'prometheus',
      });
    }
  }
  return out;
}

/** Pushed events from their Loki lines; lines that are not an event are skipped. */
export function pushedChanges(lines: readonly string[], fromMs: number, toMs: number): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  for (const line of lines) {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const p = changeEventInputSchema.safeParse(raw);
    if (!p.success || !p.data.time) continue;
    const t = Date.parse(p.data.time);
    if (t < fromMs || t > toMs) continue;
    out.push({ ...p.data, time: new Date(t).toISOString(), origin: 'pushed' });
  }
  return out;
}

export class ChangeSource implements Source {
  readonly name = 'changes' as const;
  private readonly prom?: { base: string; headers: Record<string, string> };
  constructor(private readonly opts: ChangeSourceOptions) {
    if (opts.prometheusUrl) {
      const { url, headers } = splitCredentials(opts.prometheusUrl);
      this.prom = { base: url, headers: { ...headers, ...(opts.prometheusTenant ? { 'X-Scope-OrgID': opts.prometheusTenant } : {}) } };
    }
  }

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const w = req.windows;
    const jobs: (() => Promise<ChangeEvent[]>)[] = [];
    if (this.opts.loki) {
      const loki = this.opts.loki;
      jobs.push(async () => {
        const streams = await loki.queryRange(
          `{job="${CHANGE_JOB_LABEL}"}`,
          // Stored when received; a late push of an earlier change is still inside a day.
          { start: w.baselineStart, end: new Date(w.end.getTime() + 60_000), limit: this.opts.limit ?? 500, direction: 'backward' },
          signal,
          remaining(deadline),
        );
        return pushedChanges(
          streams.flatMap((s) => s.values.map((v) => v[1])),
          w.baselineStart.getTime(),
          w.end.getTime(),
        );
      });
    }
    if (this.prom) {
      const step = stepSeconds(w.baselineStart, w.end, 500, 15);
      const fromS = w.baselineStart.getTime() / 1000;
      jobs.push(async () =>
        versionChanges(await this.queryRange(CHANGE_PROMETHEUS_QUERIES.info, w, step, signal, deadline), this.opts.serviceLabels, fromS),
      );
      jobs.push(async () =>
        restartChanges(await this.queryRange(CHANGE_PROMETHEUS_QUERIES.restarts, w, step, signal, deadline), this.opts.serviceLabels),
      );
    }
    if (jobs.length === 0) return { changes: [], partial: 'neither Loki nor Prometheus is configured' };
    const results = await settleLimited(jobs, 3, (job) => job());
    const changes = results
      .flatMap((r) => (r.status === 'fulfilled' ? r.value : []))
      .sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length === jobs.length) throw failed[0]!.reason;
    return {
      changes,
      ...(failed.length ? { partial: `${failed.length} of ${jobs.length} queries failed; first: ${reasonText(failed[0]!.reason)}` } : {}),
    };
  }

  private async queryRange(
    query: string,
    w: GatherRequest['windows'],
    step: number,
    signal: AbortSignal,
    deadline: number,
  ): Promise<Matrix> {
    const params = new URLSearchParams({
      query,
      start: String(w.baselineStart.getTime() / 1000),
      end: String(w.end.getTime() / 1000),
      step: String(step),
    });
    const res = await httpRequest('prometheus', {
      url: `${this.prom!.base}/api/v1/query_range?${params.toString()}`,
      headers: this.prom!.headers,
      timeoutMs: remaining(deadline),
      signal,
    });
    return parseJsonBody('prometheus', res, matrixSchema).data.result.slice(0, this.opts.maxSeries ?? 500);
  }
}
