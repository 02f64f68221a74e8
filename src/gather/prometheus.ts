import { z } from 'zod';
import { normaliseTraceId } from '../model/otlp';
import { httpRequest, parseJsonBody } from '../clients/http';
import type { Alert } from '../model/alert';
import { splitCredentials } from '../clients/http';
import { DeadlinePassedError, reasonText, remaining, settleLimited } from './budget';
import type { Exemplar, Series } from '../model/evidence';
import { exprFromGeneratorUrl, valueExpression } from './promql';
import { renderTemplate, type RelatedQuery, type RenderedQuery } from './related';
import type { GatherRequest, Source, SourceResult } from './source';
import { stepSeconds } from '../model/window';

/**
 * Metrics evidence from the Prometheus HTTP API
 * (https://prometheus.io/docs/prometheus/latest/querying/api/): the alert's own expression
 * and the related queries over the baseline and incident windows (one query_range each,
 * ≤ 500 points per series), and exemplars of the alert's metric for trace ids.
 */

const sampleValue = z.tuple([z.number(), z.string()]);
const matrixSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(sampleValue) })),
  }),
});

// https://prometheus.io/docs/prometheus/latest/querying/api/#querying-exemplars
const exemplarsSchema = z.object({
  status: z.literal('success'),
  data: z
    .array(
      z.object({
        seriesLabels: z.record(z.string(), z.string()),
        exemplars: z.array(z.object({ labels: z.record(z.string(), z.string()), value: z.string(), timestamp: z.number() })),
      }),
    )
    .nullable(),
});

/** Exemplar labels that carry a trace id, by the conventions of the common SDKs. */
const TRACE_ID_LABELS = ['trace_id', 'traceID', 'traceId', 'TraceID'];
/**
 * The hard cap on requests per group, whatever its size: at most 8 distinct alert
 * expressions (each one query_range and one query_exemplars) and 40 related queries.
 */
const MAX_ALERT_QUERIES = 8;
const MAX_RELATED_QUERIES = 40;
const CONCURRENCY = 4;

export interface PrometheusSourceOptions {
  url: string;
  /** The whole source's budget (SOURCE_TIMEOUT_MS). */
  timeoutMs: number;
  related: readonly RelatedQuery[];
  /** The most series one query may return (PROMETHEUS_MAX_SERIES); the rest is dropped and the source reports partial. */
  maxSeries?: number;
  /** X-Scope-OrgID for a multi-tenant back end (Mimir, Cortex). */
  tenant?: string;
  /**
   * Queries another source sends this Prometheus for the same group (the change source's,
   * CHANGE_PROMETHEUS_QUERY_COUNT): taken from the related queries, so the group's total stays
   * within MAX_QUERIES.
   */
  reservedQueries?: number;
}

export const DEFAULT_MAX_SERIES = 500;

interface Job {
  kind: 'alert' | 'related';
  query: string;
  alert: Alert;
  rendered?: RenderedQuery;
}

/** True when the series' labels agree with the alert's on every label both carry. */
function belongsTo(metric: Record<string, string>, alert: Alert): boolean {
  return Object.entries(metric).every(([k, v]) => k === '__name__' || alert.labels[k] === undefined || alert.labels[k] === v);
}

export class PrometheusSource implements Source {
  /** The most requests one group can cost this Prometheus, the change source's included (docs/architecture.md, "gather"). */
  static readonly MAX_QUERIES = 2 * MAX_ALERT_QUERIES + MAX_RELATED_QUERIES;
  readonly name = 'prometheus' as const;
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly maxSeries: number;

  constructor(private readonly opts: PrometheusSourceOptions) {
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    const { url, headers } = splitCredentials(opts.url);
    this.base = url;
    this.headers = { ...headers, ...(opts.tenant ? { 'X-Scope-OrgID': opts.tenant } : {}) };
  }

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const w = req.windows;
    const step = stepSeconds(w.baselineStart, w.end);
    const jobs = this.plan(req.alerts);
    if (jobs.length === 0) return { series: [], partial: 'no alert expression and no related query applies to these alerts' };

    const results = await settleLimited(
      jobs,
      CONCURRENCY,
      (job) => this.queryRange(job.query, w.baselineStart, w.end, step, signal, remaining(deadline)),
      deadline,
    );
    let notSent = 0;
    const series: Series[] = [];
    const failures: string[] = [];
    const cut: string[] = [];
    const seen = new Set<string>();
    results.forEach((r, i) => {
      const job = jobs[i]!;
      if (r.status === 'rejected') {
        if (r.reason instanceof DeadlinePassedError) notSent++;
        else failures.push(reasonText(r.reason));
        return;
      }
      if (r.value.length > this.maxSeries) cut.push(job.query);
      for (const s of r.value.slice(0, this.maxSeries)) {
        // The alert's own expression answers for every matching target; keep this alert's.
        if (job.kind === 'alert' && !belongsTo(s.metric, job.alert)) continue;
        const key = `${job.query}|${JSON.stringify(s.metric)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        series.push({
          query: job.kind === 'alert' ? job.query : null,
          labels: s.metric,
          values: s.values,
          ...(job.rendered ? { name: job.rendered.name, ...(job.rendered.unit ? { unit: job.rendered.unit } : {}) } : {}),
        });
      }
    });
    // Nothing came back: the source failed (its first error says why); otherwise it is partial.
    const firstRejection = results.find((r) => r.status === 'rejected');
    if (failures.length + notSent === jobs.length && firstRejection) throw firstRejection.reason;

    let exemplars: Exemplar[] = [];
    const alertQueries = [...new Set(jobs.filter((j) => j.kind === 'alert').map((j) => j.query))];
    const ex = await settleLimited(
      alertQueries,
      CONCURRENCY,
      (q) => this.exemplars(q, w.incidentStart, w.end, signal, remaining(deadline)),
      deadline,
    );
    for (const r of ex) {
      if (r.status === 'fulfilled') exemplars = exemplars.concat(r.value);
      else if (r.reason instanceof DeadlinePassedError) notSent++;
      else failures.push(`exemplars: ${reasonText(r.reason)}`);
    }
    const notes = [
      ...(failures.length ? [`${failures.length} of ${jobs.length + alertQueries.length} queries failed; first: ${failures[0]}`] : []),
      ...(cut.length ? [`${cut.length} queries returned more than ${this.maxSeries} series; the rest was dropped`] : []),
      ...(notSent ? [`${notSent} queries not sent: the source's deadline (SOURCE_TIMEOUT_MS) passed`] : []),
    ];
    const partial = notes.length ? notes.join('; ') : undefined;
    return { series, exemplars, ...(partial ? { partial } : {}) };
  }

  /**
   * One job per distinct query: the alerts' value expressions, then the rendered templates,
   * in alert order, up to the caps; a 10,000-alert group plans no more than a 50-alert one.
   */
  private plan(alerts: readonly Alert[]): Job[] {
    const jobs: Job[] = [];
    const queries = new Set<string>();
    const urls = new Set<string>();
    for (const alert of alerts) {
      if (jobs.length >= MAX_ALERT_QUERIES) break;
      // The alerts of one rule share their generatorURL: parse each once.
      if (urls.has(alert.generatorURL)) continue;
      urls.add(alert.generatorURL);
      const expr = exprFromGeneratorUrl(alert.generatorURL);
      if (!expr) continue;
      const query = valueExpression(expr);
      if (queries.has(query)) continue;
      queries.add(query);
      jobs.push({ kind: 'alert', query, alert });
    }
    let related = 0;
    const cap = Math.max(0, MAX_RELATED_QUERIES - (this.opts.reservedQueries ?? 0));
    for (const alert of alerts) {
      if (related >= cap) break;
      for (const t of this.opts.related) {
        if (related >= cap) break;
        const rendered = renderTemplate(t, alert.labels);
        if (!rendered) continue;
        if (queries.has(rendered.query)) {
          // The alert watches exactly this template: its series get the template's name and unit.
          const same = jobs.find((j) => j.query === rendered.query);
          if (same && !same.rendered) same.rendered = rendered;
          continue;
        }
        queries.add(rendered.query);
        jobs.push({ kind: 'related', query: rendered.query, alert, rendered });
        related++;
      }
    }
    return jobs;
  }

  /**
   * POST with a form body: long expressions do not fit a URL
   * (https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries).
   */
  private postForm(path: string, params: Record<string, string>, signal: AbortSignal, timeoutMs: number) {
    return httpRequest('prometheus', {
      method: 'POST',
      url: `${this.base}${path}`,
      headers: { ...this.headers, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      timeoutMs,
      signal,
    });
  }

  /**
   * Every query runs only against PROMETHEUS_URL (never the generatorURL's host), with
   * Prometheus' own evaluation `timeout` set to what is left of the budget, so it stops
   * working when we stop waiting, and `limit` one above the series cap (Prometheus 2.54+;
   * older versions ignore it and the cap is applied here), so a cut answer can be told.
   */
  private async queryRange(query: string, start: Date, end: Date, step: number, signal: AbortSignal, timeoutMs: number) {
    const params = {
      query,
      start: (start.getTime() / 1000).toString(),
      end: (end.getTime() / 1000).toString(),
      step: `${step}s`,
      timeout: `${Math.max(1, Math.floor(timeoutMs))}ms`,
      limit: String(this.maxSeries + 1),
    };
    const res = await this.postForm('/api/v1/query_range', params, signal, timeoutMs);
    return parseJsonBody('prometheus', res, matrixSchema).data.result;
  }

  private async exemplars(query: string, start: Date, end: Date, signal: AbortSignal, timeoutMs: number): Promise<Exemplar[]> {
    const params = { query, start: (start.getTime() / 1000).toString(), end: (end.getTime() / 1000).toString() };
    const res = await this.postForm('/api/v1/query_exemplars', params, signal, timeoutMs);
    const out: Exemplar[] = [];
    for (const s of parseJsonBody('prometheus', res, exemplarsSchema).data ?? []) {
      for (const e of s.exemplars) {
        const traceId = TRACE_ID_LABELS.map((l) => e.labels[l]).find((v) => v && /^[0-9a-fA-F]{1,32}$/.test(v));
        const value = Number(e.value);
        if (traceId && Number.isFinite(value))
          out.push({ seriesLabels: s.seriesLabels, traceId: normaliseTraceId(traceId), value, timestamp: e.timestamp });
      }
    }
    return out;
  }
}
