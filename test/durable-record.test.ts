import { createHash } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { AnnotationRecord } from '../src/model/record';
import { fitRecord } from '../src/publish/loki';
import { QUEUE_NAME } from '../src/queue/job';
import { FakeLoki } from './fakes/loki';
import { fixture, startTestService, type TestService } from './helpers/service';
import { until } from './helpers/until';

/**
 * Issue 10, findings 3 and 4: the Loki record is the durable proof of annotation, so an alert
 * is done only once Loki stored it (cut to fit Loki's limits when it must be), a permanent
 * rejection is a dead letter rather than a silent "done", and neither a stalled job run twice
 * nor a retry pushes a record twice.
 */

let loki: FakeLoki;
beforeEach(async () => {
  loki = await new FakeLoki().start();
});
afterEach(async () => loki.stop());

type Body = Record<string, unknown> & { alerts: ({ fingerprint: string; labels: Record<string, string> } & Record<string, unknown>)[] };

/** A recorded notification as a group of its own with alerts of their own (dedup is per alert). */
function body(name: string, prefix = 'am-webhook-01'): Body {
  const b = structuredClone(fixture(prefix).body) as Body;
  b.groupKey = `${String(b.groupKey)}-${name}`;
  b.alerts.forEach((a, i) => (a.fingerprint = createHash('sha256').update(`${name}-${i}`).digest('hex').slice(0, 16)));
  return b;
}

const failedForGood = (svc: TestService) => svc.logs.filter((l) => l.msg === 'job failed for good');

describe('fitRecord', () => {
  const record = (labels: number, size: number): AnnotationRecord =>
    ({
      fingerprint: 'f00dfeedf00dfeed',
      alertname: 'Big',
      status: 'firing',
      severity: 'critical',
      startsAt: '2026-12-02T00:00:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      annotatedAt: '2026-12-02T00:01:00.000Z',
      labels: { alertname: 'Big', ...Object.fromEntries(Array.from({ length: labels }, (_, i) => [`l${i}`, 'x'.repeat(size)])) },
      summary: 's',
    }) as unknown as AnnotationRecord;

  it('cuts hundreds of medium fields, not only the biggest 200, and names them in a bounded marker', () => {
    const line = fitRecord(record(400, 4096), 256 * 1024); // 1.6 MB of labels
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(256 * 1024);
    const r = JSON.parse(line) as { fingerprint: string; labels: Record<string, string>; truncated: string[] };
    expect(r.fingerprint).toBe('f00dfeedf00dfeed');
    expect(r.labels.alertname).toBe('Big');
    expect(r.truncated.length).toBeLessThanOrEqual(51);
    expect(r.truncated.at(-1)).toMatch(/^…and \d+ more$/);
  });

  it('under a limit smaller than what identifies the alert, keeps only that, never a line over the limit', () => {
    const line = fitRecord(record(50, 100), 1024);
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(1024);
    expect(JSON.parse(line)).toMatchObject({
      fingerprint: 'f00dfeedf00dfeed',
      startsAt: '2026-12-02T00:00:00.000Z',
      truncated: ['record'],
    });
  });
});

describe('the durable record', () => {
  it("is cut to fit Loki's line limit, says what was cut, and keeps what identifies the alert", async () => {
    const svc = await startTestService({ LOKI_URL: loki.url });
    try {
      const b = body('huge-label');
      // The webhook cuts each label value at 4 KiB, so it takes many labels to pass Loki's line
      // limit: 120 of them at 4,000 bytes make a 560 KB line (each label is in the record twice).
      for (let i = 0; i < 120; i++) b.alerts[0]!.labels[`frame_${i}`] = 'frame\n'.repeat(666);
      expect((await request(svc.url).post('/webhook/alertmanager').send(b)).status).toBe(200);
      await until('the record', () => loki.records().length === 1);
      await svc.waitForJobs();
      const [entry] = loki.entries({ job: 'alert-annotator' });
      expect(Buffer.byteLength(entry!.line)).toBeLessThanOrEqual(256 * 1024);
      const record = JSON.parse(entry!.line) as Record<string, unknown>;
      expect(record).toMatchObject({ fingerprint: b.alerts[0]!.fingerprint, startsAt: b.alerts[0]!.startsAt, status: 'firing' });
      const cut = record.truncated as string[];
      expect(cut.length).toBeGreaterThan(0);
      expect(cut.filter((path) => !/^labels\.frame_\d+$/.test(path) && !/^…and \d+ more$/.test(path))).toEqual([]);
      expect((record.labels as Record<string, string>).alertname).toBe(b.alerts[0]!.labels.alertname);
    } finally {
      await svc.stop();
    }
  });

  it('fits a smaller LOKI_MAX_LINE_BYTES too', async () => {
    loki.maxLineBytes = 4096;
    const svc = await startTestService({ LOKI_URL: loki.url, LOKI_MAX_LINE_BYTES: '4096' });
    try {
      const b = body('small-limit');
      b.alerts[0]!.labels.note = 'n'.repeat(5000);
      expect((await request(svc.url).post('/webhook/alertmanager').send(b)).status).toBe(200);
      await until('the record', () => loki.records().length === 1);
      expect(Buffer.byteLength(loki.entries({ job: 'alert-annotator' })[0]!.line)).toBeLessThanOrEqual(4096);
    } finally {
      await svc.stop();
    }
  });

  it('rejected for good by Loki fails the job at once as a dead letter with the reason, and the alert is not marked done', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, JOB_ATTEMPTS: '5' });
    try {
      loki.failNextPushes({ status: 400, body: 'entry for stream has timestamp too old\n' }, 1);
      const b = body('rejected');
      expect((await request(svc.url).post('/webhook/alertmanager').send(b)).status).toBe(200);
      await until('the job to fail for good', () => failedForGood(svc).length === 1);
      expect(loki.requestsTo('/loki/api/v1/push')).toHaveLength(1);
      const dead = await svc.redis.hvals(`${svc.config.QUEUE_PREFIX}:dead-letters`);
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!).reason).toMatch(/too old/);
      // Not marked done: the same notification delivered again is annotated.
      expect((await request(svc.url).post('/webhook/alertmanager').send(b)).body.status).toBe('queued');
      await until('the record', () => loki.records().length === 1);
    } finally {
      await svc.stop();
    }
  });
});

describe('ownership of a job', () => {
  it('a job that stalls and runs again while the first run is still going is annotated once', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, WORKER_CONCURRENCY: '2' });
    // Only the stalled-job checker: it takes no jobs.
    const checkerRedis = new Redis(svc.config.REDIS_URL, { maxRetriesPerRequest: null });
    const checker = new Worker(QUEUE_NAME, null, {
      connection: checkerRedis,
      prefix: svc.config.QUEUE_PREFIX,
      autorun: false,
      stalledInterval: 100,
    });
    try {
      loki.latencyMs = 1500;
      const b = body('stalled');
      const res = await request(svc.url).post('/webhook/alertmanager').send(b);
      const jobId = String(res.body.jobId);
      const prefix = `${svc.config.QUEUE_PREFIX}:${QUEUE_NAME}`;
      await until('the first run to start', async () => (await svc.redis.lrange(`${prefix}:active`, 0, -1)).includes(jobId));
      // The first run loses its lock (a long pause, a partition): BullMQ hands the job to another slot.
      await svc.redis.del(`${prefix}:${jobId}:lock`);
      // The service's own checker ran at its start and holds off others for stalledInterval (30 s).
      await svc.redis.del(`${prefix}:stalled-check`);
      void checker.startStalledCheckTimer();
      await until('the job to start a second time', async () => Number(await svc.redis.hget(`${prefix}:${jobId}`, 'ats')) >= 2, 10_000);
      await until('the record', () => loki.records().length >= 1, 20_000);
      // Give a second run every chance to push its own copy.
      await new Promise((r) => setTimeout(r, 4000));
      expect(loki.records().map((r) => r.fingerprint)).toEqual([b.alerts[0]!.fingerprint]);
    } finally {
      await checker.close();
      checkerRedis.disconnect();
      await svc.stop();
    }
  }, 60_000);
});
