import { z } from 'zod';
import type { Analysis } from './analysis';
import type { Alert, WebhookPayload } from './alert';

/** What a narrator is given: already scrubbed alert context and findings, never raw series. */
export interface NarrationInput {
  payload: Pick<WebhookPayload, 'groupKey' | 'status' | 'commonLabels' | 'commonAnnotations' | 'groupLabels'>;
  /** The firing alerts being annotated (scrubbed). */
  alerts: Alert[];
  analysis: Analysis;
}

export const narrationSchema = z.object({
  summary: z.string().max(280),
  rootCause: z.string(),
  evidence: z.array(z.string()),
  actions: z.array(z.string()).min(1).max(5),
  confidence: z.enum(['low', 'medium', 'high']),
});

export type NarrationBody = z.infer<typeof narrationSchema>;

/** What the model calls behind one note cost (the record's `llm`). */
export const llmUsageSchema = z.object({
  /** Model calls made for this note (a corrective retry is a second call). */
  calls: z.number().int().min(0),
  promptTokens: z.number().int().min(0),
  completionTokens: z.number().int().min(0),
  /** Time spent in model calls. */
  ms: z.number().min(0),
  /** True when LLM_MAX_CALLS_PER_HOUR was reached and the note went out without the model. */
  capped: z.boolean().optional(),
});
export type LlmUsage = z.infer<typeof llmUsageSchema>;

export interface Narration extends NarrationBody {
  /** `ollama:<model>`, `openai:<model>` or `template`. */
  narrator: string;
  promptVersion: string;
  /** Set when a model was asked (even if its answer was not used). */
  llm?: LlmUsage;
}

/** A narration as kept in job data between attempts of the narration job (already checked when it came). */
export const storedNarrationSchema = z.object({
  summary: z.string(),
  rootCause: z.string(),
  evidence: z.array(z.string()),
  actions: z.array(z.string()),
  confidence: z.enum(['low', 'medium', 'high']),
  narrator: z.string(),
  promptVersion: z.string(),
  llm: llmUsageSchema.optional(),
  /** When the answer came, and that attempt's trace: every retry writes the same record (same annotatedAt, traceId). */
  narratedAt: z.string().optional(),
  traceId: z.string().optional(),
});
export type StoredNarration = z.infer<typeof storedNarrationSchema>;

/** Turns findings into prose. Throws on any failure; the pipeline then falls back to the template. */
export interface Narrator {
  readonly name: string;
  narrate(input: NarrationInput, signal: AbortSignal): Promise<Narration>;
}
