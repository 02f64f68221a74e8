import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/**
 * Jobs that failed for good, kept where an operator sees them instead of silently lost:
 * one Redis hash under QUEUE_PREFIX, field = the job id, value = the entry as JSON. The job
 * itself is removed from BullMQ when it fails (so the same notification delivered again is
 * processed again); its data stays here so `alert-annotator failed retry <id>` can enqueue it
 * again. No secret is stored: the data is what the queue already held, the reason is clipped.
 */

export const deadLetterSchema = z.object({
  id: z.string(),
  /** The BullMQ job name: `group` (a notification) or `renarrate` (a narration follow-up). */
  name: z.string(),
  reason: z.string(),
  groupKey: z.string(),
  fingerprints: z.array(z.string()),
  failedAt: z.string(),
  attempts: z.number().int(),
  /** The job's options (attempts, backoff) for a retry. */
  opts: z.record(z.string(), z.unknown()),
  data: z.unknown(),
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

const MAX_REASON = 500;

/** What `failed list` prints: the entry without its data. */
export type DeadLetterSummary = Omit<DeadLetter, 'data' | 'opts'> & { alerts: number };

interface JobLike {
  id?: string | undefined;
  name: string;
  data: unknown;
  /** Attempts made, the failing one included. */
  attempts: number;
  opts: { attempts?: number; backoff?: unknown };
}

/** The group key and fingerprints of a job's data, whatever its kind (and if it parses at all). */
function describe(data: unknown): { groupKey: string; fingerprints: string[]; alerts: number } {
  const d = (data ?? {}) as {
    payload?: { groupKey?: unknown; alerts?: { fingerprint?: unknown }[] };
    renarration?: { event?: { payload?: { groupKey?: unknown } }; records?: { fingerprint?: unknown }[] };
  };
  const groupKey = d.payload?.groupKey ?? d.renarration?.event?.payload?.groupKey;
  const items = (Array.isArray(d.payload?.alerts) ? d.payload.alerts : undefined) ?? d.renarration?.records ?? [];
  const fingerprints = Array.isArray(items) ? items.map((a) => String(a?.fingerprint ?? '')) : [];
  return { groupKey: typeof groupKey === 'string' ? groupKey : '', fingerprints, alerts: fingerprints.length };
}

export class DeadLetters {
  readonly key: string;
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:dead-letters`;
  }

  /** Keeps a job that failed for good. `onlyNew` keeps an entry already written for this attempt. */
  async add(job: JobLike, reason: string, onlyNew = false): Promise<DeadLetter> {
    const { groupKey, fingerprints } = describe(job.data);
    const entry: DeadLetter = {
      id: job.id ?? '',
      name: job.name,
      reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason,
      groupKey,
      fingerprints,
      failedAt: new Date().toISOString(),
      attempts: job.attempts,
      opts: { attempts: job.opts.attempts ?? 1, ...(job.opts.backoff !== undefined ? { backoff: job.opts.backoff } : {}) },
      data: job.data,
    };
    const text = JSON.stringify(entry);
    if (onlyNew) await this.redis.hsetnx(this.key, entry.id, text);
    else await this.redis.hset(this.key, entry.id, text);
    return entry;
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const raw = await this.redis.hget(this.key, id);
    if (raw === null) return undefined;
    return deadLetterSchema.parse(JSON.parse(raw));
  }

  /** Oldest first. */
  async list(): Promise<DeadLetterSummary[]> {
    const all = await this.redis.hvals(this.key);
    return all
      .map((raw) => deadLetterSchema.safeParse(JSON.parse(raw)))
      .filter((r) => r.success)
      .map(({ data: { data, opts: _opts, ...rest } }) => ({ ...rest, alerts: describe(data).alerts }))
      .sort((a, b) => a.failedAt.localeCompare(b.failedAt));
  }

  count(): Promise<number> {
    return this.redis.hlen(this.key);
  }

  /** True when there was such an entry. */
  async drop(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, id)) > 0;
  }

  /**
   * Enqueues the kept job again under its own id, with its own options, and removes the entry.
   * `already` when a job with that id is in the queue (the notification came again meanwhile).
   */
  async retry(queue: Queue, id: string): Promise<'queued' | 'already' | 'missing'> {
    const entry = await this.get(id);
    if (!entry) return 'missing';
    const existed = await queue.getJob(id);
    if (!existed) {
      await queue.add(entry.name, entry.data, {
        ...entry.opts,
        jobId: id,
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: true,
      });
    }
    await this.drop(id);
    return existed ? 'already' : 'queued';
  }
}
