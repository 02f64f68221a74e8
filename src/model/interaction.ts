import { z } from 'zod';
import { verdictSchema } from './verdict';

/**
 * Slack interactivity (https://docs.slack.dev/interactivity/handling-user-interaction): a
 * button click on the card (`block_actions`) or the reason modal's submit
 * (`view_submission`), verified by the receiver and handed to a worker as a job.
 */

export const ACTIONS = {
  right: 'feedback_right',
  wrong: 'feedback_wrong',
  silence: 'silence_2h',
  reanalyze: 'reanalyze',
} as const;
export type ActionId = (typeof ACTIONS)[keyof typeof ACTIONS];
export const REASON_VIEW = 'feedback_reason';

/** What a button carries (its `value`, at most 2000 characters): which note it is about. */
export const buttonValueSchema = z.object({
  /** fingerprint and startsAt of the lead alert: the note's identity. */
  f: z.string(),
  s: z.string(),
  /** The group key, when it fits; re-analysis needs it. */
  k: z.string().optional(),
  /** The note's verdict when the card was rendered. */
  v: verdictSchema.optional(),
  /** The silence's matchers (label → value): the labels all firing alerts share. */
  m: z.record(z.string(), z.string()).optional(),
  alertname: z.string().optional(),
});
export type ButtonValue = z.infer<typeof buttonValueSchema>;

/** A Slack user id (U…, W… for Enterprise Grid): anything else is refused, so it can be mentioned safely. */
export const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,20}$/);

/** The job: only what the work needs, no tokens and no response_url (the bot token answers instead). */
export const interactionJobSchema = z.object({
  kind: z.enum(['action', 'reason']),
  action: z.enum([ACTIONS.right, ACTIONS.wrong, ACTIONS.silence, ACTIONS.reanalyze]),
  value: buttonValueSchema,
  user: slackUserId,
  /** Where the card is: chat.update and chat.postEphemeral need both. */
  channel: z.string().optional(),
  messageTs: z.string().optional(),
  /** The card's blocks as Slack holds them, to update the card in place. */
  blocks: z.array(z.unknown()).optional(),
  /** views.open needs it within 3 s of the click. */
  triggerId: z.string().optional(),
  /** The reason typed into the modal (view_submission). */
  reason: z.string().max(3000).optional(),
  receivedAt: z.string(),
});
export type InteractionJobData = z.infer<typeof interactionJobSchema>;
