import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import request from 'supertest';
import { groupJobId } from '../src/queue/job';
import { checkAuth } from '../src/receive/auth';
import { webhookPayloadSchema } from '../src/model/alert';
import { allFixtures, fixture, freePort, startTestService, type TestService } from './helpers/service';

const BEARER = 'test-bearer-token-123';

function header(f: ReturnType<typeof fixture>, name: string): string | undefined {
  return f.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

describe('the webhook receiver, against real Redis', () => {
  let svc: TestService;
  beforeAll(async () => {
    // Receiver only: jobs stay in the queue where the test can read them.
    svc = await startTestService({
      ROLE: 'receiver',
      WEBHOOK_BEARER_TOKEN: BEARER,
      WEBHOOK_BASIC_AUTH: 'amuser:ampass',
      WEBHOOK_MAX_BODY_BYTES: '65536',
    });
  });
  afterAll(async () => svc.stop());

  it.each(allFixtures().map((f) => [f.name, f] as const))('accepts and enqueues the recorded Alertmanager request %s', async (_name, f) => {
    const auth = header(f, 'authorization') ?? `Bearer ${BEARER}`;
    const res = await request(svc.url)
      .post('/webhook/alertmanager')
      .set('Content-Type', 'application/json')
      .set('User-Agent', header(f, 'user-agent') ?? 'Alertmanager/0.25.0')
      .set('Authorization', auth)
      .send(JSON.stringify(f.body));
    expect(res.status).toBe(200);
    const job = await svc.queue.getJob(res.body.jobId as string);
    expect(job).toBeDefined();
    const payload = webhookPayloadSchema.parse(f.body);
    expect(job!.data.payload.groupKey).toBe(payload.groupKey);
    expect(job!.data.payload.alerts.map((a: { fingerprint: string }) => a.fingerprint)).toEqual(payload.alerts.map((a) => a.fingerprint));
    expect(res.body.jobId).toBe(groupJobId(payload));
  });

  it('keeps fields that newer Alertmanagers add', async () => {
    const body = structuredClone(fixture('am-webhook-06').body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
    body.someNewField = { x: 1 };
    body.alerts[0]!.silencedBy = [];
    body.groupKey = `${String(body.groupKey)}-newfields`;
    const res = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Bearer ${BEARER}`).send(body);
    expect(res.status).toBe(200);
    const job = await svc.queue.getJob(res.body.jobId as string);
    expect(job!.data.payload.someNewField).toEqual({ x: 1 });
  });

  it('does not enqueue an identical re-delivery twice, even from the other instance of an HA pair', async () => {
    const body = structuredClone(fixture('am-webhook-04').body) as Record<string, unknown>;
    body.groupKey = `${String(body.groupKey)}-redelivery`;
    const first = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Bearer ${BEARER}`).send(body);
    const again = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Bearer ${BEARER}`).send(body);
    const otherInstance = await request(svc.url)
      .post('/webhook/alertmanager')
      .set('Authorization', `Bearer ${BEARER}`)
      .send({ ...body, externalURL: 'http://alertmanager-1:9093' });
    expect([first.status, again.status, otherInstance.status]).toEqual([200, 200, 200]);
    expect(again.body.jobId).toBe(first.body.jobId);
    expect(otherInstance.body.jobId).toBe(first.body.jobId);
    const jobs = await svc.queue.getJobs(['waiting', 'active', 'completed', 'delayed']);
    expect(jobs.filter((j) => j.data.payload.groupKey === body.groupKey)).toHaveLength(1);
  });

  it('answers 401 without credentials, with wrong ones, and with a wrong scheme', async () => {
    const body = fixture('am-webhook-01').body;
    const none = await request(svc.url).post('/webhook/alertmanager').send(body);
    const wrong = await request(svc.url).post('/webhook/alertmanager').set('Authorization', 'Bearer nope-nope-nope').send(body);
    const basicWrong = await request(svc.url)
      .post('/webhook/alertmanager')
      .set('Authorization', `Basic ${Buffer.from('amuser:wrong').toString('base64')}`)
      .send(body);
    const scheme = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Token ${BEARER}`).send(body);
    expect([none.status, wrong.status, basicWrong.status, scheme.status]).toEqual([401, 401, 401, 401]);
    expect(none.body.error).toBe('unauthorized');
  });

  it('accepts basic auth when it is configured', async () => {
    const res = await request(svc.url)
      .post('/webhook/alertmanager')
      .set('Authorization', `Basic ${Buffer.from('amuser:ampass').toString('base64')}`)
      .send(fixture('am-webhook-01').body);
    expect(res.status).toBe(200);
  });

  it('answers 400 naming the problem for a body that is not JSON', async () => {
    const res = await request(svc.url)
      .post('/webhook/alertmanager')
      .set('Authorization', `Bearer ${BEARER}`)
      .set('Content-Type', 'application/json')
      .send('{"alerts": [');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_json');
  });

  it('answers 400 listing the fields that are wrong for a payload of the wrong shape', async () => {
    const body = structuredClone(fixture('am-webhook-01').body) as { alerts: Record<string, unknown>[] };
    delete body.alerts[0]!.fingerprint;
    body.alerts[0]!.status = 'exploded';
    body.alerts[0]!.startsAt = 'yesterday';
    body.alerts[0]!.labels = { severity: 'critical' };
    const res = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Bearer ${BEARER}`).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_payload');
    const paths = (res.body.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['alerts.0.fingerprint', 'alerts.0.status', 'alerts.0.startsAt', 'alerts.0.labels.alertname']),
    );
  });

  it('answers 400 for JSON that is not an object of alerts', async () => {
    for (const body of ['[]', '"x"', '{}', '{"alerts": []}']) {
      const res = await request(svc.url)
        .post('/webhook/alertmanager')
        .set('Authorization', `Bearer ${BEARER}`)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(res.status).toBe(400);
    }
  });

  it('answers 413 above the configured size, before enqueuing anything', async () => {
    const before = await svc.queue.count();
    const body = structuredClone(fixture('am-webhook-01').body) as { alerts: { annotations: Record<string, string> }[] };
    body.alerts[0]!.annotations.description = 'x'.repeat(70_000);
    const res = await request(svc.url).post('/webhook/alertmanager').set('Authorization', `Bearer ${BEARER}`).send(body);
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('payload_too_large');
    expect(await svc.queue.count()).toBe(before);
  });

  it('is healthy, ready while Redis answers, and exposes its metrics', async () => {
    expect((await request(svc.url).get('/-/healthy')).status).toBe(200);
    expect((await request(svc.url).get('/-/ready')).status).toBe(200);
    const metrics = await request(svc.url).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/alert_annotator_webhook_requests_total\{code="200"\} \d+/);
    expect(metrics.text).toMatch(/alert_annotator_webhook_requests_total\{code="401"\} [1-9]/);
    expect(metrics.text).toMatch(/alert_annotator_alerts_received_total\{status="firing"\} [1-9]/);
    expect(metrics.text).toMatch(/alert_annotator_queue_jobs\{queue="annotate",state="waiting"\} [1-9]/);
    expect(metrics.text).toContain('process_resident_memory_bytes');
  });
});

describe('when Redis cannot take the job', () => {
  it('answers 503 within 2 s while Redis is unreachable, so Alertmanager retries', async () => {
    const port = await freePort();
    const svc = await startTestService({ ROLE: 'receiver', REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      const started = Date.now();
      const res = await request(svc.url).post('/webhook/alertmanager').send(fixture('am-webhook-01').body);
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.headers['retry-after']).toBeDefined();
      expect((await request(svc.url).get('/-/ready')).status).toBe(503);
      expect((await request(svc.url).get('/-/healthy')).status).toBe(200);
    } finally {
      await svc.service.shutdown();
      svc.redis.disconnect();
      await svc.queue.close().catch(() => undefined);
    }
  });

  it('answers 503 when its Redis stops, and 200 again once it is back', async () => {
    const port = await freePort();
    const startRedis = () =>
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const waitUp = async () => {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = connect(port, '127.0.0.1');
          s.on('connect', () => (s.destroy(), resolve(true)));
          s.on('error', () => resolve(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('redis did not start');
    };
    let redis: ChildProcess = startRedis();
    await waitUp();
    const svc = await startTestService({ ROLE: 'receiver', REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      const body = fixture('am-webhook-01').body;
      expect((await request(svc.url).post('/webhook/alertmanager').send(body)).status).toBe(200);
      redis.kill('SIGKILL');
      await new Promise((r) => redis.once('exit', r));
      const started = Date.now();
      const down = await request(svc.url)
        .post('/webhook/alertmanager')
        .send({ ...body, groupKey: 'other-group' });
      expect(down.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2000);
      redis = startRedis();
      await waitUp();
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        status = (
          await request(svc.url)
            .post('/webhook/alertmanager')
            .send({ ...body, groupKey: 'other-group' })
        ).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await svc.service.shutdown();
      svc.redis.disconnect();
      await svc.queue.close().catch(() => undefined);
      redis.kill('SIGKILL');
    }
  });
});

describe('webhook credentials', () => {
  it('with no credential configured, the check lets nothing through unless the receiver was opened on purpose', () => {
    expect(checkAuth(undefined, {})).toBe(false);
    expect(checkAuth('Bearer anything-at-all', {})).toBe(false);
    expect(checkAuth(undefined, { open: true })).toBe(true);
  });

  it('a receiver without credentials does not start unless WEBHOOK_AUTH=none', async () => {
    await expect(startTestService({ ROLE: 'receiver', WEBHOOK_AUTH: 'required' })).rejects.toThrow(
      /WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_AUTH/,
    );
  });

  it('with WEBHOOK_AUTH=none it accepts anyone, and says so at start', async () => {
    const svc = await startTestService({ ROLE: 'receiver', WEBHOOK_AUTH: 'none' });
    try {
      const res = await request(svc.url).post('/webhook/alertmanager').send(fixture('am-webhook-06').body);
      expect(res.status).toBe(200);
      const warning = svc.logs.find((l) => l.level === 'warn' && /WEBHOOK_AUTH=none/.test(String(l.msg)));
      expect(warning?.msg).toMatch(/accepts any request/);
    } finally {
      await svc.stop();
    }
  });
});

describe('a worker-only process', () => {
  it('serves metrics and health on its port, and no webhook', async () => {
    const svc = await startTestService({ ROLE: 'worker' });
    try {
      expect((await request(svc.url).get('/-/healthy')).status).toBe(200);
      expect((await request(svc.url).get('/-/ready')).status).toBe(200);
      const metrics = await request(svc.url).get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('alert_annotator_jobs_total');
      expect(metrics.text).toMatch(/alert_annotator_queue_jobs\{queue="annotate",state="waiting"\} 0/);
      const hook = await request(svc.url).post('/webhook/alertmanager').send(fixture('am-webhook-01').body);
      expect(hook.status).toBe(404);
      expect(hook.body.message).toContain('ROLE=worker');
    } finally {
      await svc.stop();
    }
  });
});
