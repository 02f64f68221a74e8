import request from 'supertest';
import { annotationRecordSchema, type AnnotationRecord } from '../src/model/record';
import { FakeLoki } from './fakes/loki';
import { FakePrometheus } from './fakes/prometheus';
import { FakeTempo, type OtlpTrace } from './fakes/tempo';
import { firingPayload } from './helpers/gather';
import { startTestService } from './helpers/service';
import { checkoutPath } from './scenarios/shop';
import { makeTrace, rng } from './scenarios/sim';

/**
 * The service end to end (real Redis, in-process receiver and worker) with fake Prometheus,
 * Loki and Tempo holding an incident: payments got slow, checkout alerts.
 */

describe('annotating an alert with evidence from Prometheus, Loki and Tempo', () => {
  let prom: FakePrometheus;
  let loki: FakeLoki;
  let tempo: FakeTempo;
  const now = Date.now();
  const startsS = Math.floor(now / 1000) - 120;
  const exemplarTrace = '5b8efff798038103d269b633813fc60c';

  beforeAll(async () => {
    [prom, loki, tempo] = await Promise.all([new FakePrometheus().start(), new FakeLoki().start(), new FakeTempo().start()]);
    const slow = (base: number, by: number) => (t: number) => (t < startsS - 200 ? base * (1 + 0.05 * Math.sin(t)) : base + by);
    prom.onQuery('checkout_latency_seconds', [
      { metric: { __name__: 'checkout_latency_seconds', service: 'checkout' }, value: slow(0.3, 1.4) },
    ]);
    prom.onQuery(/histogram_quantile\(0\.99.*service="checkout"/, [{ metric: { service: 'checkout' }, value: slow(0.3, 1.4) }]);
    prom.onExemplars('checkout_latency_seconds', [
      { seriesLabels: { service: 'checkout' }, traceId: exemplarTrace, value: 1.9, timestamp: startsS - 30 },
    ]);
    const lines: [string, string][] = [];
    for (let t = startsS - 3000; t < startsS - 300; t += 300) lines.push([`${t}000000000`, `WARN payment retry scheduled order=${t}`]);
    for (let t = startsS - 200; t < startsS + 100; t += 5)
      lines.push([`${t}000000000`, `ERROR charge failed order=${t}: context deadline exceeded`]);
    loki.seed({ service_name: 'checkout' }, lines);
    const r = rng(11);
    for (let i = 0; i < 6; i++)
      tempo.addTrace(
        makeTrace(r, (startsS - 100 + i * 5) * 1000, checkoutPath({ payments: { selfMs: 1500, jitter: 0.05 } })) as unknown as OtlpTrace,
      );
  });
  afterAll(async () => {
    await Promise.all([prom.stop(), loki.stop(), tempo.stop()]);
  });

  async function annotate(env: Record<string, string>, groupKey: string): Promise<AnnotationRecord> {
    const svc = await startTestService({ PROMETHEUS_URL: prom.url, LOKI_URL: loki.url, TEMPO_URL: tempo.url, ...env });
    try {
      const payload = firingPayload(
        new Date(now),
        { alertname: 'CheckoutLatencyHigh', service: 'checkout', severity: 'critical' },
        { expr: 'checkout_latency_seconds > 1' },
      );
      payload.groupKey = groupKey;
      payload.alerts[0]!.fingerprint = groupKey.length.toString(16).padStart(16, '0');
      const res = await request(svc.url).post('/webhook/alertmanager').send(payload);
      expect(res.status).toBe(200);
      await svc.waitForJobs();
      const record = loki.records().find((x) => x.groupKey === groupKey);
      return annotationRecordSchema.parse(record);
    } finally {
      await svc.stop();
    }
  }

  it('writes the suspects, the findings of all three sources and the related traces into the record', async () => {
    const record = await annotate({}, 'all-three');
    expect(record.suspects[0]?.service).toBe('payments');
    expect(new Set(record.findings.map((f) => f.kind))).toEqual(new Set(['metric', 'log', 'trace']));
    expect(record.findings.find((f) => f.kind === 'log')?.text).toMatch(/new log pattern in checkout/);
    expect(record.relatedTraceIds[0]).toBe(exemplarTrace);
    expect(record.relatedTraceIds.length).toBeGreaterThan(1);
    expect(record.rootCause).toMatch(/payments/);
  });

  it('still annotates when Tempo is down, saying so in a finding', async () => {
    tempo.failNext({ status: 503, body: 'unavailable' }, 50);
    const record = await annotate({}, 'tempo-down');
    expect(record.findings).toContainEqual(
      expect.objectContaining({ kind: 'source', text: expect.stringMatching(/^tempo: failed .*503/) }),
    );
    expect(record.findings.some((f) => f.kind === 'metric')).toBe(true);
  });
});
