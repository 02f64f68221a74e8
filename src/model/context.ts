import { z } from 'zod';

/**
 * Evidence from outside the telemetry (issue 12 items 3-5): what changed before the incident,
 * which other alerts are firing, and this alert's own history. Gathered by the changes,
 * alertmanager and history sources; analyze turns each into findings of kind `change`,
 * `alert` and `history`.
 */

/** Where a pushed change event is stored in Loki (one JSON line per event). */
export const CHANGE_JOB_LABEL = 'alert-annotator-changes';

const rfc3339 = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'must be an RFC 3339 timestamp');

/** The body of `POST /events/change`, sent by CI/CD or a GitOps controller. */
export const changeEventInputSchema = z.strictObject({
  service: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\s"{}]+$/, 'no spaces, quotes or braces'),
  kind: z.enum(['deploy', 'config', 'flag', 'infra']),
  version: z.string().max(200).optional(),
  description: z.string().max(1000).optional(),
  link: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .optional(),
  /** When it happened; the time it was received when absent. */
  time: rfc3339.optional(),
});
export type ChangeEventInput = z.infer<typeof changeEventInputSchema>;

/** A change as the analysis sees it: pushed by a user, or seen in Prometheus. */
export const changeEventSchema = z.object({
  service: z.string(),
  kind: z.enum(['deploy', 'config', 'flag', 'infra', 'restart']),
  time: rfc3339,
  version: z.string().optional(),
  /** The version before, when Prometheus showed both. */
  from: z.string().optional(),
  description: z.string().optional(),
  link: z.string().optional(),
  /** `pushed` (POST /events/change) or `prometheus` (a build-info label, a restart, a config reload). */
  origin: z.enum(['pushed', 'prometheus']),
});
export type ChangeEvent = z.infer<typeof changeEventSchema>;

/** Another alert firing in Alertmanager at analysis time (API v2 /api/v2/alerts). */
export const otherAlertSchema = z.object({
  alertname: z.string(),
  /** The service its labels name, when they name one. */
  service: z.string().optional(),
  startsAt: rfc3339,
  severity: z.string().optional(),
  fingerprint: z.string(),
});
export type OtherAlert = z.infer<typeof otherAlertSchema>;

/** One earlier occurrence of the same alert, from its annotation records in Loki. */
export const historyEntrySchema = z.object({
  startsAt: rfc3339,
  /** How long it lasted, when a resolved record says (ms). */
  durationMs: z.number().nonnegative().optional(),
  /** The top suspect and the root cause the record named, unless feedback marked it wrong. */
  suspect: z.string().optional(),
  rootCause: z.string().optional(),
  confidence: z.enum(['low', 'medium', 'high']).optional(),
  /** Feedback said the named cause was wrong: it is no evidence for "last time". */
  wrong: z.boolean().optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const historySchema = z.object({
  /** The days searched. */
  days: z.number().int().positive(),
  entries: z.array(historyEntrySchema),
});
export type History = z.infer<typeof historySchema>;
