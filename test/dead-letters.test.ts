import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { retryDelayMs } from '../src/queue/job';
import { FakeLoki } from './fakes/loki';
import { fixture, startTestService, uniquePrefix, type TestService } from './helpers/service';
import { until } from './helpers/until';

/**
 * Issue 10, finding 1: a job that failed for good must not block the identical notification
 * when Alertmanager delivers it again, and it must be kept where an operator sees it (the
 * dead-letter list, its gauge and `alert-annotator failed list|retry|drop`).
 */

const execFileP = promisify(execFile);
const ROOT = join(__dirname, '..');

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'cli.ts'), ...args];
  try {
    const { stdout, stderr } = await execFileP(process.execPath, argv, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LLM_PROVIDER: 'none', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The recorded notification, as another group with an alert of its own (dedup is per alert). */
function body(name: string): Record<string, unknown> {
  const b = structuredClone(fixture('am-webhook-01').body) as Record<string, unknown> & { alerts: { fingerprint: string }[] };
  b.groupKey = `${String(b.groupKey)}-${name}`;
  b.alerts[0]!.fingerprint = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return b;
}

const FAILED = (svc: TestService) => svc.logs.filter((l) => l.msg === 'job failed for good');

describe('repeats of a notification', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ ROLE: 'receiver' });
  });
  afterAll(async () => svc.stop());

  it('answers a repeat of a queued notification with status "duplicate", and logs it as a duplicate', async () => {
    const b = body('repeat');
    const first = await request(svc.url).post('/webhook/alertmanager').send(b);
    const again = await request(svc.url).post('/webhook/alertmanager').send(b);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('queued');
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate', jobId: first.body.jobId });
    expect(svc.logs.filter((l) => l.msg === 'notification queued')).toHaveLength(1);
    expect(svc.logs.filter((l) => l.msg === 'notification duplicate')).toHaveLength(1);
  });
});

describe('a job that fails for good', () => {
  let loki: FakeLoki;
  beforeEach(async () => {
    loki = await new FakeLoki().start();
  });
  afterEach(async () => loki.stop());

  it('does not block the identical notification delivered again later: it is processed and its record stored', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, JOB_ATTEMPTS: '1' });
    try {
      loki.failNextPushes({ status: 500, body: 'internal error\n' }, 1);
      const b = body('after-failure');
      expect((await request(svc.url).post('/webhook/alertmanager').send(b)).status).toBe(200);
      await until('the job to fail for good', () => FAILED(svc).length === 1);
      expect(loki.records()).toHaveLength(0);
      // Alertmanager re-notifies the same group (repeat_interval, or it never got our 200).
      const again = await request(svc.url).post('/webhook/alertmanager').send(b);
      expect(again.status).toBe(200);
      expect(again.body.status).toBe('queued');
      await until('the record of the re-delivered notification', () => loki.records().length === 1);
    } finally {
      await svc.stop();
    }
  });

  it('is kept as a dead letter (reason, group, fingerprints, attempts), counted by the gauge, and listed, retried and dropped by the CLI', async () => {
    const prefix = uniquePrefix('dead');
    const svc = await startTestService({ QUEUE_PREFIX: prefix, LOKI_URL: loki.url, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' });
    const env = { REDIS_URL: svc.config.REDIS_URL, QUEUE_PREFIX: prefix };
    try {
      loki.failNextPushes({ status: 500, body: 'internal error\n' }, 2);
      const b = body('dead-letter');
      const res = await request(svc.url).post('/webhook/alertmanager').send(b);
      await until('the job to fail for good', () => FAILED(svc).length === 1);

      const metrics = await request(svc.url).get('/metrics');
      expect(metrics.text).toMatch(/^alert_annotator_dead_letters 1$/m);

      const list = await cli(['failed', 'list'], env);
      expect(list.code).toBe(0);
      const entries = list.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        id: res.body.jobId,
        name: 'group',
        groupKey: b.groupKey,
        fingerprints: [(b.alerts as { fingerprint: string }[])[0]!.fingerprint],
        attempts: 2,
      });
      expect(String(entries[0]!.reason)).toMatch(/loki/i);
      expect(Date.parse(String(entries[0]!.failedAt))).not.toBeNaN();

      // Loki is back: retrying re-enqueues the kept payload, and the record arrives.
      const retry = await cli(['failed', 'retry', String(res.body.jobId)], env);
      expect(retry.code).toBe(0);
      await until('the record after the retry', () => loki.records().length === 1);
      expect((await cli(['failed', 'list'], env)).stdout.trim()).toBe('');

      // Drop: a second failure, dropped, is gone from the list and the gauge.
      loki.failNextPushes({ status: 500, body: 'internal error\n' }, 2);
      const other = await request(svc.url).post('/webhook/alertmanager').send(body('dead-letter-drop'));
      await until('the second job to fail for good', () => FAILED(svc).length === 2);
      expect((await cli(['failed', 'drop', 'no-such-id'], env)).code).toBe(1);
      expect((await cli(['failed', 'drop', String(other.body.jobId)], env)).code).toBe(0);
      expect((await cli(['failed', 'list'], env)).stdout.trim()).toBe('');
      expect((await request(svc.url).get('/metrics')).text).toMatch(/^alert_annotator_dead_letters 0$/m);
    } finally {
      await svc.stop();
    }
  }, 90_000);
});

describe('retry defaults', () => {
  it('retry a failing job for at least 6 hours, with exponential delays capped at JOB_BACKOFF_MAX_MS', () => {
    const c = loadConfig({});
    const delays = Array.from({ length: c.JOB_ATTEMPTS - 1 }, (_, i) =>
      retryDelayMs(i + 1, c.JOB_BACKOFF_MS, undefined, c.JOB_BACKOFF_MAX_MS),
    );
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6 * 3600_000);
    expect(Math.max(...delays)).toBe(c.JOB_BACKOFF_MAX_MS);
    expect(delays.slice(0, 3)).toEqual([c.JOB_BACKOFF_MS, 2 * c.JOB_BACKOFF_MS, 4 * c.JOB_BACKOFF_MS]);
  });
});
