import { z } from 'zod';

/** The deterministic output of analysis: docs/architecture.md, "analyze". */

/**
 * What a finding is about. `coverage`: how much data a window really held ("baseline: 2 min of
 * data"); `unrelated`: an anomaly off the alert's causal path or long before it, reported so a
 * reader knows it was seen and set aside, never a suspect. `change`: a deploy, config reload,
 * flag flip or restart before the incident (`D1`); `alert` also covers other alerts firing on
 * connected services (`F1`); `history`: earlier occurrences of the same alert (`H1`).
 */
export const findingKindSchema = z.enum(['metric', 'log', 'trace', 'source', 'alert', 'coverage', 'unrelated', 'change', 'history']);

export const findingSchema = z.object({
  /**
   * `M1`, `L2`, `T1`, `S1` (source status), `A1` (alert facts), `C1` (coverage), `U1` (unrelated
   * change) … unique within one analysis.
   */
  id: z.string().regex(/^[A-Z]\d+$/),
  kind: findingKindSchema,
  /** One line of plain text with numbers. */
  text: z.string(),
  /** The service the finding is about, when there is one. */
  service: z.string().optional(),
  /**
   * The text quotes what an application wrote (a span's status message): data anyone who can
   * make it fail controls. Log findings always are. See isUntrustedFinding.
   */
  untrusted: z.boolean().optional(),
});

/**
 * Independent kinds of evidence that can back a suspect. `change` (a deploy, restart, config
 * reload), `firing` (another alert on it) and `history` (it was the cause last time) come from
 * sources beyond the telemetry; the ranking counts each as one more signal (rank.ts).
 */
export const signalKindSchema = z.enum(['metric', 'log', 'trace', 'change', 'firing', 'history']);

export const suspectSchema = z.object({
  service: z.string(),
  indicator: z.string(),
  score: z.number(),
  /** What backs it, per kind: how many series, patterns, trace facts or events. */
  signals: z.array(z.object({ kind: signalKindSchema, count: z.number().int().nonnegative() })).optional(),
});

export const analysisSchema = z.object({
  findings: z.array(findingSchema),
  suspects: z.array(suspectSchema),
  relatedTraceIds: z.array(z.string()),
  confidence: z.enum(['low', 'medium', 'high']),
  /**
   * Every service the evidence names (series labels, log streams, span resources), sorted:
   * the topology a narrator's answer is checked against. Absent in analyses stored before it.
   */
  services: z.array(z.string()).optional(),
});

export type Finding = z.infer<typeof findingSchema>;
export type Suspect = z.infer<typeof suspectSchema>;
export type SignalKind = z.infer<typeof signalKindSchema>;
export type Analysis = z.infer<typeof analysisSchema>;

/**
 * Findings whose text quotes application output (log patterns, span status messages): a
 * narrator sees them only inside the prompt's untrusted data section, our own prose cites
 * them by id, and no word of them counts as known to the grounding check.
 */
export function isUntrustedFinding(f: Pick<Finding, 'kind' | 'untrusted'>): boolean {
  return f.kind === 'log' || f.untrusted === true;
}
