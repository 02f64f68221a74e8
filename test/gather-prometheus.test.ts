import { analyze } from '../src/analyze';
import { OutboundError } from '../src/clients/http';
import { gather } from '../src/gather';
import { PrometheusSource } from '../src/gather/prometheus';
import { exprFromGeneratorUrl, valueExpression } from '../src/gather/promql';
import { defaultRelatedQueries, loadRelatedQueries, renderTemplate } from '../src/gather/related';
import { alertWindows, stepSeconds } from '../src/model/window';
import { FakePrometheus } from './fakes/prometheus';
import { firingPayload, gatherRequest, never } from './helpers/gather';

const now = new Date('2026-11-21T02:26:00Z');
const startsS = now.getTime() / 1000 - 120;
const payload = firingPayload(now, { alertname: 'CheckoutLatencyHigh', service: 'checkout', job: 'demo', severity: 'critical' });

/** 0.21 s before the fault, 2.8 s from 4 minutes before the alert fired. */
const latency = (t: number): number => (t < startsS - 240 ? 0.21 + 0.01 * Math.sin(t) : 2.8);

let prom: FakePrometheus;
beforeEach(async () => {
  prom = await new FakePrometheus().start();
  prom.onQuery('demo_toggle', [
    { metric: { __name__: 'demo_toggle', service: 'checkout', job: 'demo' }, value: latency },
    { metric: { __name__: 'demo_toggle', service: 'cart', job: 'demo' }, value: () => 1 },
  ]);
  prom.onQuery(/histogram_quantile\(0\.99/, [{ metric: { service: 'checkout' }, value: latency }]);
  prom.onExemplars('demo_toggle', [
    { seriesLabels: { service: 'checkout' }, traceId: '0af7651916cd43dd8448eb211c80319c', value: 2.9, timestamp: startsS },
    { seriesLabels: { service: 'checkout' }, traceId: 'b7ad6b7169203331', value: 3.1, timestamp: startsS + 30 },
  ]);
});
afterEach(() => prom.stop());

const source = (over: Partial<ConstructorParameters<typeof PrometheusSource>[0]> = {}) =>
  new PrometheusSource({ url: prom.url, timeoutMs: 2000, related: defaultRelatedQueries(), ...over });

describe('the Prometheus source', () => {
  it("queries the alert's expression without its threshold over the baseline and incident windows", async () => {
    await source().gather(gatherRequest(payload, now), never());
    const first = prom.requestsTo('/api/v1/query_range')[0]!;
    const p = prom.params(first);
    expect(p.get('query')).toBe('demo_toggle');
    expect(Number(p.get('start'))).toBe(startsS - 3600);
    expect(Number(p.get('end'))).toBe(now.getTime() / 1000);
    const step = Number(p.get('step')!.replace(/s$/, ''));
    expect(Math.floor((Number(p.get('end')) - Number(p.get('start'))) / step) + 1).toBeLessThanOrEqual(500);
  });

  it("keeps only the alert's own series and names related series after their template", async () => {
    const r = await source().gather(gatherRequest(payload, now), never());
    const own = r.series!.filter((s) => s.query !== null);
    expect(own.map((s) => s.labels.service)).toEqual(['checkout']);
    const p99 = r.series!.find((s) => s.name === 'p99 latency');
    expect(p99).toMatchObject({ query: null, unit: 's', labels: { service: 'checkout' } });
    expect(r.partial).toBeUndefined();
  });

  it('fills templates with the alert labels and skips those needing labels the alert lacks', async () => {
    await source().gather(gatherRequest(payload, now), never());
    const queries = prom.rangeQueries();
    expect(queries.some((q) => q.includes('http_server_request_duration_seconds_count{service="checkout"}'))).toBe(true);
    // The alert has no namespace, node or instance label.
    expect(queries.some((q) => q.includes('{{') || q.includes('node_cpu_seconds_total') || q.includes('container_cpu'))).toBe(false);
  });

  it("returns the exemplars' trace ids as 32 hex characters", async () => {
    const r = await source().gather(gatherRequest(payload, now), never());
    expect(r.exemplars!.map((e) => e.traceId)).toEqual(['0af7651916cd43dd8448eb211c80319c', '0000000000000000b7ad6b7169203331']);
  });

  it('gives evidence the analysis turns into a metric finding and a related trace', async () => {
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    const a = analyze(bundle);
    expect(a.findings.find((f) => f.kind === 'metric')?.text).toMatch(
      /of checkout 2\.8 s at 02:24 UTC \(startsAt\) vs baseline 0\.21\d* s \(z[=≥]\d+\), up since 02:20 UTC/,
    );
    expect(a.relatedTraceIds[0]).toBe('0000000000000000b7ad6b7169203331');
    expect(a.suspects[0]?.service).toBe('checkout');
  });

  it('reports a failed query as partial evidence and keeps the rest', async () => {
    prom.failNext({ status: 503, body: 'Service Unavailable' });
    const r = await source().gather(gatherRequest(payload, now), never());
    expect(r.partial).toMatch(/1 of \d+ queries failed.*503/);
    expect(r.series!.length).toBeGreaterThan(0);
  });

  it('fails as a source, not as the job, when every query fails', async () => {
    prom.failNext(
      { status: 422, body: { status: 'error', errorType: 'execution', error: 'query processing would load too many samples' } },
      100,
    );
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    expect(bundle.sources).toContainEqual(
      expect.objectContaining({ source: 'prometheus', status: 'failed', detail: expect.stringMatching(/422/) }),
    );
    expect(analyze(bundle).findings).toContainEqual(
      expect.objectContaining({ kind: 'source', text: expect.stringMatching(/^prometheus: failed/) }),
    );
  });

  it('stops at its own time budget when Prometheus hangs', async () => {
    prom.failNext({ status: 200, body: { status: 'success', data: { resultType: 'matrix', result: [] } }, delayMs: 1200 }, 100);
    const started = Date.now();
    const bundle = await gather([source({ timeoutMs: 300 })], gatherRequest(payload, now), never());
    expect(Date.now() - started).toBeLessThan(2500);
    expect(bundle.sources).toContainEqual(
      expect.objectContaining({ source: 'prometheus', status: 'failed', detail: expect.stringMatching(/timed out/) }),
    );
  });

  it("stops when the job's signal aborts", async () => {
    prom.failNext({ status: 200, body: {}, delayMs: 1200 }, 100);
    const ac = new AbortController();
    const pending = source().gather(gatherRequest(payload, now), ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('treats an answer of the wrong shape as a failed query', async () => {
    prom.failNext({ status: 200, body: { status: 'success', data: { resultType: 'vector', result: [] } } }, 100);
    await expect(source().gather(gatherRequest(payload, now), never())).rejects.toBeInstanceOf(OutboundError);
  });

  it('sends credentials from the URL as basic auth and never prints them', async () => {
    const url = prom.url.replace('http://', 'http://reader:s3cret-pass@');
    prom.failNext({ status: 401, body: 'unauthorized' }, 100);
    const bundle = await gather([source({ url })], gatherRequest(payload, now), never());
    expect(prom.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('reader:s3cret-pass').toString('base64')}`);
    expect(JSON.stringify(bundle.sources)).not.toContain('s3cret-pass');
  });

  it('says so when no query applies', async () => {
    const bare = firingPayload(now, { alertname: 'Watchdog' }, { expr: '' });
    bare.alerts[0]!.generatorURL = '';
    const r = await source().gather(gatherRequest(bare, now), never());
    expect(r.partial).toMatch(/no alert expression/);
    expect(prom.requests).toHaveLength(0);
  });
});

describe('the alert expression', () => {
  it.each([
    ['demo_toggle == 1', 'demo_toggle'],
    [
      'histogram_quantile(0.99, sum by (le) (rate(x_bucket{a!="b",c=~"d"}[5m]))) > 1',
      'histogram_quantile(0.99, sum by (le) (rate(x_bucket{a!="b",c=~"d"}[5m])))',
    ],
    ['sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m])) > 0.05 and on() vector(1)', 'sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m]))'],
    ['x >= bool 2', 'x'],
    ['foo{a="x>1"} < 3', 'foo{a="x>1"}'],
    ['up', 'up'],
  ])('%s is queried as %s', (expr, value) => {
    expect(valueExpression(expr)).toBe(value);
  });

  it('comes from g0.expr of the generator URL', () => {
    expect(exprFromGeneratorUrl('http://127.0.0.1:19090/graph?g0.expr=demo_toggle+%3D%3D+1&g0.tab=1')).toBe('demo_toggle == 1');
    expect(exprFromGeneratorUrl('')).toBeUndefined();
  });

  it('explains an alert first seen days after it started by its start: the incident window ends an hour after it', () => {
    const late = new Date('2026-11-24T02:00:00Z');
    const w = alertWindows([{ startsAt: '2026-11-21T02:00:00Z', status: 'firing' }], late);
    expect(w.end.toISOString()).toBe('2026-11-21T03:00:00.000Z');
    expect(w.incidentStart.toISOString()).toBe('2026-11-21T01:55:00.000Z');
  });

  it('keeps a day-long window at 500 points or fewer', () => {
    const end = new Date('2026-11-21T12:00:00Z');
    const start = new Date(end.getTime() - 24 * 3600_000);
    const step = stepSeconds(start, end);
    expect(Math.floor((end.getTime() - start.getTime()) / 1000 / step) + 1).toBeLessThanOrEqual(500);
  });
});

describe('related query templates', () => {
  it('escape label values for a PromQL string', () => {
    const r = renderTemplate({ name: 'x', query: 'up{service="{{service}}"}' }, { service: 'a"b\\c' });
    expect(r?.query).toBe('up{service="a\\"b\\\\c"}');
  });

  it('name the file in the error when it is invalid', () => {
    expect(() => loadRelatedQueries('/nonexistent/related.json')).toThrow(/RELATED_QUERIES_FILE \/nonexistent\/related\.json/);
  });

  it('ship RED and USE defaults', () => {
    const names = defaultRelatedQueries().map((q) => q.name);
    for (const n of ['request rate', 'error ratio', 'p99 latency', 'cpu usage', 'memory working set', 'disk usage', 'cpu throttling'])
      expect(names).toContain(n);
  });

  describe("the alert's own expression, which whoever can post a webhook chooses", () => {
    const hostile = () => {
      const p = firingPayload(now, { alertname: 'CheckoutLatencyHigh', service: 'checkout', job: 'demo' });
      // The generatorURL names another host: the expression still only goes to PROMETHEUS_URL.
      p.alerts[0]!.generatorURL = `http://attacker.invalid:9090/graph?g0.expr=${encodeURIComponent('count_everything')}&g0.tab=1`;
      return p;
    };
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ metric: { __name__: 'count_everything', instance: `host-${i}` }, value: () => i }));

    it('runs against PROMETHEUS_URL with a per-query timeout inside the source budget and a series limit', async () => {
      prom.onQuery('count_everything', many(3));
      await source({ timeoutMs: 4000, maxSeries: 50 }).gather(gatherRequest(hostile(), now), never());
      const req = prom.requestsTo('/api/v1/query_range').find((r) => prom.params(r).get('query') === 'count_everything');
      expect(req).toBeDefined();
      const p = prom.params(req!);
      // One more than the cap, so a cut answer can be told from one of exactly the cap.
      expect(p.get('limit')).toBe('51');
      const timeout = /^(\d+)ms$/.exec(p.get('timeout') ?? '');
      expect(timeout).not.toBeNull();
      expect(Number(timeout![1])).toBeGreaterThan(0);
      expect(Number(timeout![1])).toBeLessThanOrEqual(4000);
    });

    it('keeps at most the series cap even from a Prometheus that ignores limit, and says the answer was cut', async () => {
      prom.honoursLimit = false; // Prometheus before 2.54 ignores the parameter
      prom.onQuery('count_everything', many(120));
      const r = await source({ maxSeries: 50 }).gather(gatherRequest(hostile(), now), never());
      expect(r.series!.filter((s) => s.query === 'count_everything').length).toBeLessThanOrEqual(50);
      expect(r.partial).toMatch(/more than 50 series/);
    });
  });
});
