import { z } from 'zod';
import type { LokiClient } from '../clients/loki';
import { logqlString } from '../clients/loki';
import { alertKey, isZeroTime, type Alert } from '../model/alert';
import type { HistoryEntry } from '../model/context';
import { feedbackRecordSchema, markedWrong, type FeedbackRecord } from '../model/feedback';
import { RECORD_JOB_LABEL } from '../model/record';
import { reasonText, remaining, settleLimited } from './budget';
import type { GatherRequest, Source, SourceResult } from './source';

/**
 * This alert's history (issue 12 item 5): the annotation records of earlier occurrences of the
 * same alert (same alertname and service labels) over the last 30 days, read back from Loki.
 * Loki refuses ranges over max_query_length (721 h by default), so the days are read in
 * chunks of at most 10 days. Feedback lines (`kind: "feedback"`) that mark a note wrong keep
 * its cause out of the "last time" evidence.
 */

export const HISTORY_DAYS = 30;
const CHUNK_DAYS = 10;
const DAY_MS = 86_400_000;

const recordLine = z.looseObject({
  fingerprint: z.string(),
  alertname: z.string(),
  status: z.enum(['firing', 'resolved']),
  startsAt: z.string(),
  endsAt: z.string(),
  labels: z.record(z.string(), z.string()),
  rootCause: z.string().optional(),
  confidence: z.enum(['low', 'medium', 'high']).optional(),
  suspects: z.array(z.looseObject({ service: z.string() })).optional(),
  annotatedAt: z.string().optional(),
});
type RecordLine = z.infer<typeof recordLine>;

export interface HistorySourceOptions {
  client: LokiClient;
  serviceLabels: readonly string[];
  timeoutMs: number;
  /** Lines per chunk (LOKI_LINE_LIMIT). */
  limit: number;
  days?: number;
}

/** Occurrences with the same alertname whose service labels equal the alert's. */
function sameAlert(r: RecordLine, alert: Alert, serviceLabels: readonly string[]): boolean {
  return (
    r.alertname === (alert.labels.alertname ?? 'unknown') && serviceLabels.every((l) => (r.labels[l] ?? '') === (alert.labels[l] ?? ''))
  );
}

/** Records and feedback lines → one entry per earlier occurrence, newest first. */
export function historyEntries(lines: readonly string[], alert: Alert, serviceLabels: readonly string[], beforeMs: number): HistoryEntry[] {
  const records: RecordLine[] = [];
  const feedback: FeedbackRecord[] = [];
  for (const line of lines) {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const f = feedbackRecordSchema.safeParse(raw);
    if (f.success) {
      feedback.push(f.data);
      continue;
    }
    const r = recordLine.safeParse(raw);
    if (r.success && sameAlert(r.data, alert, serviceLabels)) records.push(r.data);
  }
  const wrong = markedWrong(feedback);
  const byKey = new Map<string, { firing?: RecordLine; resolved?: RecordLine }>();
  for (const r of records) {
    const t = Date.parse(r.startsAt);
    if (Number.isNaN(t) || t >= beforeMs) continue; // this occurrence, or a later one
    const k = alertKey(r);
    const cur = byKey.get(k) ?? {};
    // The latest record of each status wins (a re-analysis replaces the first note).
    const slot = r.status === 'firing' ? 'firing' : 'resolved';
    if (!cur[slot] || (r.annotatedAt ?? '') >= (cur[slot]!.annotatedAt ?? '')) cur[slot] = r;
    byKey.set(k, cur);
  }
  const out: HistoryEntry[] = [];
  for (const [k, { firing, resolved }] of byKey) {
    const any = (firing ?? resolved)!;
    const start = Date.parse(any.startsAt);
    const end = resolved && !isZeroTime(resolved.endsAt) ? Date.parse(resolved.endsAt) : NaN;
    const suspect = firing?.suspects?.[0]?.service;
    out.push({
      startsAt: new Date(start).toISOString(),
      ...(Number.isFinite(end) && end >= start ? { durationMs: end - start } : {}),
      ...(suspect ? { suspect } : {}),
      ...(firing?.rootCause ? { rootCause: firing.rootCause } : {}),
      ...(firing?.confidence ? { confidence: firing.confidence } : {}),
      ...(wrong.has(k) ? { wrong: true } : {}),
    });
  }
  return out.sort((a, b) => Date.parse(b.startsAt) - Date.parse(a.startsAt));
}

export class HistorySource implements Source {
  readonly name = 'history' as const;
  constructor(private readonly opts: HistorySourceOptions) {}

  async gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const alert = req.alerts[0];
    const days = this.opts.days ?? HISTORY_DAYS;
    if (!alert) return { history: { days, entries: [] } };
    const endMs = req.windows.anchor.getTime();
    const chunks: { start: Date; end: Date }[] = [];
    for (let from = endMs - days * DAY_MS; from < endMs; from += CHUNK_DAYS * DAY_MS) {
      chunks.push({ start: new Date(from), end: new Date(Math.min(endMs, from + CHUNK_DAYS * DAY_MS)) });
    }
    const name = logqlString(alert.labels.alertname ?? 'unknown');
    const query = `{job="${RECORD_JOB_LABEL}", alertname=${name}}`;
    const results = await settleLimited(chunks, 3, (c) =>
      this.opts.client.queryRange(query, { ...c, limit: this.opts.limit, direction: 'backward' }, signal, remaining(deadline)),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length === chunks.length) throw failed[0]!.reason;
    const lines = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.flatMap((s) => s.values.map((v) => v[1])) : []));
    const full = results.some((r) => r.status === 'fulfilled' && r.value.reduce((n, s) => n + s.values.length, 0) >= this.opts.limit);
    const notes = [
      ...(failed.length ? [`${failed.length} of ${chunks.length} chunks failed; first: ${reasonText(failed[0]!.reason)}`] : []),
      ...(full ? [`a chunk was cut at ${this.opts.limit} lines`] : []),
    ];
    return {
      history: { days, entries: historyEntries(lines, alert, this.opts.serviceLabels, endMs) },
      ...(notes.length ? { partial: notes.join('; ') } : {}),
    };
  }
}
