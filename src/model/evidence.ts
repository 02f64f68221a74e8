import { z } from 'zod';
import { webhookPayloadSchema } from './alert';
import { changeEventSchema, historySchema, otherAlertSchema } from './context';

/**
 * The evidence bundle (docs/architecture.md, "Evidence bundles"): everything gather collected for one
 * alert group, serialisable to one JSON file. analyze consumes only this.
 */

const seriesSchema = z.object({
  /** The alert's own PromQL expression, or null for a related series. */
  query: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  /** Prometheus matrix style: [unix seconds, "value"]. */
  values: z.array(z.tuple([z.number(), z.string()])),
  /** What the series measures, from the related-query template ("p99 latency"); optional. */
  name: z.string().optional(),
  /** Unit for the finding text ("s", "ratio", "bytes", "%", "req/s"); optional. */
  unit: z.string().optional(),
});

/** One exemplar of the alert's metric (Prometheus /api/v1/query_exemplars): links a sample to a trace. */
const exemplarSchema = z.object({
  seriesLabels: z.record(z.string(), z.string()),
  traceId: z.string(),
  value: z.number(),
  /** Unix seconds. */
  timestamp: z.number(),
});

const logStreamSchema = z.object({
  labels: z.record(z.string(), z.string()),
  /** Loki style: [unix nanoseconds as a string, line]. */
  values: z.array(z.tuple([z.string(), z.string()])),
});

/** One trace in OTLP JSON (`resourceSpans`), or Tempo's `batches` form; ids hex or base64. */
export const traceSchema = z.looseObject({
  resourceSpans: z.array(z.unknown()).optional(),
  batches: z.array(z.unknown()).optional(),
});

const sourceStatusSchema = z.object({
  source: z.enum(['prometheus', 'loki', 'tempo', 'changes', 'alertmanager', 'history']),
  status: z.enum(['ok', 'partial', 'failed', 'skipped']),
  /** Why it failed or was skipped; never a URL with credentials. */
  detail: z.string().optional(),
});

export const evidenceBundleSchema = z.looseObject({
  payload: webhookPayloadSchema,
  /** The analysis time (RFC 3339). */
  now: z.string(),
  series: z.array(seriesSchema).default([]),
  logs: z.array(logStreamSchema).default([]),
  traces: z.array(traceSchema).default([]),
  /** The windows the sources queried (RFC 3339), so a replay compares the same spans of time. */
  windows: z
    .object({
      baselineStart: z.string(),
      incidentStart: z.string(),
      /**
       * Where the incident window ends: now, but at most an hour after startsAt (window.ts).
       * Absent in bundles written before it was recorded; analyze then recomputes it.
       */
      end: z.string().optional(),
      /**
       * Set when Loki's line limit cut a window: the oldest line it returned. Log rates are
       * computed from there, so a truncated baseline does not make every pattern look surging.
       */
      logsBaselineFrom: z.string().optional(),
      logsIncidentFrom: z.string().optional(),
    })
    .refine(
      (w) =>
        [
          w.baselineStart,
          w.incidentStart,
          w.end ?? w.incidentStart,
          w.logsBaselineFrom ?? w.baselineStart,
          w.logsIncidentFrom ?? w.incidentStart,
        ].every((t) => !Number.isNaN(Date.parse(t))),
      'must be RFC 3339 timestamps',
    )
    .optional(),
  /** Exemplars of the alert's metric; their trace ids go into relatedTraceIds. */
  exemplars: z.array(exemplarSchema).optional(),
  /** What each source did; absent in hand-written bundles. */
  sources: z.array(sourceStatusSchema).optional(),
  /** Deploys, config reloads, restarts before the incident (the changes source). */
  changes: z.array(changeEventSchema).optional(),
  /** Other alerts firing in Alertmanager at analysis time (the alertmanager source). */
  otherAlerts: z.array(otherAlertSchema).optional(),
  /** Earlier occurrences of the same alert, from its records in Loki (the history source). */
  history: historySchema.optional(),
});

export type Series = z.infer<typeof seriesSchema>;
export type LogStream = z.infer<typeof logStreamSchema>;
export type Trace = z.infer<typeof traceSchema>;
export type Exemplar = z.infer<typeof exemplarSchema>;
export type SourceStatus = z.infer<typeof sourceStatusSchema>;
export type EvidenceBundle = z.infer<typeof evidenceBundleSchema>;

export function isEvidenceBundle(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'payload' in value && 'now' in value;
}
