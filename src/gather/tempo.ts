import { z } from 'zod';
import { normaliseTraceId } from '../model/otlp';
import { httpRequest, parseJsonBody } from '../clients/http';
import type { Alert } from '../model/alert';
import { splitCredentials } from '../clients/http';
import { reasonText, remaining, settleLimited } from './budget';
import { traceSchema, type Trace } from '../model/evidence';
import type { GatherRequest, Source, SourceResult } from './source';

/**
 * Trace evidence from Tempo: a TraceQL search (https://grafana.com/docs/tempo/latest/api_docs/#search)
 * for erroring or slow spans of the alerting services in the incident window, then the top
 * traces fetched whole (`/api/traces/<id>`, which Tempo 2.0 answers as `batches` with base64
 * ids; the analysis accepts both forms). Search sees a trace only once its block is flushed
 * (about a minute), so the freshest failures may be missing: partial results are fine.
 */

const searchSchema = z.object({
  traces: z
    .array(
      z.looseObject({
        traceID: z.string().regex(/^[0-9a-fA-F]{1,32}$/),
        rootServiceName: z.string().optional(),
        durationMs: z.number().optional(),
        spanSet: z
          .looseObject({
            spans: z
              .array(
                z.looseObject({
                  attributes: z
                    .array(z.looseObject({ key: z.string(), value: z.looseObject({ stringValue: z.string().optional() }) }))
                    .optional(),
                }),
              )
              .optional(),
          })
          .optional(),
      }),
    )
    .nullish(),
});

export interface TempoSourceOptions {
  url: string;
  timeoutMs: number;
  /** Labels that name the service, in order (SERVICE_LABELS). */
  serviceLabels: readonly string[];
  /** Traces fetched whole. */
  traceLimit: number;
  /** A span slower than this counts as slow. */
  slowMs: number;
  /** X-Scope-OrgID for a multi-tenant Tempo. */
  tenant?: string;
}

function serviceOf(alert: Pick<Alert, 'labels'>, labels: readonly string[]): string | undefined {
  for (const l of labels) if (alert.labels[l]) return alert.labels[l];
  return undefined;
}

/** Erroring or slow spans of one service; TraceQL strings are double-quoted with Go escapes, as JSON's. */
export function traceqlFor(service: string, slowMs: number): string {
  const svc = `resource.service.name = ${JSON.stringify(service)}`;
  return `{ ${svc} && status = error } || { ${svc} && duration > ${Math.round(slowMs)}ms }`;
}

type SearchHit = z.infer<typeof searchSchema>['traces'] extends (infer T)[] | null | undefined ? T : never;

function hasErrorSpan(t: SearchHit): boolean {
  return (t.spanSet?.spans ?? []).some((s) => (s.attributes ?? []).some((a) => a.key === 'status' && a.value.stringValue === 'error'));
}

/** At most this many services searched per group. */
const MAX_SERVICES = 3;

export class TempoSource implements Source {
  readonly name = 'tempo' as const;
  private readonly base: string;
  private readonly auth: Record<string, string>;

  constructor(private readonly opts: TempoSourceOptions) {
    const { url, headers } = splitCredentials(opts.url);
    this.base = url;
    this.auth = headers;
  }

  private headers(): Record<string, string> {
    return { ...this.auth, Accept: 'application/json', ...(this.opts.tenant ? { 'X-Scope-OrgID': this.opts.tenant } : {}) };
  }

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const w = req.windows;
    const services = [...new Set(req.alerts.map((a) => serviceOf(a, this.opts.serviceLabels)).filter((s): s is string => !!s))].slice(
      0,
      MAX_SERVICES,
    );
    if (services.length === 0) return { traces: [], partial: 'no alert label names a service (SERVICE_LABELS)' };

    const searches = await settleLimited(
      services,
      3,
      async (service) => {
        const params = new URLSearchParams({
          q: traceqlFor(service, this.opts.slowMs),
          // Tempo wants unix seconds; without start/end it searches only recent, unflushed data.
          start: String(Math.floor(w.incidentStart.getTime() / 1000)),
          end: String(Math.ceil(w.end.getTime() / 1000)),
          limit: String(Math.max(this.opts.traceLimit * 2, 20)),
        });
        const res = await httpRequest('tempo', {
          url: `${this.base}/api/search?${params.toString()}`,
          headers: this.headers(),
          timeoutMs: remaining(deadline),
          signal,
        });
        return parseJsonBody('tempo', res, searchSchema).traces ?? [];
      },
      deadline,
    );
    const notes: string[] = [];
    const hits = new Map<string, SearchHit>();
    for (const r of searches) {
      if (r.status === 'rejected') notes.push(`search: ${reasonText(r.reason)}`);
      else for (const t of r.value) hits.set(normaliseTraceId(t.traceID), t);
    }
    const firstRejection = searches.find((r) => r.status === 'rejected');
    if (firstRejection && notes.length === searches.length) throw firstRejection.reason;

    // Erroring traces first, then the slowest: they say the most about where it breaks.
    const ranked = [...hits.entries()]
      .sort(([, a], [, b]) => Number(hasErrorSpan(b)) - Number(hasErrorSpan(a)) || (b.durationMs ?? 0) - (a.durationMs ?? 0))
      .slice(0, this.opts.traceLimit)
      .map(([id]) => id);
    const fetched = await settleLimited(
      ranked,
      4,
      async (id) => {
        const res = await httpRequest('tempo', {
          url: `${this.base}/api/traces/${id}`,
          headers: this.headers(),
          timeoutMs: remaining(deadline),
          signal,
        });
        return parseJsonBody('tempo', res, traceSchema);
      },
      deadline,
    );
    const traces: Trace[] = [];
    let failed = 0;
    for (const r of fetched) {
      if (r.status === 'fulfilled') traces.push(r.value);
      else if (failed++ === 0) notes.push(`trace fetch: ${reasonText(r.reason)}`);
    }
    if (failed > 1) notes.push(`${failed} of ${ranked.length} traces not fetched`);
    return { traces, ...(notes.length ? { partial: notes.join('; ') } : {}) };
  }
}
