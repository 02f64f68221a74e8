import { z } from 'zod';
import { alertKey, isZeroTime, webhookPayloadSchema, type WebhookPayload } from '../model/alert';
import { annotationRecordSchema, type AnnotationRecord } from '../model/record';

/**
 * What a chat message shows for one Alertmanager group: every alert seen so far with its
 * latest status, and the narration to display (`lead`). Events arrive one at a time (new
 * alerts, narration follow-up, resolve of some alerts), so each update merges into the
 * view remembered for the group instead of rendering only the event's own records.
 */

const alertLineSchema = z.object({
  fingerprint: z.string(),
  startsAt: z.string(),
  endsAt: z.string(),
  status: z.enum(['firing', 'resolved']),
  alertname: z.string(),
  severity: z.string(),
  labels: z.record(z.string(), z.string()),
  generatorURL: z.string().optional(),
  runbookUrl: z.string().optional(),
});

/**
 * What the card's buttons did (src/interactions.ts): its status lines ("marked right by @x",
 * "Silenced by @x until …", our own mrkdwn) and the buttons that are done. Kept with the view
 * so every later rendering of the card (narration, re-analysis, resolve) shows them too.
 */
const cardMarksSchema = z.object({
  lines: z.array(z.string().max(500)).max(10),
  done: z.array(z.string().max(100)).max(20),
});

export const groupViewSchema = z.object({
  /** The record whose narration the message shows: the latest firing one. */
  lead: annotationRecordSchema,
  alerts: z.array(alertLineSchema),
  /** The resolve record's summary ("Resolved after …"): what the message says once every alert resolved. */
  resolution: z.string().optional(),
  marks: cardMarksSchema.optional(),
});

export type AlertLine = z.infer<typeof alertLineSchema>;
export type CardMarks = z.infer<typeof cardMarksSchema>;
export type GroupView = z.infer<typeof groupViewSchema>;

/** A group can hold thousands of alerts; the message lists a few, the state keeps this many. */
const MAX_VIEW_ALERTS = 200;

export interface ViewChange {
  view: GroupView;
  /** Firing alerts the previous view did not have. */
  added: AlertLine[];
  /** Alerts this change moved from firing to resolved. */
  resolved: AlertLine[];
  /** True when this change resolved the last firing alert of the group. */
  resolvedNow: boolean;
}

function toLine(r: AnnotationRecord): AlertLine {
  return {
    fingerprint: r.fingerprint,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    status: r.status,
    alertname: r.alertname,
    severity: r.severity,
    labels: r.labels,
    ...(r.generatorURL ? { generatorURL: r.generatorURL } : {}),
    ...(r.runbookUrl ? { runbookUrl: r.runbookUrl } : {}),
  };
}

export function allResolved(view: Pick<GroupView, 'alerts'>): boolean {
  return view.alerts.length > 0 && view.alerts.every((a) => a.status === 'resolved');
}

/** Merges an event's records into the previous view (records must not be empty). */
export function mergeView(prev: GroupView | undefined, records: readonly AnnotationRecord[]): ViewChange {
  const lines = new Map<string, AlertLine>();
  for (const a of prev?.alerts ?? []) lines.set(alertKey(a), a);
  const added: AlertLine[] = [];
  const resolved: AlertLine[] = [];
  for (const r of records) {
    const key = alertKey(r);
    const before = lines.get(key);
    // State only moves forward: a late narration or a retried firing job for an alert that
    // already resolved changes the narrative (the lead), never the alert's status.
    if (before?.status === 'resolved' && r.status === 'firing') continue;
    if (!before && r.status === 'firing') added.push(toLine(r));
    if (r.status === 'resolved' && before?.status === 'firing') resolved.push(toLine(r));
    // Delete first so the newest information moves to the end (the trimming keeps the end).
    lines.delete(key);
    lines.set(key, toLine(r));
  }
  const firing = records.filter((r) => r.status === 'firing');
  const lead = firing[firing.length - 1] ?? prev?.lead ?? records[records.length - 1];
  if (!lead) throw new Error('mergeView needs at least one record');
  let alerts = [...lines.values()];
  if (alerts.length > MAX_VIEW_ALERTS) {
    // Keep firing alerts before resolved ones, newest last.
    const byStatus = [...alerts.filter((a) => a.status === 'resolved'), ...alerts.filter((a) => a.status === 'firing')];
    alerts = byStatus.slice(-MAX_VIEW_ALERTS);
  }
  const resolution = [...records].reverse().find((r) => r.status === 'resolved')?.summary ?? prev?.resolution;
  const view: GroupView = { lead, alerts, ...(resolution ? { resolution } : {}), ...(prev?.marks ? { marks: prev.marks } : {}) };
  const resolvedNow = allResolved(view) && !(prev && allResolved(prev));
  return { view, added, resolved, resolvedNow };
}

/** The view with one more status line (the last ten are kept) and more buttons done. */
export function markView(view: GroupView, line: string, done: readonly string[]): GroupView {
  const lines = [...(view.marks?.lines ?? []), line].slice(-10);
  const doneNow = [...new Set([...(view.marks?.done ?? []), ...done])].slice(0, 20);
  return { ...view, marks: { lines, done: doneNow } };
}

export function serviceOf(labels: Record<string, string>, names: readonly string[]): string | undefined {
  for (const n of names) if (labels[n]) return labels[n];
  return undefined;
}

/** First start, and last end when every alert has ended. */
export function groupTimes(alerts: readonly AlertLine[]): { start?: number; end?: number } {
  const starts = alerts.map((a) => Date.parse(a.startsAt)).filter((t) => !Number.isNaN(t));
  const start = starts.length ? Math.min(...starts) : undefined;
  if (!allResolved({ alerts: [...alerts] })) return { start };
  const ends = alerts
    .filter((a) => !isZeroTime(a.endsAt))
    .map((a) => Date.parse(a.endsAt))
    .filter((t) => !Number.isNaN(t));
  return { start, end: ends.length ? Math.max(...ends) : undefined };
}

/**
 * The firing alerts of a remembered group as a webhook payload, for a re-analysis asked
 * for from Slack (the original notification is gone by then). Annotations other than the
 * runbook were not kept; the analysis does not need them.
 */
export function payloadOfView(groupKey: string, view: GroupView): WebhookPayload | undefined {
  const firing = view.alerts.filter((a) => a.status === 'firing');
  if (firing.length === 0) return undefined;
  const common = Object.fromEntries(Object.entries(firing[0]!.labels).filter(([k, v]) => firing.every((a) => a.labels[k] === v)));
  const parsed = webhookPayloadSchema.safeParse({
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'slack-reanalyze',
    groupLabels: {},
    commonLabels: common,
    commonAnnotations: {},
    externalURL: '',
    alerts: firing.map((a) => ({
      status: 'firing',
      labels: a.labels,
      annotations: a.runbookUrl ? { runbook_url: a.runbookUrl } : {},
      startsAt: a.startsAt,
      endsAt: a.endsAt,
      generatorURL: a.generatorURL ?? '',
      fingerprint: a.fingerprint,
    })),
  });
  return parsed.success ? parsed.data : undefined;
}
