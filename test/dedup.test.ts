import { Redis } from 'ioredis';
import pino from 'pino';
import { LokiClient } from '../src/clients/loki';
import { RedisDedup } from '../src/dedup';
import { LokiAnnotationIndex } from '../src/dedup/loki-index';
import { recordLabels } from '../src/model/record';
import type { Alert } from '../src/model/alert';
import { FakeLoki } from './fakes/loki';
import { deleteKeys, REDIS_URL, uniquePrefix } from './helpers/service';

const log = pino({ level: 'silent' });
const startsAt = new Date(Date.now() - 30 * 60_000).toISOString();

function alerts(n: number, status: Alert['status'] = 'firing'): Alert[] {
  return Array.from({ length: n }, (_, i) => ({
    status,
    labels: { alertname: 'Many', instance: `i-${i}` },
    annotations: {},
    startsAt,
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: (0x100000 + i).toString(16),
  }));
}

describe('dedup of large groups', () => {
  const redis = new Redis(REDIS_URL);
  const loki = new FakeLoki();
  const prefix = uniquePrefix('dedup');
  beforeAll(async () => loki.start());
  afterAll(async () => {
    await loki.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('claims, completes and checks Loki for 150 alerts with one query (up to 500 a query), finding the annotated ones', async () => {
    const group = alerts(150);
    // Ten of them were annotated before Redis forgot: their records are in Loki.
    for (const a of group.slice(0, 10)) {
      loki.seed(recordLabels({ alertname: 'Many', severity: 'none', status: 'firing' }), [
        [`${BigInt(Date.now()) * 1_000_000n}`, JSON.stringify({ fingerprint: a.fingerprint, startsAt: a.startsAt, status: 'firing' })],
      ]);
    }
    // A record of the same fingerprint for an earlier firing (other startsAt) does not count.
    loki.seed(recordLabels({ alertname: 'Many', severity: 'none', status: 'firing' }), [
      [
        `${BigInt(Date.now()) * 1_000_000n + 1n}`,
        JSON.stringify({ fingerprint: group[20]!.fingerprint, startsAt: '2020-01-01T00:00:00Z' }),
      ],
    ]);
    const dedup = new RedisDedup({ redis, prefix, log, index: new LokiAnnotationIndex(new LokiClient({ url: loki.url })) });

    const first = await dedup.claim(group, 'job-1');
    expect(first.done.map((a) => a.fingerprint).sort()).toEqual(
      group
        .slice(0, 10)
        .map((a) => a.fingerprint)
        .sort(),
    );
    expect(first.fresh).toHaveLength(140);
    expect(loki.requestsTo('/loki/api/v1/query_range')).toHaveLength(1);

    // Another owner finds them locked; the same owner (a retry of the job) gets them back.
    expect((await dedup.claim(group, 'job-2')).busy).toHaveLength(140);
    expect((await dedup.claim(group, 'job-1')).fresh).toHaveLength(140);

    await dedup.complete(first.fresh, 'job-1');
    const again = await dedup.claim(group, 'job-2');
    expect(again.done).toHaveLength(150);
    expect(again.fresh).toHaveLength(0);
  });

  it('gives claims back on release, so another worker can take them', async () => {
    const dedup = new RedisDedup({ redis, prefix: `${prefix}-r`, log });
    const group = alerts(5, 'resolved');
    expect((await dedup.claim(group, 'a')).fresh).toHaveLength(5);
    await dedup.release(group, 'a');
    expect((await dedup.claim(group, 'b')).fresh).toHaveLength(5);
    await deleteKeys(redis, `${prefix}-r`);
  });
});
