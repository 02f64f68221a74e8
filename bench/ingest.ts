/**
 * npm run bench:ingest — webhook ingest throughput and latency, receiver vs a bare baseline,
 * both against the same real Redis, measured in the same run. Prints figures and ratios;
 * never passes or fails on time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { deleteKeys } from '../test/helpers/service';

const DURATION = Number(process.env.BENCH_DURATION_S ?? 10);
const OFFERED_RPS = 500;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixture = JSON.parse(
  readFileSync(join(__dirname, '..', 'test', 'fixtures', 'alertmanager', 'am-webhook-04-firing-group-4-alerts-HighErrorRate.json'), 'utf8'),
) as {
  body: Record<string, unknown>;
};

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

interface Result {
  max: Run;
  at500: Run;
  peakRssBytes: number;
}

function startServer(mode: string, prefix: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, 'ingest-server.ts'), [mode, prefix], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
}

function load(port: number, opts: { connections: number; overallRate?: number }): Promise<Run> {
  let n = 0;
  const tag = randomBytes(3).toString('hex');
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/webhook/alertmanager`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Alertmanager/0.25.0' },
        connections: opts.connections,
        duration: DURATION,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
        // Every request a distinct notification, so the queue really stores each one.
        requests: [
          {
            setupRequest: (req) => ({ ...req, body: JSON.stringify({ ...fixture.body, groupKey: `bench-${tag}-${n++}` }) }),
          },
        ],
      },
      (err, r) => {
        if (err) return reject(err);
        resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
      },
    );
  });
}

async function measure(mode: string): Promise<Result> {
  const prefix = `bench-ingest-${mode}-${randomBytes(3).toString('hex')}`;
  const { child, port } = await startServer(mode, prefix);
  try {
    await load(port, { connections: 10, overallRate: 200 }); // warm-up
    const max = await load(port, { connections: 50 });
    const at500 = await load(port, { connections: 20, overallRate: OFFERED_RPS });
    child.send('rss');
    const peakRssBytes = await new Promise<number>((r) => child.once('message', (m: { peakRssBytes: number }) => r(m.peakRssBytes)));
    return { max, at500, peakRssBytes };
  } finally {
    child.kill('SIGKILL');
    const redis = new Redis(REDIS_URL);
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
}

function row(name: string, r: Result): string {
  return [
    name.padEnd(10),
    r.max.rps.toFixed(0).padStart(8),
    r.max.p50.toFixed(1).padStart(8),
    r.max.p99.toFixed(1).padStart(8),
    r.at500.rps.toFixed(0).padStart(9),
    r.at500.p50.toFixed(1).padStart(8),
    r.at500.p99.toFixed(1).padStart(8),
    (r.peakRssBytes / 2 ** 20).toFixed(0).padStart(9),
    String(r.max.non2xx + r.at500.non2xx + r.max.errors + r.at500.errors).padStart(7),
  ].join(' ');
}

async function main(): Promise<void> {
  console.log(`ingest benchmark: 4-alert fixture, ${DURATION}s per run, real Redis at ${REDIS_URL}`);
  const baseline = await measure('baseline');
  const receiver = await measure('receiver');
  console.log('server       max r/s  p50 ms   p99 ms  @500 r/s  p50 ms   p99 ms  peak MiB  errors');
  console.log(row('baseline', baseline));
  console.log(row('receiver', receiver));
  console.log(`throughput ratio receiver/baseline: ${(receiver.max.rps / baseline.max.rps).toFixed(2)} (goal >= 0.5)`);
  console.log(`receiver p99 at ${OFFERED_RPS} r/s offered: ${receiver.at500.p99.toFixed(1)} ms (goal < 10 ms)`);
  console.log(`peak RSS ratio receiver/baseline: ${(receiver.peakRssBytes / baseline.peakRssBytes).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
