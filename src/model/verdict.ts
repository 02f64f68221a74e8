import { z } from 'zod';

/**
 * The verdict of a note: what the reader should do, in one word group. It is derived
 * deterministically from the analysis (src/publish/verdict.ts), never by the model, and is
 * carried by the record (`verdict`), the Slack card's first line and PagerDuty's custom_details.
 */
export const VERDICTS = ['action_required', 'investigate', 'likely_noise', 'inconclusive'] as const;
export const verdictSchema = z.enum(VERDICTS);
export type Verdict = z.infer<typeof verdictSchema>;

/** How a verdict reads to a person. */
export const VERDICT_LABELS: Record<Verdict, string> = {
  action_required: 'Action required',
  investigate: 'Investigate',
  likely_noise: 'Likely noise',
  inconclusive: 'Inconclusive',
};
