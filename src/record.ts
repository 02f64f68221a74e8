import { z } from 'zod';
import { findingSchema, suspectSchema } from './analyze/types';

/** The annotation record: one Loki line per alert (DESIGN.md, "The annotation record"). */
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
  generatorURL: z.string().optional(),
  runbookUrl: z.string().optional(),
});

export type AnnotationRecord = z.infer<typeof annotationRecordSchema>;
