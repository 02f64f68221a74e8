import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME } from '../src/queue/job';
import { start, stopAll, waitForExit, type Started } from './e2e/process';
import { FakeLoki } from './fakes/loki';
import { deleteKeys, fixture, freePort, REDIS_URL, uniquePrefix } from './helpers/service';
import { until } from './helpers/until';

async function serve(env: Record<string, string>): Promise<{ proc: Started; url: string }> {
  const port = await freePort();
  const proc = start(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    env: { WEBHOOK_AUTH: 'none', ...env, PORT: String(port), LOG_LEVEL: 'info', LLM_PROVIDER: 'none', REDIS_URL },
  });
  const url = `http://127.0.0.1:${port}`;
  await until('the service to listen', async () => {
    try {
      return (await fetch(`${url}/-/ready`)).status === 200;
    } catch {
      return false;
    }
  });
  return { proc, url };
}

describe('stopping the service', () => {
  const loki = new FakeLoki();
  const redis = new Redis(REDIS_URL);
  const prefixes: string[] = [];
  beforeAll(async () => loki.start());
  afterAll(async () => {
    await stopAll();
    await loki.stop();
    for (const p of prefixes) await deleteKeys(redis, p);
    redis.disconnect();
  });

  it('on SIGTERM stops taking requests, finishes the job in flight and exits 0', async () => {
    const prefix = uniquePrefix('sigterm');
    prefixes.push(prefix);
    const { proc, url } = await serve({ QUEUE_PREFIX: prefix, LOKI_URL: loki.url, SHUTDOWN_TIMEOUT_MS: '20000' });
    loki.latencyMs = 1500;
    try {
      const res = await fetch(`${url}/webhook/alertmanager`, { method: 'POST', body: JSON.stringify(fixture('am-webhook-01').body) });
      expect(res.status).toBe(200);
      // The worker is inside the pipeline once it has asked Loki anything.
      await until('the job to start', () => loki.requests.length > 0);
      proc.child.kill('SIGTERM');
      expect(await waitForExit(proc, 20_000)).toBe(0);
      expect(loki.records()).toHaveLength(1);
      await expect(fetch(`${url}/-/healthy`)).rejects.toThrow();
      expect(proc.output()).toContain('"msg":"stopped"');
    } finally {
      loki.latencyMs = 0;
      loki.clear();
    }
  });

  it('exits by the shutdown deadline even when a job is stuck, and the job is retried later', async () => {
    const prefix = uniquePrefix('deadline');
    prefixes.push(prefix);
    const { proc, url } = await serve({ QUEUE_PREFIX: prefix, LOKI_URL: loki.url, SHUTDOWN_TIMEOUT_MS: '1000', JOB_BACKOFF_MS: '200' });
    loki.latencyMs = 30_000;
    try {
      const res = await fetch(`${url}/webhook/alertmanager`, { method: 'POST', body: JSON.stringify(fixture('am-webhook-06').body) });
      expect(res.status).toBe(200);
      const { jobId } = (await res.json()) as { jobId: string };
      await until('the job to start', () => loki.requests.length > 0);
      const started = Date.now();
      proc.child.kill('SIGTERM');
      expect(await waitForExit(proc, 10_000)).toBe(0);
      expect(Date.now() - started).toBeLessThan(6000);
      // The unfinished job is handed back, waiting or delayed for its retry: not left active
      // under the stopped worker's lock, which the next worker would have to wait out.
      const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
      try {
        const job = await queue.getJob(jobId);
        expect(job).toBeDefined();
        expect(['waiting', 'delayed']).toContain(await job!.getState());
      } finally {
        await queue.close();
      }
      // …and the next worker takes it at once and writes the record.
      loki.latencyMs = 0;
      await serve({ QUEUE_PREFIX: prefix, LOKI_URL: loki.url });
      await until('the next worker to write the record', () => loki.records().length === 1, 10_000);
    } finally {
      loki.latencyMs = 0;
      loki.clear();
    }
  });
});
