import { z } from 'zod';

/**
 * Alertmanager webhook payload, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
 * Known fields are typed; unknown fields that newer Alertmanagers add are kept (loose).
 */

/**
 * Most UTF-8 bytes of one label value (4 KiB). Alertmanager itself sets no limit, so a longer
 * value is cut, not refused: refusing would drop the whole group's alert (Alertmanager does
 * not retry a 4xx). The cut value ends with `…[cut N bytes]` and is at most this long with the
 * marker, so a value read back (a job, a record) parses to itself. Identity is untouched:
 * dedup and grouping use Alertmanager's fingerprint and groupKey, never a label value.
 */
export const MAX_LABEL_VALUE_BYTES = 4096;
/** Most UTF-8 bytes of one annotation value (16 KiB): descriptions and runbook text run longer than labels. */
export const MAX_ANNOTATION_VALUE_BYTES = 16384;

/** `value` cut to at most `max` UTF-8 bytes, marker included, at a character boundary. */
export function capValue(value: string, max: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short values need no count.
  if (value.length * 3 <= max || Buffer.byteLength(value) <= max) return value;
  const total = Buffer.byteLength(value);
  // The marker's length depends on the count it names; a generous budget keeps one pass.
  let keep = Math.max(0, max - Buffer.byteLength(`…[cut ${total} bytes]`));
  const bytes = Buffer.from(value);
  // Step back off a UTF-8 continuation byte so no character is split.
  while (keep > 0 && (bytes[keep]! & 0xc0) === 0x80) keep--;
  return `${bytes.subarray(0, keep).toString('utf8')}…[cut ${total - keep} bytes]`;
}

const labelValue = z.string().transform((v) => capValue(v, MAX_LABEL_VALUE_BYTES));
const labelSet = z.record(z.string(), labelValue);
const annotationSet = z.record(
  z.string(),
  z.string().transform((v) => capValue(v, MAX_ANNOTATION_VALUE_BYTES)),
);
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
const alertLabels: z.ZodType<Record<string, string>> = z.looseObject({ alertname: labelValue }).catchall(labelValue);

export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: alertLabels,
  annotations: annotationSet.default({}),
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
  commonAnnotations: annotationSet.default({}),
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
