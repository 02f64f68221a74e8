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

export interface Narration extends NarrationBody {
  /** `ollama:<model>`, `openai:<model>` or `template`. */
  narrator: string;
  promptVersion: string;
}

/** Turns findings into prose. Throws on any failure; the pipeline then falls back to the template. */
export interface Narrator {
  readonly name: string;
  narrate(input: NarrationInput, signal: AbortSignal): Promise<Narration>;
}
