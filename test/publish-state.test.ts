import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEFAULT_SERVICE_LABELS } from '../src/analyze/service';
import { OutboundError } from '../src/clients/http';
import { mergeView } from '../src/publish/group-view';
import { SlackBotPublisher } from '../src/publish/slack';
import { eventId, groupDigest, LOCK_TTL_MS, PUBLISH_STATE_TTL_MS, RedisPublishState } from '../src/publish/state';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { deleteKeys, REDIS_URL } from './helpers/service';
import { until } from './helpers/until';
import { eventFor, loadPayload, NOW, recordsFor } from './publish-records';

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

describe('the group lock after a pause of its holder', () => {
  it('is confirmed lost by asking Redis, before the heartbeat could notice', async () => {
    const state = new RedisPublishState(redis, prefix);
    const lockKey = `${prefix}:publish:{${groupDigest('g-paused')}}:lock:slack`;
    const seen = await state.withLock('g-paused', 'slack', signal, async (lock) => {
      const before = await lock.confirm();
      // What a pause longer than the TTL leaves: the lock lapsed and another worker took it.
      await redis.set(lockKey, 'other-worker', 'PX', 60_000);
      return { before, held: lock.held(), confirmed: await lock.confirm() };
    });
    // held() still trusts its last renewal; confirm() is what the Slack post waits for.
    expect(seen).toEqual({ before: true, held: true, confirmed: false });
  });
});

describe('two workers publishing the same new group at once', () => {
  it('post one Slack message between them', async () => {
    const slack = await new FakeSlack().start();
    try {
      const make = () =>
        new SlackBotPublisher(new RedisPublishState(redis, prefix), {
          token: FAKE_SLACK_TOKEN,
          channel: '#alerts',
          apiUrl: `${slack.url}/api`,
          minSeverity: 'info',
          serviceLabels: DEFAULT_SERVICE_LABELS,
          now: () => NOW,
        });
      const event = eventFor(loadPayload('am-webhook-01'));
      const results = await Promise.all([make().publish(event, signal), make().publish(structuredClone(event), signal)]);
      expect(slack.topLevel()).toHaveLength(1);
      expect(results.map((r) => r.slackTs)).toEqual([slack.topLevel()[0]!.ts, slack.topLevel()[0]!.ts]);
    } finally {
      await slack.stop();
    }
  });
});
