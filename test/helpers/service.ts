import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config';
import { startService, type Service, type StartOptions } from '../../src/main';
import { NARRATE_QUEUE_NAME, QUEUE_NAME } from '../../src/queue/job';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestService {
  url: string;
  config: Config;
  service: Service;
  /** Every log line the service wrote, parsed. */
  logs: Record<string, unknown>[];
  /** A plain Redis client for assertions. */
  redis: Redis;
  queue: Queue;
  /** The narration jobs' queue. */
  narrations: Queue;
  /** Waits until no job is waiting or active (delayed ones too, unless told otherwise). */
  waitForJobs(opts?: { includeDelayed?: boolean; timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export function uniquePrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under a prefix (tests clean up after themselves). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * Runs receiver + worker in-process against the real Redis, with a unique queue prefix,
 * an ephemeral port and the model off unless the test says otherwise. The webhook is open
 * (WEBHOOK_AUTH=none) unless the test gives a credential or WEBHOOK_AUTH itself.
 */
export async function startTestService(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestService> {
  const prefix = env.QUEUE_PREFIX ?? uniquePrefix('svc');
  const credential = env.WEBHOOK_BEARER_TOKEN || env.WEBHOOK_BASIC_AUTH || env.WEBHOOK_BEARER_TOKEN_FILE || env.WEBHOOK_BASIC_AUTH_FILE;
  const config = loadConfig({
    PORT: '0',
    // Test servers stay on loopback (HOST unset would bind every interface).
    HOST: '127.0.0.1',
    ROLE: 'all',
    REDIS_URL,
    LLM_PROVIDER: 'none',
    LOG_LEVEL: 'debug',
    JOB_BACKOFF_MS: '200',
    ...(credential ? {} : { WEBHOOK_AUTH: 'none' }),
    ...env,
    QUEUE_PREFIX: prefix,
  });
  const logs: Record<string, unknown>[] = [];
  const destination = { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) };
  const service = await startService(config, { destination, ...opts });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
  const narrations = new Queue(NARRATE_QUEUE_NAME, { connection: redis, prefix });
  return {
    url: service.url ?? '',
    config,
    service,
    logs,
    redis,
    queue,
    narrations,
    async waitForJobs({ includeDelayed = true, timeoutMs = 20_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
        const [g, n] = await Promise.all([queue.getJobCounts(...states), narrations.getJobCounts(...states)]);
        const c = Object.fromEntries(states.map((st) => [st, (g[st] ?? 0) + (n[st] ?? 0)]));
        const pending = (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) + (includeDelayed ? (c.delayed ?? 0) : 0);
        if (pending === 0) return;
        if (Date.now() > deadline) throw new Error(`jobs still pending after ${timeoutMs} ms: ${JSON.stringify(c)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await service.shutdown();
      await Promise.all([queue.close(), narrations.close()]);
      await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
}

export interface AmFixture {
  name: string;
  headers: [string, string][];
  body: Record<string, unknown>;
}

/** Webhook requests recorded from Alertmanager 0.25 (docs/architecture.md, "Alertmanager"). */
const FIXTURE_DIR = join(__dirname, '..', 'fixtures', 'alertmanager');

export function allFixtures(): AmFixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((name) => ({ name, ...(JSON.parse(readFileSync(join(FIXTURE_DIR, name), 'utf8')) as Omit<AmFixture, 'name'>) }));
}

/** One fixture by file-name prefix, e.g. 'am-webhook-04'. */
export function fixture(prefix: string): AmFixture {
  const f = allFixtures().find((x) => x.name.startsWith(prefix));
  if (!f) throw new Error(`no fixture ${prefix} in ${FIXTURE_DIR}`);
  return f;
}

/** A TCP port nobody listens on right now (for servers a test starts, or a closed port). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
