/**
 * npm run bench:latency — time from the webhook to the first Slack post of each group,
 * through the whole service (receiver + worker, real Redis, fake Slack and Loki), with a
 * fake model that answers in 0 s, in 10 s, or never. The baseline is the same pipeline
 * with LLM_PROVIDER=none, measured in the same run. Prints figures and ratios; never
 * passes or fails on time.
 */
import { fork } from 'node:child_process';
import request from 'supertest';
import { FakeLoki } from '../test/fakes/loki';
import { FakeOllama } from '../test/fakes/ollama';
import { FAKE_SLACK_TOKEN, FakeSlack } from '../test/fakes/slack';
import { fixture, startTestService, uniquePrefix } from '../test/helpers/service';

const GROUPS = Number(process.env.BENCH_GROUPS ?? 60);
/** Webhooks per second offered: a storm's worth of distinct groups. */
const RATE = Number(process.env.BENCH_RATE ?? 20);
const MODEL = 'qwen2.5:3b-instruct';
/** "Never" is longer than anything here waits: LLM_TIMEOUT_MS (60 s by default) ends the call. */
const NEVER_MS = 10 * 60_000;

interface Mode {
  name: string;
  /** How long the fake model takes to answer; undefined = LLM_PROVIDER=none. */
  modelDelayMs?: number;
}

const MODES: Mode[] = [
  { name: 'no model (baseline)' },
  { name: 'model 0 s', modelDelayMs: 0 },
  { name: 'model 10 s', modelDelayMs: 10_000 },
  { name: 'model never', modelDelayMs: NEVER_MS },
];

interface Result {
  mode: string;
  posted: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  modelCalls: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(mode: Mode): Promise<Result> {
  const [slack, loki, ollama] = await Promise.all([new FakeSlack().start(), new FakeLoki().start(), new FakeOllama([MODEL]).start()]);
  ollama.fallback = { kind: 'good', delayMs: mode.modelDelayMs ?? 0 };
  const svc = await startTestService({
    QUEUE_PREFIX: uniquePrefix('bench-latency'),
    LOG_LEVEL: 'warn',
    LOKI_URL: loki.url,
    SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
    SLACK_CHANNEL: '#alerts',
    SLACK_API_URL: `${slack.url}/api`,
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...(mode.modelDelayMs === undefined
      ? { LLM_PROVIDER: 'none' }
      : { LLM_PROVIDER: 'ollama', OLLAMA_HOST: ollama.url, OLLAMA_MODEL: MODEL }),
  });
  const sentAt = new Map<string, number>();
  try {
    const base = fixture('am-webhook-01').body as Record<string, unknown> & { alerts: Record<string, unknown>[] };
    for (let i = 0; i < GROUPS; i++) {
      const alertname = `LatencyBench${String(i).padStart(4, '0')}`;
      const body = structuredClone(base);
      body.groupKey = `{}:{alertname="${alertname}"}`;
      body.commonLabels = { ...(body.commonLabels as Record<string, string>), alertname };
      body.groupLabels = { alertname };
      body.alerts[0]!.labels = { ...(body.alerts[0]!.labels as Record<string, string>), alertname };
      body.alerts[0]!.fingerprint = `1a7e${i.toString(16).padStart(12, '0')}`;
      body.alerts[0]!.startsAt = new Date(Date.now() - 120_000).toISOString();
      const started = performance.now() + performance.timeOrigin;
      sentAt.set(alertname, started);
      const res = await request(svc.url).post('/webhook/alertmanager').send(body);
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
      const wait = started + 1000 / RATE - (performance.now() + performance.timeOrigin);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // Every group's first post, or 30 s past the last webhook.
    const deadline = Date.now() + 30_000;
    while (slack.topLevel().length < GROUPS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const latencies: number[] = [];
    for (const m of slack.topLevel()) {
      const name = [...sentAt.keys()].find((n) => m.text?.includes(n));
      if (name) latencies.push(m.at - sentAt.get(name)!);
    }
    latencies.sort((a, b) => a - b);
    return {
      mode: mode.name,
      posted: latencies.length,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
      modelCalls: ollama.chats().length,
    };
  } finally {
    await svc.stop();
    await Promise.all([slack.stop(), loki.stop(), ollama.stop()]);
  }
}

/**
 * Each mode runs in a process of its own: a model call that never answers stays in flight
 * in the stopped worker, and must not share the process with the next mode.
 */
function inChild(mode: number): Promise<Result> {
  const child = fork(__filename, [String(mode)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (r: Result) => resolve(r));
    child.once('exit', (code) => reject(new Error(`mode ${MODES[mode]?.name} exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  console.log(`first-post latency: ${GROUPS} one-alert groups at ${RATE}/s, real Redis, fake Slack, Loki and model`);
  const results: Result[] = [];
  for (let i = 0; i < MODES.length; i++) results.push(await inChild(i));
  const baseline = results[0]!;
  console.log('mode                  posted   p50 ms   p95 ms   p99 ms   max ms  p95/baseline  model calls');
  for (const r of results) {
    console.log(
      [
        r.mode.padEnd(20),
        `${r.posted}/${GROUPS}`.padStart(8),
        r.p50.toFixed(0).padStart(8),
        r.p95.toFixed(0).padStart(8),
        r.p99.toFixed(0).padStart(8),
        r.max.toFixed(0).padStart(8),
        (r.p95 / baseline.p95).toFixed(2).padStart(13),
        String(r.modelCalls).padStart(12),
      ].join(' '),
    );
  }
  const worst = Math.max(...results.map((r) => r.p95));
  console.log(`worst first-post p95: ${worst.toFixed(0)} ms (goal < 1000 ms whatever the model does)`);
}

const childMode = process.argv[2];
/** In a child: measure one mode and hand the figures to the parent. */
async function child(mode: Mode): Promise<void> {
  const r = await measure(mode);
  await new Promise<void>((ok) => process.send!(r, undefined, undefined, () => ok()));
}

(childMode === undefined ? main() : child(MODES[Number(childMode)]!))
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  // A model call that never answers is still in flight in the stopped worker: do not wait for it.
  .finally(() => process.exit());
