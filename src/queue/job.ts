import { createHash } from 'node:crypto';
import { z } from 'zod';
import { webhookPayloadSchema, type WebhookPayload } from '../model/alert';

export const QUEUE_NAME = 'annotate';
/**
 * Narration jobs have a queue (and worker slots) of their own: a slow or hanging model
 * holds up only other narrations, never the first note of a new group.
 */
export const NARRATE_QUEUE_NAME = 'annotate-narrate';

/** The job name of a Slack interaction (data: src/model/interaction.ts). */
export const INTERACTION_JOB = 'interaction';

/** The job states the queue-depth metric reports. */
export const DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

/** Job data of one group notification: small, and nothing but what Alertmanager sent. */
export const groupJobSchema = z.object({
  payload: webhookPayloadSchema,
  /** W3C traceparent of the receiving request, for the worker's span link. */
  traceparent: z.string().optional(),
  receivedAt: z.string(),
});
export type GroupJobData = z.infer<typeof groupJobSchema>;

/** A delayed narration follow-up; the data is already scrubbed. */
export const renarrateJobSchema = z.object({
  groupJobId: z.string(),
  traceparent: z.string().optional(),
  attempt: z.number().int().min(1),
  renarration: z.looseObject({ input: z.unknown(), records: z.array(z.unknown()), event: z.unknown() }),
  /** The route and tenant of the group part this follow-up belongs to (ROUTES_FILE, TENANT_LABEL). */
  routing: z.object({ route: z.string(), tenant: z.string().optional() }).optional(),
  /** The model's answer once it came, kept so a retry of the publishing never asks the model again. */
  narration: z.unknown().optional(),
  /** When the narration first had to wait for the model to take its request (ms since the epoch). */
  modelWaitSince: z.number().optional(),
  /** How many times the model's server turned the request away (429, 502/503/504, refused connection). */
  refusals: z.number().int().min(0).optional(),
});
export type RenarrateJobData = z.infer<typeof renarrateJobSchema>;

/**
 * The same notification delivered again (Alertmanager retries a request it thinks timed
 * out; an HA pair sends it once per instance) gets the same id, so BullMQ adds it once.
 * Only what identifies the notification counts: not externalURL (differs per HA instance),
 * but the receiver, which Alertmanager notifies separately (and which a route may match).
 */
export function groupJobId(payload: WebhookPayload): string {
  const alerts = payload.alerts.map((a) => `${a.fingerprint}|${a.startsAt}|${a.status}|${a.endsAt}`).sort();
  // One update of one string: this runs on every webhook request.
  const identity = `${payload.receiver}\0${payload.groupKey}\0${payload.status}\0${alerts.join('\0')}`;
  return `g-${createHash('sha256').update(identity).digest('hex').slice(0, 40)}`;
}

/** Waits of a narration whose request the model's server turned away (429, 503, refused): 5 more tries over about 30 minutes. */
export const RENARRATE_DELAYS_MS = [60_000, 2 * 60_000, 5 * 60_000, 10 * 60_000, 12 * 60_000];

/** Backoff type of group jobs: exponential, but never sooner than a target's Retry-After. */
export const BACKOFF_TYPE = 'retry-after';

/**
 * The delay before attempt `attemptsMade + 1`: exponential from `baseMs`, capped at `maxMs`
 * (JOB_BACKOFF_MAX_MS, so a long outage is retried every few minutes rather than once a day),
 * stretched to the Retry-After a rate-limited target asked for (Slack and PagerDuty send it with 429).
 */
export function retryDelayMs(attemptsMade: number, baseMs: number, err?: Error, maxMs = Infinity): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(40, Math.max(0, attemptsMade - 1)));
  const retryAfter = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof retryAfter === 'number' && retryAfter > exponential ? retryAfter : exponential;
}

export interface JobOptions {
  attempts: number;
  backoffMs: number;
}

/**
 * Options of a group job. A completed job is kept an hour so an identical re-delivery finds
 * its id and is answered "duplicate"; a job that failed for good is removed at once (its
 * dead letter keeps it), so the same notification delivered again is processed again.
 */
export function groupJobOptions(opts: JobOptions, jobId: string) {
  return {
    jobId,
    attempts: opts.attempts,
    backoff: { type: BACKOFF_TYPE, delay: opts.backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: true,
  };
}
