import { once } from 'node:events';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WebhookPayload } from '../model/alert';
import { UnstorablePayloadError, type EnqueueResult } from '../model/queue';
import { queueDepth } from './depth';
import { groupJobId, groupJobOptions, INTERACTION_JOB, NARRATE_QUEUE_NAME, QUEUE_NAME, type GroupJobData, type JobOptions } from './job';
import type { InteractionJobData } from '../model/interaction';

export class QueueUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUnavailableError';
  }
}

export type { JobOptions } from './job';

/**
 * The receiver's side of the queue. It fails fast: the connection has no offline queue and
 * every add races a deadline, so Alertmanager gets a 503 (and retries) within the timeout
 * instead of a hanging request.
 */
export class Producer {
  readonly queue: Queue;
  /** The narration queue, only to count it: the receiver adds nothing there. */
  private readonly narrations: Queue;
  constructor(
    private readonly connection: Redis,
    prefix: string,
    private readonly jobOpts: JobOptions,
    private readonly timeoutMs = 1500,
  ) {
    this.queue = new Queue(QUEUE_NAME, { connection, prefix });
    // BullMQ re-emits connection errors here; without a listener they would crash the process.
    this.queue.on('error', () => undefined);
    this.narrations = new Queue(NARRATE_QUEUE_NAME, { connection, prefix });
    this.narrations.on('error', () => undefined);
  }

  async enqueue(payload: WebhookPayload, traceparent?: string): Promise<EnqueueResult> {
    const jobId = groupJobId(payload);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`queue did not accept the job within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      // With no offline queue, commands sent while (re)connecting fail at once; wait for
      // the connection within the same deadline instead.
      if (this.connection.status !== 'ready') {
        const ready = once(this.connection, 'ready');
        ready.catch(() => undefined);
        await Promise.race([ready, deadline]);
      }
      const added = this.add(jobId, payload, traceparent);
      added.catch(() => undefined); // it may settle after the deadline answered
      return await Promise.race([added, deadline]);
    } catch (err) {
      if (err instanceof QueueUnavailableError) throw err;
      // Serialising the job overflowed (nesting) or outgrew a string: the same payload always will.
      if (err instanceof RangeError) throw new UnstorablePayloadError(`the notification cannot be stored: ${err.message}`);
      throw new QueueUnavailableError(`queue write failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async add(jobId: string, payload: WebhookPayload, traceparent?: string): Promise<EnqueueResult> {
    const data: GroupJobData = { payload, receivedAt: new Date().toISOString(), ...(traceparent ? { traceparent } : {}) };
    // BullMQ keeps the existing job when the id is known and does not say so. The EXISTS is
    // sent on the same connection just before the add, so it answers for the moment before
    // it without waiting for a round trip of its own.
    const existed = this.connection.exists(this.queue.toKey(jobId));
    existed.catch(() => undefined);
    await this.queue.add('group', data, groupJobOptions(this.jobOpts, jobId));
    return { jobId, duplicate: (await existed) === 1 };
  }

  /**
   * A verified Slack click. Not deduplicated by id: two clicks are two requests. Few
   * attempts: a user waits on the answer, and a late silence is worse than a visible error.
   */
  async enqueueInteraction(data: InteractionJobData): Promise<void> {
    await this.queue.add(INTERACTION_JOB, data, {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
    });
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    return queueDepth([this.queue, this.narrations]);
  }

  async close(): Promise<void> {
    await Promise.all([this.queue.close(), this.narrations.close()]);
  }
}
