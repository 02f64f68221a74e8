import { z } from 'zod';

/**
 * Alertmanager webhook payload, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
 * Known fields are typed; unknown fields that newer Alertmanagers add are kept (loose).
 */

const labelSet = z.record(z.string(), z.string());
// Go's time.Time JSON form (RFC 3339, fractional seconds optional), and a real calendar date
// and time: `2025-19-45T99:99:99Z` matches the shape but would make NaN of every duration
// and of Loki's nanosecond times. Plain arithmetic on the captures rather than Date.parse
// (which takes February 30th): this runs for every alert of every webhook (bench:ingest).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True for an RFC 3339 timestamp that names a real instant (a real day of a real month, 00:00:00-23:59:59). */
export function isRealTimestamp(ts: string): boolean {
  const m = RFC3339.exec(ts);
  if (!m) return false;
  const n = (i: number) => Number(m[i]);
  const [year, month, day] = [n(1), n(2), n(3)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (days === undefined || day < 1 || day > days || n(4) > 23 || n(5) > 59 || n(6) > 59) return false;
  return m[9] === undefined || (n(9) <= 23 && n(10) <= 59);
}

const timestamp = z.string().refine(isRealTimestamp, 'must be an RFC 3339 timestamp of a real date and time');
/** Every alert has an alertname; all label values are strings. Typed as a plain label set. */
const alertLabels: z.ZodType<Record<string, string>> = z.looseObject({ alertname: z.string() }).catchall(z.string());

export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: alertLabels,
  annotations: labelSet.default({}),
  startsAt: timestamp,
  endsAt: timestamp.default('0001-01-01T00:00:00Z'),
  generatorURL: z.string().default(''),
  fingerprint: z.string().regex(/^[0-9a-f]{1,32}$/, 'must be a hex fingerprint'),
});

export const webhookPayloadSchema = z.looseObject({
  version: z.string().default('4'),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().default(''),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(alertSchema).min(1).max(10000),
});

export type Alert = z.infer<typeof alertSchema>;
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

/** Alertmanager's zero time (`0001-01-01T00:00:00Z`), the endsAt of a firing alert. */
export function isZeroTime(ts: string): boolean {
  return ts.startsWith('0001-01-01');
}

/**
 * The identity of one annotation: docs/architecture.md, "dedup". The time is normalised so that two
 * spellings of one instant agree; a startsAt that does not parse (a record read back from
 * storage, not a validated webhook) is kept verbatim instead of throwing.
 */
export function alertKey(alert: Pick<Alert, 'fingerprint' | 'startsAt'>): string {
  const t = Date.parse(alert.startsAt);
  return `${alert.fingerprint}@${Number.isNaN(t) ? alert.startsAt : new Date(t).toISOString()}`;
}

/** Human-readable issues list for a 400 answer. */
export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}
