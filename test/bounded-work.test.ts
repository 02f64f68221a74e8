import { LokiClient } from '../src/clients/loki';
import { LokiAnnotationIndex } from '../src/dedup/loki-index';
import { PrometheusSource } from '../src/gather/prometheus';
import { defaultRelatedQueries } from '../src/gather/related';
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
