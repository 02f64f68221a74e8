import { once } from 'node:events';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WebhookPayload } from '../model/alert';
import type { EnqueueResult } from '../model/queue';
import { BACKOFF_TYPE, DEPTH_STATES, groupJobId, QUEUE_NAME, type GroupJobData } from './job';

export class QueueUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUnavailableError';
  }
}

export interface JobOptions {
  attempts: number;
  backoffMs: number;
}

/**
 * The receiver's side of the queue. It fails fast: the connection has no offline queue and
 * every add races a deadline, so Alertmanager gets a 503 (and retries) within the timeout
 * instead of a hanging request.
 */
export class Producer {
  readonly queue: Queue;
  constructor(
    private readonly connection: Redis,
    prefix: string,
    private readonly jobOpts: JobOptions,
    private readonly timeoutMs = 1500,
  ) {
    this.queue = new Queue(QUEUE_NAME, { connection, prefix });
    // BullMQ re-emits connection errors here; without a listener they would crash the process.
    this.queue.on('error', () => undefined);
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
      throw new QueueUnavailableError(`queue write failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async add(jobId: string, payload: WebhookPayload, traceparent?: string): Promise<EnqueueResult> {
    const data: GroupJobData = { payload, receivedAt: new Date().toISOString(), ...(traceparent ? { traceparent } : {}) };
    // BullMQ keeps the existing job when the id is known. Whether it was known is not asked:
    // that extra round trip cost about 10% of the receiver's throughput (bench:ingest).
    await this.queue.add('group', data, {
      jobId,
      attempts: this.jobOpts.attempts,
      backoff: { type: BACKOFF_TYPE, delay: this.jobOpts.backoffMs },
      // Kept for an hour so an identical re-delivery finds the id and is not added again.
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
    return { jobId };
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts(...DEPTH_STATES);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
