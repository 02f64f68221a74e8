import { z } from 'zod';
import { alertKey } from './alert';
import { RECORD_JOB_LABEL } from './record';
import { verdictSchema } from './verdict';

/**
 * What on-call said about a note: one Loki line in the annotator's stream (`job`), with
 * `kind: "feedback"`. `verdict` is the rating (`right` / `wrong`); `noteVerdict` is what the
 * card said to do. A later line for the same alert and user replaces an earlier one.
 */
export const feedbackRecordSchema = z.looseObject({
  kind: z.literal('feedback'),
  fingerprint: z.string(),
  startsAt: z.string(),
  verdict: z.enum(['right', 'wrong']),
  noteVerdict: verdictSchema.optional(),
  alertname: z.string().optional(),
  /** The Slack user who rated the note (U…). */
  user: z.string(),
  reason: z.string().optional(),
  at: z.string(),
});
export type FeedbackRecord = z.infer<typeof feedbackRecordSchema>;

/** Stream labels of a feedback line: the records' job, and `kind` to tell them apart in LogQL. */
export function feedbackLabels(f: Pick<FeedbackRecord, 'alertname'>): Record<string, string> {
  return { job: RECORD_JOB_LABEL, kind: 'feedback', alertname: f.alertname ?? 'unknown' };
}

/** A Loki line is feedback, not an annotation record. */
export function isFeedbackLine(line: unknown): line is FeedbackRecord {
  return feedbackRecordSchema.safeParse(line).success;
}

/**
 * The alerts whose note on-call marked wrong (the latest rating of each user counts; one
 * user's "wrong" outweighs nobody). History uses it so a cause marked wrong is never offered
 * as "last time" evidence.
 */
export function markedWrong(feedback: readonly FeedbackRecord[]): Set<string> {
  const latest = new Map<string, FeedbackRecord>();
  for (const f of [...feedback].sort((a, b) => a.at.localeCompare(b.at))) latest.set(`${alertKey(f)}\u0000${f.user}`, f);
  const votes = new Map<string, number>();
  for (const f of latest.values()) votes.set(alertKey(f), (votes.get(alertKey(f)) ?? 0) + (f.verdict === 'wrong' ? -1 : 1));
  return new Set([...votes].filter(([, n]) => n < 0).map(([k]) => k));
}

/** Annotation records (or anything with fingerprint and startsAt) without the ones marked wrong. */
export function withoutMarkedWrong<T extends { fingerprint: string; startsAt: string }>(
  records: readonly T[],
  feedback: readonly FeedbackRecord[],
): T[] {
  const wrong = markedWrong(feedback);
  return records.filter((r) => !wrong.has(alertKey(r)));
}
