import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { NarrationError } from '../src/narrate/errors';
import { RedisModelGate, type GateOptions } from '../src/narrate/gate';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 3 });
const prefix = `test-llmgate-${randomBytes(4).toString('hex')}`;
const opts: GateOptions = { maxConcurrency: 2, threshold: 2, cooldownMs: 400, slotTtlMs: 5000 };
const signal = () => new AbortController().signal;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

async function reason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NarrationError);
  return (err as NarrationError).reason;
}

describe('the Redis model gate, shared by every worker', () => {
  test('caps concurrent calls across two workers at LLM_MAX_CONCURRENCY', async () => {
    const key = `${prefix}:cap`;
    const workerA = new RedisModelGate(redis, key, opts);
    const workerB = new RedisModelGate(redis, key, opts);
    const r1 = await workerA.acquire(signal(), 100);
    const r2 = await workerB.acquire(signal(), 100);
    expect(await reason(workerA.acquire(signal(), 150))).toBe('busy');
    const waiting = workerB.acquire(signal(), 2000);
    await r1();
    const r3 = await waiting;
    expect(await redis.zcard(`${key}:slots`)).toBe(2);
    await Promise.all([r2(), r3()]);
    expect(await redis.zcard(`${key}:slots`)).toBe(0);
  });

  test('reclaims the slot of a worker that died holding it, after the slot TTL', async () => {
    const key = `${prefix}:ttl`;
    // The holder's own connection: when it goes, so do its renewals (a worker that "crashed").
    const dying = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 });
    dying.on('error', () => undefined);
    const crashed = new RedisModelGate(dying, key, { ...opts, maxConcurrency: 1, slotTtlMs: 300 });
    await crashed.acquire(signal(), 100); // never released
    dying.disconnect();
    const gate = new RedisModelGate(redis, key, { ...opts, maxConcurrency: 1, slotTtlMs: 300 });
    const started = Date.now();
    const release = await gate.acquire(signal(), 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await release();
  });

  test('a worker whose call outlasts the slot TTL keeps its slot: it renews it while it holds it', async () => {
    // The TTL is short so that a release Redis lost, or a dead holder, frees the slot soon; a
    // live holder must not lose its slot to another worker for that (LLM_MAX_CONCURRENCY).
    const key = `${prefix}:renew`;
    const workerA = new RedisModelGate(redis, key, { ...opts, maxConcurrency: 1, slotTtlMs: 1500 });
    const workerB = new RedisModelGate(redis, key, { ...opts, maxConcurrency: 1, slotTtlMs: 1500 });
    const release = await workerA.acquire(signal(), 100);
    await new Promise((r) => setTimeout(r, 4000)); // a long model call
    expect(await reason(workerB.acquire(signal(), 100))).toBe('busy');
    await release();
    await (
      await workerB.acquire(signal(), 1000)
    )();
  });

  test('stops waiting for a slot when the job is aborted', async () => {
    const key = `${prefix}:abort`;
    const gate = new RedisModelGate(redis, key, { ...opts, maxConcurrency: 1 });
    const release = await gate.acquire(signal(), 100);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect(await reason(gate.acquire(ac.signal, 5000))).toBe('aborted');
    await release();
  });

  test('failures reported by one worker open the breaker for all, until the cool-down ends', async () => {
    const key = `${prefix}:breaker`;
    const workerA = new RedisModelGate(redis, key, opts);
    const workerB = new RedisModelGate(redis, key, opts);
    await workerA.failure();
    await expect(workerB.checkOpen()).resolves.toBeUndefined();
    await workerB.failure();
    expect(await reason(workerA.checkOpen())).toBe('circuit_open');
    expect(await reason(workerB.checkOpen())).toBe('circuit_open');
    await new Promise((r) => setTimeout(r, 450));
    await expect(workerA.checkOpen()).resolves.toBeUndefined();
    // Half-open: the first failure after the cool-down re-opens at once; a success closes it.
    await workerA.failure();
    expect(await reason(workerB.checkOpen())).toBe('circuit_open');
    await new Promise((r) => setTimeout(r, 450));
    await workerB.success();
    await workerA.failure();
    await expect(workerA.checkOpen()).resolves.toBeUndefined();
  });

  test('a success resets the count of consecutive failures', async () => {
    const key = `${prefix}:reset`;
    const gate = new RedisModelGate(redis, key, opts);
    await gate.failure();
    await gate.success();
    await gate.failure();
    await expect(gate.checkOpen()).resolves.toBeUndefined();
  });
});
