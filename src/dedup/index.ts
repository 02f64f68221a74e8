import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { alertKey, type Alert } from '../model/alert';
import { annotationKey, type LokiAnnotationIndex } from './loki-index';

/**
 * Dedup (docs/architecture.md): an alert is identified by fingerprint + startsAt, and each status
 * (firing, resolved) is annotated once. A Redis lock/marker stops concurrent duplicates
 * across workers; Loki, the durable record, is asked before any work so that a Redis
 * flush or restart never causes a second annotation.
 */

export interface ClaimResult {
  /** Claimed by this owner: annotate these. */
  fresh: Alert[];
  /** Already annotated (marker in Redis or record in Loki). */
  done: Alert[];
  /** Being annotated right now by another owner. */
  busy: Alert[];
}

export interface Dedup {
  claim(alerts: readonly Alert[], owner: string, signal?: AbortSignal): Promise<ClaimResult>;
  /** Marks the alerts annotated; call after the durable record is written. */
  complete(alerts: readonly Alert[], owner: string): Promise<void>;
  /** Gives the claims back after a failure so a retry (or another worker) can take them. */
  release(alerts: readonly Alert[], owner: string): Promise<void>;
  /**
   * Keeps this owner's claims alive while it works (a dead worker's claims expire soon, a live
   * one's never do); returns the function that stops it.
   */
  keepAlive?(alerts: readonly Alert[], owner: string): () => void;
  /** Whether every one of these alerts is marked annotated in Redis (read only: no claim taken). */
  allDone?(alerts: readonly Pick<Alert, 'fingerprint' | 'startsAt' | 'status'>[]): Promise<boolean>;
}

const DONE = 'done';

// KEYS[1] marker; ARGV owner, lock ttl ms. Returns 'claimed' | 'done' | 'busy'.
// The same owner (a retry of the same job) gets its own lock back.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if v == '${DONE}' then return 'done' end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'claimed'
end
return 'busy'`;

// Extends the lock only if this owner still holds it.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

// Deletes the lock only if this owner still holds it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface RedisDedupOptions {
  redis: Redis;
  prefix: string;
  index?: LokiAnnotationIndex;
  log: Logger;
  /** How long a claim lives if its worker dies; renewed every third of it while the worker lives. */
  lockTtlMs?: number;
  /** How long the done marker lives; Loki remains the record after that. */
  doneTtlSeconds?: number;
}

export class RedisDedup implements Dedup {
  private readonly lockTtlMs: number;
  private readonly doneTtl: number;
  constructor(private readonly opts: RedisDedupOptions) {
    this.lockTtlMs = opts.lockTtlMs ?? 60_000;
    this.doneTtl = opts.doneTtlSeconds ?? 8 * 24 * 3600;
  }

  async allDone(alerts: readonly Pick<Alert, 'fingerprint' | 'startsAt' | 'status'>[]): Promise<boolean> {
    if (alerts.length === 0) return true;
    const values = await this.opts.redis.mget(...alerts.map((a) => this.key(a)));
    return values.every((v) => v === DONE);
  }

  key(alert: Pick<Alert, 'fingerprint' | 'startsAt' | 'status'>): string {
    return `${this.opts.prefix}:annotated:${alertKey(alert)}:${alert.status}`;
  }

  async claim(alerts: readonly Alert[], owner: string, signal?: AbortSignal): Promise<ClaimResult> {
    const result: ClaimResult = { fresh: [], done: [], busy: [] };
    const unique = uniqueAlerts(alerts);
    // One round trip for the whole group, however many alerts it holds.
    let states: unknown[];
    try {
      states = await this.each(unique, (batch, a) => batch.eval(CLAIM, 1, this.key(a), owner, this.lockTtlMs));
    } catch (err) {
      // Redis may have taken the claims and died before answering: give back whatever this owner holds.
      this.releaseLater(unique, owner, Date.now() + this.lockTtlMs, 0);
      throw err;
    }
    unique.forEach((alert, i) => {
      const state = states[i];
      if (state === 'done') result.done.push(alert);
      else if (state === 'busy') result.busy.push(alert);
      else result.fresh.push(alert);
    });
    if (!this.opts.index || result.fresh.length === 0) return result;

    // The durable check: a record in Loki means this alert was annotated before Redis forgot.
    let known: Set<string>;
    try {
      known = await this.opts.index.annotated(result.fresh, signal);
    } catch (err) {
      // Loki cannot tell: the Redis claim still prevents concurrent duplicates, and an
      // alert must never be lost to a Loki outage, so go on.
      this.opts.log.warn({ alerts: result.fresh.length, err: (err as Error).message }, 'dedup: Loki check failed; relying on Redis');
      return result;
    }
    const done = result.fresh.filter((a) => known.has(annotationKey(a)));
    if (done.length) {
      await this.complete(done, owner);
      result.done.push(...done);
      result.fresh = result.fresh.filter((a) => !known.has(annotationKey(a)));
    }
    return result;
  }

  async complete(alerts: readonly Alert[], _owner: string): Promise<void> {
    await this.each(alerts, (batch, a) => batch.set(this.key(a), DONE, 'EX', this.doneTtl));
  }

  /**
   * Gives the claims back. When Redis does not answer (the very outage that failed the job,
   * as often as not), keeps trying in the background until the claims would have lapsed: the
   * job's retry runs under a new owner (a new lock token) and would otherwise find its own
   * alerts "busy" until the TTL ran out. Only this owner's claims are ever deleted.
   */
  async release(alerts: readonly Alert[], owner: string): Promise<void> {
    try {
      await this.releaseOnce(alerts, owner);
    } catch (err) {
      this.releaseLater(alerts, owner, Date.now() + this.lockTtlMs);
      throw err;
    }
  }

  private releaseOnce(alerts: readonly Alert[], owner: string): Promise<unknown[]> {
    return this.each(alerts, (batch, a) => batch.eval(RELEASE, 1, this.key(a), owner));
  }

  private releaseLater(alerts: readonly Alert[], owner: string, deadline: number, delayMs = 250): void {
    if (Date.now() + delayMs >= deadline) return;
    setTimeout(
      () => void this.releaseOnce(alerts, owner).catch(() => this.releaseLater(alerts, owner, deadline, Math.min(delayMs * 2, 5000))),
      delayMs,
    ).unref();
  }

  keepAlive(alerts: readonly Alert[], owner: string): () => void {
    if (alerts.length === 0) return () => undefined;
    const timer = setInterval(() => {
      this.each(alerts, (batch, a) => batch.eval(RENEW, 1, this.key(a), owner, this.lockTtlMs)).catch((err: Error) =>
        this.opts.log.warn({ alerts: alerts.length, err: err.message }, 'dedup: claim renewal failed; retrying'),
      );
    }, this.lockTtlMs / 3);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** One command per alert, sent as one pipeline; the first command error is thrown. */
  private async each(alerts: readonly Alert[], command: (batch: ChainableCommander, a: Alert) => unknown): Promise<unknown[]> {
    if (alerts.length === 0) return [];
    const batch = this.opts.redis.pipeline();
    for (const a of alerts) command(batch, a);
    const replies = (await batch.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }
}

/** Replay and tests without Redis: remembers nothing between runs. */
export class NoDedup implements Dedup {
  async claim(alerts: readonly Alert[]): Promise<ClaimResult> {
    return { fresh: uniqueAlerts(alerts), done: [], busy: [] };
  }
  async complete(): Promise<void> {}
  async release(): Promise<void> {}
}

/** A notification can list the same alert twice only by mistake; annotate it once. */
function uniqueAlerts(alerts: readonly Alert[]): Alert[] {
  const seen = new Set<string>();
  return alerts.filter((a) => {
    const k = `${alertKey(a)}:${a.status}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
