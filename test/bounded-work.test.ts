import pino from 'pino';
import { LokiClient } from '../src/clients/loki';
import { loadConfig } from '../src/config';
import { LokiAnnotationIndex } from '../src/dedup/loki-index';
import { PrometheusSource } from '../src/gather/prometheus';
import { defaultRelatedQueries } from '../src/gather/related';
import { buildSources } from '../src/wiring';
import type { WebhookPayload } from '../src/model/alert';
import { FakeLoki } from './fakes/loki';
import { FakePrometheus } from './fakes/prometheus';
import { firingPayload, gatherRequest, never } from './helpers/gather';

/**
 * Issue 10, findings 7 and 10: the work of one notification is bounded. A 10,000-alert group
 * planned 90,008 Prometheus queries, queries past the source's deadline still went out, and
 * its Loki dedup check got `429 too many outstanding requests`.
 */

const now = new Date('2026-11-21T02:26:00Z');

/** A group of `n` alerts of one rule, each its own pod and service (as a fleet-wide rule fires). */
function group(n: number): WebhookPayload {
  const one = firingPayload(now, { alertname: 'PodCrashLooping', severity: 'warning' }, { expr: 'kube_pod_restarts > 3' });
  const template = one.alerts[0]!;
  return {
    ...one,
    alerts: Array.from({ length: n }, (_, i) => ({
      ...template,
      labels: {
        ...template.labels,
        service: `svc-${i % 500}`,
        namespace: 'prod',
        pod: `svc-${i % 500}-${i}`,
        instance: `10.0.${i >> 8}.${i & 255}:8080`,
      },
      fingerprint: i.toString(16).padStart(16, '0'),
    })),
  };
}

describe('Prometheus queries per group', () => {
  let prom: FakePrometheus;
  beforeEach(async () => {
    prom = await new FakePrometheus().start();
  });
  afterEach(() => prom.stop());

  const source = (timeoutMs = 20_000) => new PrometheusSource({ url: prom.url, timeoutMs, related: defaultRelatedQueries() });

  it('a 10,000-alert group costs no more queries than a 50-alert one, and at most the documented cap', async () => {
    await source().gather(gatherRequest(group(50), now), never());
    const small = prom.requests.length;
    prom.requests.length = 0;
    await source().gather(gatherRequest(group(10_000), now), never());
    const big = prom.requests.length;
    expect(small).toBeGreaterThan(2);
    expect(big).toBeLessThanOrEqual(small);
    expect(big).toBeLessThanOrEqual(PrometheusSource.MAX_QUERIES);
  }, 60_000);

  it("keeps within the cap with the change source's queries to the same Prometheus counted", async () => {
    // The change source asks Prometheus for *_info series and restarts: two more per group,
    // which the cap did not count (58 requests for a cap of 56).
    const sources = buildSources(loadConfig({ PROMETHEUS_URL: prom.url }), pino({ level: 'silent' }));
    expect(sources.map((s) => s.name).sort()).toEqual(['changes', 'prometheus']);
    // Twelve rules (more than the 8 alert expressions planned) over 500 services: every cap is reached.
    const payload = group(10_000);
    payload.alerts.forEach((a, i) => {
      a.generatorURL = firingPayload(now, {}, { expr: `kube_pod_restarts{rule="${i % 12}"} > 3` }).alerts[0]!.generatorURL;
    });
    const req = gatherRequest(payload, now);
    await Promise.all(sources.map((s) => s.gather(req, never())));
    expect(prom.rangeQueries().some((q) => q.includes('_info'))).toBe(true);
    expect(prom.requests.length).toBeLessThanOrEqual(PrometheusSource.MAX_QUERIES);
  }, 60_000);

  it('sends nothing once the source is past its deadline', async () => {
    prom.latencyMs = 400;
    const result = await source(600).gather(gatherRequest(group(50), now), never());
    // 4 at a time: the first wave is answered at 400 ms, the second is cut at 600 ms; no third.
    expect(prom.requests.length).toBeLessThanOrEqual(8);
    expect(result.partial).toMatch(/deadline/);
  });
});

describe('the Loki dedup check of a 10,000-alert group', () => {
  it("keeps within Loki's outstanding-request limit and answers", async () => {
    const loki = await new FakeLoki().start();
    try {
      loki.queryLatencyMs = 20;
      loki.maxOutstanding = 8;
      const index = new LokiAnnotationIndex(new LokiClient({ url: loki.url }));
      const alerts = group(10_000).alerts;
      await expect(index.annotated(alerts)).resolves.toEqual(new Set());
      expect(loki.tooManyOutstanding).toBe(0);
    } finally {
      await loki.stop();
    }
  });
});
