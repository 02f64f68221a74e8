import { z } from 'zod';
import { findingSchema, suspectSchema } from './analysis';
import type { Analysis } from './analysis';
import type { Narration } from './narration';
import type { Alert, WebhookPayload } from './alert';
import { isZeroTime } from './alert';
import { formatDuration } from '../text';
import { verdictSchema, type Verdict } from './verdict';
import { llmUsageSchema } from './narration';

/** The annotation record: one Loki line per alert (docs/architecture.md, "The annotation record"). */
export const annotationRecordSchema = z.looseObject({
  fingerprint: z.string(),
  alertname: z.string(),
  status: z.enum(['firing', 'resolved']),
  severity: z.string(),
  startsAt: z.string(),
  endsAt: z.string(),
  labels: z.record(z.string(), z.string()),
  groupKey: z.string(),
  summary: z.string(),
  rootCause: z.string(),
  actions: z.array(z.string()),
  confidence: z.enum(['low', 'medium', 'high']),
  suspects: z.array(suspectSchema),
  findings: z.array(findingSchema),
  relatedTraceIds: z.array(z.string()),
  traceId: z.string(),
  narrator: z.string(),
  promptVersion: z.string(),
  /** Evidence ids the narrative cites. */
  evidence: z.array(z.string()).optional(),
  /** When this record was written (RFC 3339). */
  annotatedAt: z.string(),
  /** Slack message ts of the group, so the reference survives a Redis flush. */
  slackTs: z.string().optional(),
  /** The channel id (C…) of that message: chat.update takes the id, not the channel's name. */
  slackChannel: z.string().optional(),
  generatorURL: z.string().optional(),
  runbookUrl: z.string().optional(),
  /** What the reader should do, derived from the analysis (src/publish/verdict.ts); absent on resolve records. */
  verdict: verdictSchema.optional(),
  /** Model calls and tokens behind this note; absent when no model was asked. */
  llm: llmUsageSchema.optional(),
  /** The route (ROUTES_FILE) that chose this alert's targets; absent without a routes file. */
  route: z.string().optional(),
  /** The tenant the alert belongs to (a route's `tenant` or TENANT_LABEL). */
  tenant: z.string().optional(),
  /** The route's extra links (ROUTES_FILE `links`), shown in Slack and PagerDuty after the built-in ones. */
  links: z.array(z.object({ title: z.string(), url: z.string() })).optional(),
});

export type AnnotationRecord = z.infer<typeof annotationRecordSchema>;

export function severityOf(labels: Record<string, string>): string {
  return labels.severity ?? labels.priority ?? 'none';
}

/** One record for one alert, from the group's analysis and narration. */
export function buildRecord(args: {
  alert: Alert;
  groupKey: WebhookPayload['groupKey'];
  analysis: Analysis;
  narration: Narration;
  traceId: string;
  now: Date;
  verdict?: Verdict;
}): AnnotationRecord {
  const { alert, analysis, narration } = args;
  return {
    fingerprint: alert.fingerprint,
    alertname: alert.labels.alertname ?? 'unknown',
    status: alert.status,
    severity: severityOf(alert.labels),
    startsAt: alert.startsAt,
    endsAt: alert.endsAt,
    labels: alert.labels,
    groupKey: args.groupKey,
    summary: narration.summary,
    rootCause: narration.rootCause,
    actions: narration.actions,
    confidence: narration.confidence,
    suspects: analysis.suspects,
    findings: analysis.findings,
    relatedTraceIds: analysis.relatedTraceIds,
    traceId: args.traceId,
    narrator: narration.narrator,
    promptVersion: narration.promptVersion,
    evidence: narration.evidence,
    annotatedAt: args.now.toISOString(),
    ...(alert.generatorURL ? { generatorURL: alert.generatorURL } : {}),
    ...(alert.annotations.runbook_url ? { runbookUrl: alert.annotations.runbook_url } : {}),
    ...(args.verdict ? { verdict: args.verdict } : {}),
    ...(narration.llm ? { llm: narration.llm } : {}),
  };
}

/** The record of a resolved alert: what resolved and after how long. No model call. */
export function buildResolvedRecord(args: { alert: Alert; groupKey: string; traceId: string; now: Date }): AnnotationRecord {
  const { alert } = args;
  const ended = isZeroTime(alert.endsAt) ? args.now.getTime() : Date.parse(alert.endsAt);
  const duration = formatDuration(Math.max(0, ended - Date.parse(alert.startsAt)));
  const name = alert.labels.alertname ?? 'alert';
  const what = alert.annotations.summary ? `: ${alert.annotations.summary}` : '';
  const narration: Narration = {
    summary: `Resolved after ${duration} — ${name}${what}`.slice(0, 280),
    rootCause: 'Resolved; see the firing annotation for the root cause.',
    evidence: [],
    actions: ['Confirm recovery and record the cause in the incident notes'],
    confidence: 'low',
    narrator: 'template',
    promptVersion: 'template-v1',
  };
  return buildRecord({
    ...args,
    analysis: { findings: [], suspects: [], relatedTraceIds: [], confidence: 'low' },
    narration,
  });
}

export const RECORD_JOB_LABEL = 'alert-annotator';

/** Stream labels of a record: low cardinality only (docs/architecture.md). */
export function recordLabels(r: Pick<AnnotationRecord, 'alertname' | 'severity' | 'status'>): Record<string, string> {
  return { job: RECORD_JOB_LABEL, alertname: r.alertname, severity: r.severity, status: r.status };
}
