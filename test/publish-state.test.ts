import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { OutboundError } from '../src/clients/http';
import { LokiClient } from '../src/clients/loki';
import { mergeView } from '../src/publish/group-view';
import { LokiPublisher } from '../src/publish/loki';
import { SlackBotPublisher } from '../src/publish/slack';
import { eventId, groupDigest, LOCK_TTL_MS, lockTimings, PUBLISH_STATE_TTL_MS, RedisPublishState } from '../src/publish/state';
import type { PublishEvent } from '../src/publish/types';
import { FakeLoki } from './fakes/loki';
import { FakeSlack } from './fakes/slack';
import { deleteKeys, REDIS_URL } from './helpers/service';
import { until } from './helpers/until';
import { botOptions, eventFor, loadPayload, recordsFor } from './publish-records';

const signal = new AbortController().signal;

let redis: Redis;
let prefix: string;

beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
});
beforeEach(() => {
  prefix = `test-publish-${randomBytes(4).toString('hex')}`;
});
afterEach(() => deleteKeys(redis, prefix));
afterAll(() => redis.disconnect());

describe('the Redis publish state', () => {
  it('remembers the Slack message and the view of a group, for at least 7 days', async () => {
    const state = new RedisPublishState(redis, prefix);
    const payload = loadPayload('am-webhook-04');
    const view = mergeView(undefined, recordsFor(payload, 'firing')).view;
    await state.save(payload.groupKey, { slack: { channel: 'C1', ts: '1.2' } });
    await state.save(payload.groupKey, { view });
    expect(await state.load(payload.groupKey)).toEqual({ state: { slack: { channel: 'C1', ts: '1.2' }, view }, done: false });
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys).toEqual([`${prefix}:publish:{${groupDigest(payload.groupKey)}}`]);
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 * 1000);
    expect(ttl).toBeLessThanOrEqual(PUBLISH_STATE_TTL_MS);
  });

  it('keeps the group key (route matchers with label values) out of Redis key names', async () => {
    const state = new RedisPublishState(redis, prefix);
    await state.save('{}:{service="checkout"}', {}, 'slack:abc');
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.join(' ')).not.toContain('checkout');
    expect((await state.load('{}:{service="checkout"}', 'slack:abc')).done).toBe(true);
    expect((await state.load('{}:{service="checkout"}', 'slack:other')).done).toBe(false);
  });

  it('writes the Slack message and the event marker together, and reads them back in one load', async () => {
    const state = new RedisPublishState(redis, prefix);
    await state.save('g', { slack: { channel: 'C1', ts: '1.2' } }, 'slack:abc');
    const ttl = await redis.pttl(`${prefix}:publish:{${groupDigest('g')}}`);
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 * 1000);
    expect(await state.load('g', 'slack:abc')).toEqual({ state: { slack: { channel: 'C1', ts: '1.2' } }, done: true });
  });

  it('ignores a stored value that does not parse, instead of failing the job', async () => {
    const state = new RedisPublishState(redis, prefix);
    const view = mergeView(undefined, recordsFor(loadPayload('am-webhook-04'), 'firing')).view;
    await redis.hset(`${prefix}:publish:{${groupDigest('g')}}`, 'slack', '{"channel":', 'view', JSON.stringify(view));
    expect(await state.load('g')).toEqual({ state: { view }, done: false });
  });

  it('lets one worker at a time publish a group, and frees the lock afterwards', async () => {
    const a = new RedisPublishState(redis, prefix);
    const b = new RedisPublishState(redis, prefix);
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = a.withLock('g', 'slack', signal, async () => {
      order.push('a-start');
      await held;
      order.push('a-end');
    });
    await new Promise((r) => setTimeout(r, 50));
    const second = b.withLock('g', 'slack', signal, async () => void order.push('b'));
    await new Promise((r) => setTimeout(r, 150));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a-start', 'a-end', 'b']);
    expect(await redis.keys(`${prefix}:*:lock:*`)).toEqual([]);
  });

  it('turns a Redis outage into a retryable error', async () => {
    const down = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 });
    await down.quit();
    const state = new RedisPublishState(down, prefix);
    const err = await state.load('g').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect((err as OutboundError).retryable).toBe(true);
  });

  it('gives the same event the same id on a retry, and a different id to a different event', () => {
    const payload = loadPayload('am-webhook-04');
    const records = recordsFor(payload, 'firing');
    expect(eventId('initial', records)).toBe(eventId('initial', [...records].reverse()));
    expect(eventId('initial', records)).not.toBe(eventId('narration', records));
    expect(eventId('initial', records)).not.toBe(eventId('initial', records.slice(1)));
  });

  it('gives an event an id even when a stored startsAt does not parse, keeping it apart from other times', () => {
    const odd = [{ fingerprint: 'f1', startsAt: 'not a date', status: 'firing' as const }];
    expect(eventId('initial', odd)).toBe(eventId('initial', structuredClone(odd)));
    expect(eventId('initial', odd)).not.toBe(eventId('initial', [{ ...odd[0]!, startsAt: 'also not a date' }]));
  });
});

describe('the group lock', () => {
  it('stays with a live holder that works longer than its TTL, and is free once it is done', async () => {
    const state = new RedisPublishState(redis, prefix);
    const lockKey = `${prefix}:publish:{${groupDigest('g')}}:lock:slack`;
    let stolen: string | null = 'not tried';
    let heldAtEnd = false;
    await state.withLock('g', 'slack', signal, async (lock) => {
      await new Promise((r) => setTimeout(r, LOCK_TTL_MS + 2500));
      // Another worker's SET NX, as withLock does it, past the TTL of the first SET.
      stolen = await redis.set(lockKey, 'other', 'PX', 1000, 'NX');
      heldAtEnd = lock.held();
    });
    expect(stolen).toBeNull();
    expect(heldAtEnd).toBe(true);
    expect(await redis.exists(lockKey)).toBe(0);
  }, 60_000);

  it('tells its holder when another worker took it over', async () => {
    const state = new RedisPublishState(redis, prefix);
    const lockKey = `${prefix}:publish:{${groupDigest('g')}}:lock:slack`;
    const held = await state.withLock('g', 'slack', signal, async (lock) => {
      await redis.set(lockKey, 'other-worker', 'PX', 60_000);
      await until('the heartbeat sees the foreign token', () => !lock.held(), 20_000);
      return lock.held();
    });
    expect(held).toBe(false);
    // Not ours: left alone.
    expect(await redis.get(lockKey)).toBe('other-worker');
  }, 60_000);
});

describe('two workers publishing the same new group at once', () => {
  it('post one Slack message between them', async () => {
    const slack = await new FakeSlack().start();
    try {
      const make = () => new SlackBotPublisher(new RedisPublishState(redis, prefix), botOptions(slack.url, { timeoutMs: 10_000 }));
      const event = eventFor(loadPayload('am-webhook-01'));
      const results = await Promise.all([make().publish(event, signal), make().publish(structuredClone(event), signal)]);
      expect(slack.topLevel()).toHaveLength(1);
      expect(results.map((r) => r.slackTs)).toEqual([slack.topLevel()[0]!.ts, slack.topLevel()[0]!.ts]);
    } finally {
      await slack.stop();
    }
  });
});

/**
 * Issue 10, finding 4 ("a stalled job can run on two workers"), at the level of one publish:
 * a worker that sent a request to Redis and was then paused (SIGSTOP, a stalled VM) reads
 * its answer only when it runs again, after another worker took its group over. The answer
 * was true when Redis gave it and proves nothing by then. test/faults/exactly-once.test.ts
 * has the same with a real frozen worker process.
 */

/** Longer than the group lock's TTL (10 s): the other worker takes the group over meanwhile. */
const PAUSE_MS = 12_000;

/**
 * A Redis client of a process that gets paused: once armed, the next command of the given
 * names goes out, and its answer is read only after `pauseMs`; every command issued in the
 * meantime (the lock's heartbeat) leaves only then, as nothing of a stopped process runs.
 */
function pausable(client: Redis, pauseMs: number) {
  let arm: readonly string[] = [];
  let afterMulti: readonly string[] = [];
  let thawed: Promise<void> | undefined;
  const paused = { at: 0, done: false };
  const proxy = new Proxy(client, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (name === 'multi' && afterMulti.length) [arm, afterMulti] = [afterMulti, []];
      if (typeof value !== 'function' || !['get', 'set', 'eval', 'hmget'].includes(String(name))) return value;
      return (...args: unknown[]) => {
        const call = () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (thawed) return thawed.then(call);
        if (!arm.includes(String(name))) return call();
        arm = [];
        paused.at = Date.now();
        thawed = new Promise<void>((r) => setTimeout(r, pauseMs)).then(() => {
          paused.done = true;
        });
        const answer = call();
        return answer.then(async (v) => {
          await thawed;
          return v;
        });
      };
    },
  });
  return {
    redis: proxy,
    paused,
    pauseAtNext(...names: string[]) {
      arm = names;
    },
    /** Arms the pause once the process writes a MULTI (the Slack intent). */
    pauseAfterMulti(...names: string[]) {
      afterMulti = names;
    },
  };
}

describe('a worker paused in the middle of publishing, its group taken over meanwhile', () => {
  it('posts no second Slack message when the lock check before its post is answered after the pause', async () => {
    const slack = await new FakeSlack().start();
    try {
      const bot = (state: RedisPublishState) => new SlackBotPublisher(state, botOptions(slack.url, { inFlightMs: 0 }));
      const a = pausable(redis, PAUSE_MS);
      const event = eventFor(loadPayload('am-webhook-01'));
      // Worker A writes its intent (a MULTI) and asks Redis whether the lock is still its own:
      // that question is what the pause falls on.
      a.pauseAfterMulti('get', 'eval');
      const first = bot(new RedisPublishState(a.redis, prefix))
        .publish(event, signal)
        .then(
          (r) => ({ ok: r.slackTs }),
          (err: Error) => ({ err: err.message }),
        );
      await until('worker A is paused before its post', () => a.paused.at > 0, 5000);
      // Worker B gets the lock once A's lapses, finds no earlier post, and posts.
      const second = await bot(new RedisPublishState(redis, prefix)).publish(structuredClone(event), signal);
      expect(a.paused.done).toBe(false);
      expect(slack.topLevel()).toHaveLength(1);
      const outcome = await first;
      expect(slack.topLevel()).toHaveLength(1);
      expect(slack.topLevel()[0]!.ts).toBe(second.slackTs);
      expect(outcome).toEqual({ err: expect.stringMatching(/lock lapsed before posting/) });
    } finally {
      await slack.stop();
    }
  }, 40_000);

  it('pushes no second record when its "not delivered yet" is read after the pause', async () => {
    const loki = await new FakeLoki().start();
    try {
      const publisher = (client: Redis) =>
        new LokiPublisher(new LokiClient({ url: loki.url }), { state: new RedisPublishState(client, prefix) });
      const a = pausable(redis, PAUSE_MS);
      const event = eventFor(loadPayload('am-webhook-01'));
      event.records = event.records.slice(0, 1);
      // Worker B built its own record of the same alert (its own trace), as a takeover does.
      const other: PublishEvent = structuredClone(event);
      other.records[0]!.traceId = 'bbbbccccddddeeeeffff000011112222';
      a.pauseAtNext('hmget');
      const first = publisher(a.redis)
        .publish(event, signal)
        .then(
          (r) => ({ ok: r.published }),
          (err: Error) => ({ err: err.message }),
        );
      await until('worker A is paused before its push', () => a.paused.at > 0, 5000);
      expect((await publisher(redis).publish(other, signal)).published).toBe(true);
      expect(a.paused.done).toBe(false);
      const outcome = await first;
      const records = loki.records().filter((r) => r.fingerprint === event.records[0]!.fingerprint);
      expect(records.map((r) => r.traceId)).toEqual([other.records[0]!.traceId]);
      expect(outcome).toEqual({ err: expect.stringMatching(/lock lapsed before pushing/) });
    } finally {
      await loki.stop();
    }
  }, 40_000);
});

describe('the group lock as a lease', () => {
  it('is confirmed lost by asking Redis, before the heartbeat could notice', async () => {
    const state = new RedisPublishState(redis, prefix);
    const lockKey = `${prefix}:publish:{${groupDigest('g-paused')}}:lock:slack`;
    const seen = await state.withLock('g-paused', 'slack', signal, async (lock) => {
      const before = await lock.confirm();
      // Another worker took the lock (only possible once the lease lapsed in Redis).
      await redis.set(lockKey, 'other-worker', 'PX', 60_000);
      return { before, held: lock.held(), confirmed: await lock.confirm(), after: lock.held() };
    });
    // held() trusts its lease until a renewal finds the other token; confirm() asks at once.
    expect(seen).toEqual({ before: true, held: true, confirmed: false, after: false });
  });

  it('counts from when a renewal was sent, not from when its answer was read', async () => {
    const timings = lockTimings(600);
    const a = pausable(redis, 1000);
    const state = new RedisPublishState(a.redis, prefix, undefined, timings);
    const seen = await state.withLock('g', 'slack', signal, async (lock) => {
      const before = lock.held();
      a.pauseAtNext('eval');
      const confirmed = await lock.confirm();
      return { before, confirmed, after: lock.held() };
    });
    // Redis granted the renewal, but the answer came 1 s later: longer than the 600 ms lease.
    expect(seen).toEqual({ before: true, confirmed: false, after: false });
  });

  it('runs on while its renewals are answered in time, past many TTLs', async () => {
    const state = new RedisPublishState(redis, prefix, undefined, lockTimings(300));
    const seen = await state.withLock('g', 'slack', signal, async (lock) => {
      await new Promise((r) => setTimeout(r, 1500));
      return { held: lock.held(), confirmed: await lock.confirm() };
    });
    expect(seen).toEqual({ held: true, confirmed: true });
  });
});
