import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sleep } from '../text';
import { NarrationError } from './errors';

/**
 * What stands between the narrator and the model: a circuit breaker (after `threshold`
 * consecutive failed narrations, skip the model for `cooldownMs`; then one failure
 * re-opens it at once, one success closes it) and a cap on concurrent calls. The Redis
 * gate shares both across every worker process; the memory gate serves the one-shot CLI.
 */
export interface ModelGate {
  /** Throws NarrationError('circuit_open') while the breaker is open. */
  checkOpen(): Promise<void>;
  /** Waits for a call slot (at most `waitMs`); resolves with its release. */
  acquire(signal: AbortSignal, waitMs: number): Promise<() => Promise<void>>;
  success(): Promise<void>;
  failure(): Promise<void>;
}

export interface GateOptions {
  maxConcurrency: number;
  threshold: number;
  cooldownMs: number;
  /**
   * A slot not renewed for this long is reclaimed: its holder died, or its release was lost
   * with Redis. A live holder renews it every third of this while its call runs.
   */
  slotTtlMs: number;
}

/** Polls `tryAcquire` with a short jittered backoff until it succeeds, the wait ends or the job is aborted. */
async function waitForSlot(tryAcquire: () => Promise<boolean>, signal: AbortSignal, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    if (signal.aborted) throw new NarrationError('aborted', 'narration aborted while waiting for a model slot');
    if (await tryAcquire()) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new NarrationError('busy', `no model slot free within ${waitMs} ms`);
    await sleep(Math.min(left, delay + Math.random() * delay), signal);
  }
}

// KEYS[1] slots (sorted set: member = holder, score = expiry ms); ARGV: limit, ttl ms, holder.
// Redis TIME, so every worker judges expiry by the same clock.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

// KEYS[1] slots; ARGV: ttl ms, holder. Moves the holder's expiry on, if it still holds a slot.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
return 0`;

// KEYS: failures, open, tripped; ARGV: threshold, cooldown ms, memory ms.
// Returns the cool-down when this failure opened the breaker, else 0.
const FAILURE = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if n >= tonumber(ARGV[1]) or redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[2])
end
return 0`;

export class RedisModelGate implements ModelGate {
  private readonly keys: { slots: string; failures: string; open: string; tripped: string };
  /** Failures older than this are forgotten, so rare failures over days never open the breaker. */
  private readonly memoryMs: number;

  constructor(
    private readonly redis: Redis,
    /** e.g. `<QUEUE_PREFIX>:llm:ollama:<model>`: one gate per model endpoint. */
    keyPrefix: string,
    private readonly opts: GateOptions,
  ) {
    this.keys = {
      slots: `${keyPrefix}:slots`,
      failures: `${keyPrefix}:failures`,
      open: `${keyPrefix}:open`,
      tripped: `${keyPrefix}:tripped`,
    };
    this.memoryMs = Math.max(opts.cooldownMs * 10, 10 * 60_000);
  }

  async checkOpen(): Promise<void> {
    const left = await this.redis.pttl(this.keys.open);
    if (left > 0) throw new NarrationError('circuit_open', `model skipped for ${left} ms after repeated failures`, left);
  }

  async acquire(signal: AbortSignal, waitMs: number): Promise<() => Promise<void>> {
    const holder = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const tryAcquire = async () =>
      (await this.redis.eval(ACQUIRE, 1, this.keys.slots, this.opts.maxConcurrency, this.opts.slotTtlMs, holder)) === 1;
    await waitForSlot(tryAcquire, signal, waitMs);
    // Held as long as the call runs, however long that is; once this process stops renewing
    // (it died, or Redis lost our release) the slot is free again within slotTtlMs.
    const renew = setInterval(
      () => void this.redis.eval(RENEW, 1, this.keys.slots, this.opts.slotTtlMs, holder).catch(() => undefined),
      Math.max(10, Math.floor(this.opts.slotTtlMs / 3)),
    );
    renew.unref();
    return async () => {
      clearInterval(renew);
      await this.redis.zrem(this.keys.slots, holder);
    };
  }

  async success(): Promise<void> {
    await this.redis.del(this.keys.failures, this.keys.tripped);
  }

  async failure(): Promise<void> {
    await this.redis.eval(
      FAILURE,
      3,
      this.keys.failures,
      this.keys.open,
      this.keys.tripped,
      this.opts.threshold,
      this.opts.cooldownMs,
      this.memoryMs,
    );
  }
}

/** The same semantics in one process (the CLI's replay, tests without Redis). */
export class MemoryModelGate implements ModelGate {
  private active = 0;
  private failures = 0;
  private openUntil = 0;
  private tripped = false;

  constructor(
    private readonly opts: Pick<GateOptions, 'maxConcurrency' | 'threshold' | 'cooldownMs'>,
    private readonly now: () => number = Date.now,
  ) {}

  async checkOpen(): Promise<void> {
    const left = this.openUntil - this.now();
    if (left > 0) throw new NarrationError('circuit_open', `model skipped for ${left} ms after repeated failures`, left);
  }

  async acquire(signal: AbortSignal, waitMs: number): Promise<() => Promise<void>> {
    await waitForSlot(
      async () => {
        if (this.active >= this.opts.maxConcurrency) return false;
        this.active++;
        return true;
      },
      signal,
      waitMs,
    );
    let released = false;
    return async () => {
      if (!released) this.active--;
      released = true;
    };
  }

  async success(): Promise<void> {
    this.failures = 0;
    this.tripped = false;
  }

  async failure(): Promise<void> {
    this.failures++;
    if (this.failures >= this.opts.threshold || this.tripped) {
      this.openUntil = this.now() + this.opts.cooldownMs;
      this.tripped = true;
      this.failures = 0;
    }
  }
}

/**
 * LLM_MAX_CALLS_PER_HOUR: a cap on model calls per clock hour. `take` counts one call and
 * says whether it is within the cap; past it the note goes out deterministic.
 */
export interface CallBudget {
  readonly maxPerHour: number;
  take(): Promise<boolean>;
}

const HOUR_MS = 3_600_000;

// KEYS[1] the counter prefix; ARGV[1] the cap. The hour is Redis TIME's, so every worker
// counts into the same bucket; a refused call does not count (the counter stays at the cap).
const TAKE = `
local t = redis.call('TIME')
local key = KEYS[1] .. ':' .. math.floor(tonumber(t[1]) / 3600)
local n = tonumber(redis.call('GET', key) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', key)
redis.call('PEXPIRE', key, ${2 * HOUR_MS})
return 1`;

/** Shared by every worker process (one counter per hour under `<QUEUE_PREFIX>:llm:calls`). */
export class RedisCallBudget implements CallBudget {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly maxPerHour: number,
  ) {}

  async take(): Promise<boolean> {
    return (await this.redis.eval(TAKE, 1, this.key, this.maxPerHour)) === 1;
  }
}

/** One process's count (the CLI's replay). */
export class MemoryCallBudget implements CallBudget {
  private hour = -1;
  private used = 0;
  constructor(
    readonly maxPerHour: number,
    private readonly now: () => number = Date.now,
  ) {}

  async take(): Promise<boolean> {
    const hour = Math.floor(this.now() / HOUR_MS);
    if (hour !== this.hour) [this.hour, this.used] = [hour, 0];
    if (this.used >= this.maxPerHour) return false;
    this.used++;
    return true;
  }
}
