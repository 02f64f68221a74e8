import request from 'supertest';
import { annotationRecordSchema } from '../src/model/record';
import { FakeLoki } from './fakes/loki';
import { fixture, startTestService, uniquePrefix, type TestService } from './helpers/service';

function bodyOf(prefix: string, groupSuffix: string): Record<string, unknown> & { alerts: Record<string, unknown>[] } {
  const body = structuredClone(fixture(prefix).body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
  body.groupKey = `${String(body.groupKey)}/${groupSuffix}`;
  return body;
}

async function post(svc: TestService, body: unknown): Promise<number> {
  return (
    await request(svc.url)
      .post('/webhook/alertmanager')
      .send(body as object)
  ).status;
}

describe('annotating alerts end to end into Loki (real Redis, fake Loki)', () => {
  let loki: FakeLoki;
  beforeAll(async () => {
    loki = await new FakeLoki().start();
  });
  afterAll(async () => loki.stop());
  beforeEach(() => {
    loki.clear();
    loki.requests.length = 0;
  });

  it('writes one record per alert with every field of the contract and low-cardinality stream labels', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, LOKI_TENANT: 'team-a' });
    try {
      const body = bodyOf('am-webhook-04', 'contract');
      expect(await post(svc, body)).toBe(200);
      await svc.waitForJobs();
      const entries = loki.entries({ job: 'alert-annotator' });
      expect(entries).toHaveLength(4);
      for (const e of entries) {
        expect(Object.keys(e.labels).sort()).toEqual(['alertname', 'job', 'severity', 'status']);
        expect(e.labels).toMatchObject({ job: 'alert-annotator', alertname: 'HighErrorRate', severity: 'warning', status: 'firing' });
        const record = annotationRecordSchema.parse(JSON.parse(e.line));
        const alert = body.alerts.find((a) => a.fingerprint === record.fingerprint)!;
        expect(alert).toBeDefined();
        expect(record).toMatchObject({
          status: 'firing',
          startsAt: alert.startsAt,
          endsAt: '0001-01-01T00:00:00Z',
          groupKey: body.groupKey,
          labels: alert.labels,
          narrator: 'template',
          promptVersion: 'template-v1',
          // A warning with no source configured: nothing was looked at, so nothing is called noise.
          verdict: 'inconclusive',
        });
        expect(record.summary).toContain('High 5xx error rate');
        expect(record.actions.length).toBeGreaterThan(0);
        expect(record.actions.join(' ')).toContain('https://runbooks.example.com/api/high-error-rate');
      }
      // Pushes carry the tenant and a JSON content type; timestamps are strings of ns.
      const push = loki.requestsTo('/loki/api/v1/push')[0]!;
      expect(push.headers['x-scope-orgid']).toBe('team-a');
      expect(push.headers['content-type']).toContain('application/json');
      const ts = (push.json as { streams: { values: [unknown, string][] }[] }).streams[0]!.values[0]![0];
      expect(typeof ts).toBe('string');
      expect(Math.abs(Number(BigInt(ts as string) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
    } finally {
      await svc.stop();
    }
  });

  it('gives one record when the same notification arrives five times, as repeats after completion too', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url });
    try {
      const body = bodyOf('am-webhook-01', 'five');
      for (let i = 0; i < 5; i++) {
        expect(await post(svc, body)).toBe(200);
        if (i === 2) await svc.waitForJobs();
      }
      // A repeat notification after the job was cleaned from the queue takes the Redis marker path.
      await svc.queue.obliterate({ force: true });
      expect(await post(svc, body)).toBe(200);
      await svc.waitForJobs();
      expect(loki.records()).toHaveLength(1);
    } finally {
      await svc.stop();
    }
  });

  it('gives one record when two workers race on the same alerts', async () => {
    const prefix = uniquePrefix('race');
    const receiver = await startTestService({ ROLE: 'receiver', QUEUE_PREFIX: prefix, LOKI_URL: loki.url });
    // Loki answers slowly so both workers are inside the pipeline at the same time.
    loki.latencyMs = 100;
    const workers = await Promise.all([
      startTestService({ ROLE: 'worker', QUEUE_PREFIX: prefix, LOKI_URL: loki.url, WORKER_CONCURRENCY: '4' }),
      startTestService({ ROLE: 'worker', QUEUE_PREFIX: prefix, LOKI_URL: loki.url, WORKER_CONCURRENCY: '4' }),
    ]);
    try {
      // Two distinct notifications (different group keys, as from two routes) for the same alerts.
      const a = bodyOf('am-webhook-04', 'race-a');
      const b = bodyOf('am-webhook-04', 'race-b');
      const c = { ...bodyOf('am-webhook-04', 'race-c'), alerts: [...a.alerts].reverse() };
      await Promise.all([post(receiver, a), post(receiver, b), post(receiver, c)]);
      await receiver.waitForJobs();
      const fps = loki.records().map((r) => r.fingerprint);
      expect(fps).toHaveLength(4);
      expect(new Set(fps).size).toBe(4);
      // Both workers took jobs, and at least one found the alerts claimed by the other.
      const logs = workers.map((w) => w.logs.filter((l) => l.msg === 'group processed' || l.msg === 'job failed; will retry'));
      expect(logs.every((l) => l.length > 0)).toBe(true);
    } finally {
      loki.latencyMs = 0;
      await Promise.all(workers.map((w) => w.service.shutdown()));
      await receiver.stop();
      for (const w of workers) w.redis.disconnect();
    }
  });

  it('after the queue keys are flushed, Loki still prevents a second annotation', async () => {
    const prefix = uniquePrefix('flush');
    const body = bodyOf('am-webhook-01', 'flush');
    let svc = await startTestService({ LOKI_URL: loki.url, QUEUE_PREFIX: prefix });
    try {
      expect(await post(svc, body)).toBe(200);
      await svc.waitForJobs();
      expect(loki.records()).toHaveLength(1);
    } finally {
      await svc.stop(); // deletes every key under the prefix: the Redis markers are gone
    }
    svc = await startTestService({ LOKI_URL: loki.url, QUEUE_PREFIX: prefix });
    try {
      expect(await svc.redis.keys(`${prefix}:annotated:*`)).toEqual([]);
      expect(await post(svc, body)).toBe(200);
      await svc.waitForJobs();
      expect(loki.records()).toHaveLength(1);
      const queries = loki.requestsTo('/loki/api/v1/query_range');
      expect(queries.length).toBeGreaterThan(0);
      expect(queries.at(-1)!.query.get('query')).toContain('fingerprint');
    } finally {
      await svc.stop();
    }
  });

  it('writes one resolved record for a resolved notification, and one per status for a mixed group', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url });
    try {
      const firing = bodyOf('am-webhook-01', 'resolve');
      const resolved = { ...bodyOf('am-webhook-06', 'resolve'), groupKey: firing.groupKey };
      expect(await post(svc, firing)).toBe(200);
      await svc.waitForJobs();
      expect(await post(svc, resolved)).toBe(200);
      expect(await post(svc, resolved)).toBe(200);
      await svc.waitForJobs();
      const records = loki.records();
      expect(records.map((r) => r.status)).toEqual(['firing', 'resolved']);
      expect(records[1]!.summary).toMatch(/^Resolved after \d+/);
      expect(loki.entries({ job: 'alert-annotator', status: 'resolved' })).toHaveLength(1);

      loki.clear();
      const mixed = bodyOf('am-webhook-07', 'mixed');
      expect(await post(svc, mixed)).toBe(200);
      await svc.waitForJobs();
      const statuses = loki
        .records()
        .map((r) => r.status)
        .sort();
      expect(statuses).toEqual(['firing', 'firing', 'firing', 'resolved']);
    } finally {
      await svc.stop();
    }
  });

  it('when Loki fails for a while, the record is written once it is back, and only once', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url });
    try {
      loki.failNextPushes({ status: 503, body: 'Ingester not ready' }, 3);
      expect(await post(svc, bodyOf('am-webhook-01', 'outage'))).toBe(200);
      await svc.waitForJobs({ timeoutMs: 20_000 });
      expect(loki.records()).toHaveLength(1);
      expect(svc.logs.filter((l) => l.msg === 'publish failed; will retry' && l.target === 'loki')).toHaveLength(3);
      expect(loki.requestsTo('/loki/api/v1/push')).toHaveLength(4);
    } finally {
      await svc.stop();
    }
  });

  it('waits as long as Loki asks with Retry-After before retrying the job', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, JOB_BACKOFF_MS: '100' });
    try {
      loki.failNextPushes({ status: 429, headers: { 'Retry-After': '2' }, body: 'Ingestion rate limit exceeded' }, 1);
      expect(await post(svc, bodyOf('am-webhook-01', 'retry-after'))).toBe(200);
      await svc.waitForJobs({ timeoutMs: 20_000 });
      const pushes = loki.requestsTo('/loki/api/v1/push');
      expect(pushes).toHaveLength(2);
      expect(pushes[1]!.at - pushes[0]!.at).toBeGreaterThanOrEqual(1900);
      expect(loki.records()).toHaveLength(1);
    } finally {
      await svc.stop();
    }
  });

  it('never writes a configured secret into its logs', async () => {
    const secretToken = 'xoxb-very-secret-token-value';
    const svc = await startTestService({
      LOKI_URL: loki.url,
      SLACK_WEBHOOK_URL: 'http://127.0.0.1:1/services/T000/B000/secretpath',
      WEBHOOK_BEARER_TOKEN: secretToken,
    });
    try {
      await request(svc.url)
        .post('/webhook/alertmanager')
        .set('Authorization', `Bearer ${secretToken}`)
        .send(bodyOf('am-webhook-01', 'secret'));
      await request(svc.url)
        .post('/webhook/alertmanager')
        .set('Authorization', `Bearer wrong-${secretToken}`)
        .send(bodyOf('am-webhook-01', 'secret'));
      // Slack at a closed port: the job fails with the webhook URL in play, and is retried later.
      await svc.waitForJobs({ includeDelayed: false });
      expect(svc.logs.some((l) => l.msg === 'publish failed; will retry' && l.target === 'slack')).toBe(true);
      const text = JSON.stringify(svc.logs);
      expect(svc.logs.length).toBeGreaterThan(0);
      expect(text).not.toContain(secretToken);
      expect(text).not.toContain('secretpath');
    } finally {
      await svc.stop();
    }
  });
});
