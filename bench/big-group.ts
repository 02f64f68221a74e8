/**
 * bench:big-group — what one notification costs as its group grows: Prometheus, Loki and Tempo
 * requests and the peak RSS of the whole pipeline (dedup's Loki check, gather, analyze,
 * scrub, the deterministic note) for a 50-alert and a 10,000-alert group of one rule, each in
 * a fresh process. Targets (issue 10): the big group costs at most the small one's queries
 * and stays under 200 MB.
 */
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { LokiClient } from '../src/clients/loki';
import { NoDedup } from '../src/dedup';
import { LokiAnnotationIndex } from '../src/dedup/loki-index';
import { LokiLogSource, parseStreamLabelMap } from '../src/gather/loki';
import { PrometheusSource } from '../src/gather/prometheus';
import { defaultRelatedQueries } from '../src/gather/related';
import { TempoSource } from '../src/gather/tempo';
import { webhookPayloadSchema } from '../src/model/alert';
import { annotateGroup } from '../src/pipeline';
import { FakeLoki } from '../test/fakes/loki';
import { FakePrometheus } from '../test/fakes/prometheus';
import { FakeTempo } from '../test/fakes/tempo';

const SIZES = [50, 10_000];

function payload(n: number) {
  const now = Date.now();
  const startsAt = new Date(now - 120_000).toISOString();
  return webhookPayloadSchema.parse({
    groupKey: '{}:{alertname="PodCrashLooping"}',
    status: 'firing',
    receiver: 'annotator',
    groupLabels: { alertname: 'PodCrashLooping' },
    commonLabels: { alertname: 'PodCrashLooping', namespace: 'prod' },
    alerts: Array.from({ length: n }, (_, i) => ({
      status: 'firing',
      labels: {
        alertname: 'PodCrashLooping',
        namespace: 'prod',
        service: `svc-${i % 500}`,
        pod: `svc-${i % 500}-${i}`,
        severity: 'warning',
      },
      annotations: { summary: `pod svc-${i % 500}-${i} restarts` },
      startsAt,
      generatorURL: `http://prometheus:9090/graph?g0.expr=${encodeURIComponent('kube_pod_restarts > 3')}&g0.tab=1`,
      fingerprint: i.toString(16).padStart(16, '0'),
    })),
  });
}

async function child(n: number): Promise<void> {
  const [prom, loki, tempo] = await Promise.all([new FakePrometheus().start(), new FakeLoki().start(), new FakeTempo().start()]);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const started = performance.now();
  const p = payload(n);
  const client = new LokiClient({ url: loki.url });
  const log = pino({ level: 'silent' });
  await new LokiAnnotationIndex(client).annotated(p.alerts);
  const dedup = loki.requests.length;
  const sources = [
    new PrometheusSource({ url: prom.url, timeoutMs: 30_000, related: defaultRelatedQueries() }),
    new LokiLogSource({
      client,
      streamLabels: parseStreamLabelMap('service=service_name,namespace=namespace,pod=pod'),
      lineFilter: '(?i)error',
      limit: 2000,
      timeoutMs: 30_000,
    }),
    new TempoSource({ url: tempo.url, timeoutMs: 30_000, serviceLabels: ['service'], traceLimit: 20, slowMs: 1000 }),
  ];
  await annotateGroup(p, { sources, publishers: [], dedup: new NoDedup(), log }, new AbortController().signal);
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const out = {
    n,
    dedup,
    prometheus: prom.requests.length,
    loki: loki.requests.length - dedup,
    tempo: tempo.requests.length,
    peakRssMb: peak / 2 ** 20,
    ms,
  };
  await Promise.all([prom.stop(), loki.stop(), tempo.stop()]);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function main(): void {
  const rows = SIZES.map((n) => {
    const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', String(n)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!) as {
      n: number;
      dedup: number;
      prometheus: number;
      loki: number;
      tempo: number;
      peakRssMb: number;
      ms: number;
    };
  });
  console.log('alerts  gather: prometheus  loki  tempo  dedup: loki  peak RSS   time');
  for (const r of rows) {
    console.log(
      `${String(r.n).padStart(6)}  ${String(r.prometheus).padStart(18)}  ${String(r.loki).padStart(4)}  ${String(r.tempo).padStart(5)}  ${String(r.dedup).padStart(11)}  ${r.peakRssMb.toFixed(0).padStart(5)} MB  ${(r.ms / 1000).toFixed(2)} s`,
    );
  }
  const [small, big] = rows as [(typeof rows)[0], (typeof rows)[0]];
  const q = (r: typeof small) => r.prometheus + r.loki + r.tempo;
  console.log(`gather queries 10,000 vs 50 alerts: ${q(big)} vs ${q(small)} (ratio ${(q(big) / q(small)).toFixed(2)}; target <= 1.00)`);
  console.log(`dedup's Loki check: ${big.dedup} vs ${small.dedup} queries (one per 500 alerts, 4 at a time)`);
  console.log(`peak RSS of the 10,000-alert group: ${big.peakRssMb.toFixed(0)} MB (target < 200 MB)`);
}

const at = process.argv.indexOf('--child');
if (at >= 0) void child(Number(process.argv[at + 1]));
else main();
