import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { analyze } from '../src/analyze';
import { gather } from '../src/gather';
import { PrometheusSource } from '../src/gather/prometheus';
import { defaultRelatedQueries } from '../src/gather/related';
import { findBinary, launch, type Peer } from './e2e/peers';
import { FakeHttpServer } from './fakes/http';
import { FakePrometheus } from './fakes/prometheus';
import { firingPayload, gatherRequest, never } from './helpers/gather';

/**
 * The Prometheus source against a real Prometheus (Debian's 2.42, which npm run setup:test installs),
 * with an hour of history backfilled by `promtool tsdb create-blocks-from openmetrics`
 * (https://prometheus.io/docs/prometheus/latest/storage/#backfilling-from-openmetrics-format):
 * the default templates' PromQL runs for real, and the fake's answers are checked against
 * the real server's.
 */

const STEP = 15;
const nowS = Math.floor(Date.now() / 1000 / STEP) * STEP;
const faultS = nowS - 6 * 60;

/** checkout serves 40 req/s; from faultS on, p99 goes from about 0.25 s to 2.5 s and 10% fail. */
function openMetrics(): string {
  const les = ['0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf'];
  const lines: string[] = ['# TYPE http_server_request_duration_seconds histogram'];
  for (const code of ['200', '500']) {
    const cum = les.map(() => 0);
    const buckets: string[][] = les.map(() => []);
    const counts: string[] = [];
    let count = 0;
    for (let t = nowS - 70 * 60; t <= nowS; t += STEP) {
      const faulty = t >= faultS;
      const errFrac = faulty ? 0.1 : 0.002;
      const k = Math.round(600 * (code === '500' ? errFrac : 1 - errFrac));
      const fr = faulty ? [0.05, 0.1, 0.2, 0.4, 0.995, 1, 1] : [0.5, 0.985 + 0.01 * Math.sin(t), 0.999, 1, 1, 1, 1];
      les.forEach((le, i) => {
        cum[i]! += Math.round(k * fr[i]!);
        buckets[i]!.push(
          `http_server_request_duration_seconds_bucket{service="checkout",http_response_status_code="${code}",le="${le}"} ${cum[i]} ${t}`,
        );
      });
      count += k;
      counts.push(`http_server_request_duration_seconds_count{service="checkout",http_response_status_code="${code}"} ${count} ${t}`);
    }
    for (const b of buckets) lines.push(...b);
    lines.push(...counts);
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

/** Prometheus over `dir`'s prometheus.yml and data, with extra flags. */
function prometheusArgs(...extra: string[]): (dir: string, port: number) => string[] {
  return (dir, port) => [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...extra,
  ];
}

describe('the Prometheus source against a real Prometheus', () => {
  let prom: Peer | undefined;
  let url: string;
  let fake: FakePrometheus;
  const bin = findBinary('PROMETHEUS_BIN', ['prometheus']);

  beforeAll(async () => {
    prom = await launch(
      'gather-prom',
      bin,
      { 'prometheus.yml': 'global:\n  scrape_interval: 15s\n', 'history.om': openMetrics() },
      prometheusArgs(),
      (dir) => {
        execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', join(dir, 'history.om'), join(dir, 'data')], {
          stdio: 'pipe',
        });
      },
    );
    url = prom.url;
    fake = await new FakePrometheus().start();
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await fake?.stop();
  });

  const expr =
    'histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket{service="checkout"}[5m]))) > 1';

  it('finds the latency and error changes with the default templates', async () => {
    const now = new Date(nowS * 1000);
    const payload = firingPayload(
      now,
      { alertname: 'CheckoutLatencyHigh', service: 'checkout', severity: 'critical' },
      { expr, minutesAgo: 2 },
    );
    const source = new PrometheusSource({ url, timeoutMs: 10_000, related: defaultRelatedQueries() });
    const bundle = await gather([source], gatherRequest(payload, now), never());
    expect(bundle.sources).toEqual([expect.objectContaining({ source: 'prometheus', status: 'ok' }), expect.anything(), expect.anything()]);
    // The alert's own expression is the p99 template: one query, named after the template.
    expect(bundle.series.filter((s) => s.query !== null).map((s) => s.name)).toEqual(['p99 latency']);
    expect(bundle.series.map((s) => s.name)).toEqual(expect.arrayContaining(['request rate', 'error ratio', 'p50 latency']));
    const texts = analyze(bundle).findings.map((f) => f.text);
    // histogram_quantile interpolates inside the 0.25–0.5 bucket, so the baseline p99 reads about 0.34 s.
    // The test runs on the wall clock: a rise that began before midnight is written with its date.
    expect(texts).toContainEqual(
      expect.stringMatching(
        /^p99 latency of checkout 2\.\d+ s at \d\d:\d\d UTC \(startsAt\) vs baseline 0\.3\d* s \(z[=≥]\d+(\.\d)?\), rising since (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC$/,
      ),
    );
    expect(texts).toContainEqual(expect.stringMatching(/^error ratio of checkout 10% vs baseline 0\.1\d*% /));
  });

  /** Sends the same query_range to the real server and the fake; returns both answers. */
  async function both(
    params: Record<string, string>,
  ): Promise<{ real: { status: number; body: unknown }; fake: { status: number; body: unknown } }> {
    const ask = async (base: string) => {
      const res = await fetch(`${base}/api/v1/query_range`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    return { real: await ask(url), fake: await ask(fake.url) };
  }

  it.each([
    ['too many points', { query: 'up', start: String(nowS - 86_400), end: String(nowS), step: '1s' }],
    ['end before start', { query: 'up', start: String(nowS), end: String(nowS - 60), step: '15s' }],
    ['a zero step', { query: 'up', start: String(nowS - 60), end: String(nowS), step: '0' }],
  ])('the fake refuses %s as the real Prometheus does', async (_what, params) => {
    const { real, fake: f } = await both(params);
    expect(f).toEqual(real);
  });

  it('the fake answers an unknown metric with the same empty matrix', async () => {
    const { real, fake: f } = await both({ query: 'no_such_metric', start: String(nowS - 600), end: String(nowS), step: '15s' });
    expect(f).toEqual(real);
  });

  it('reads the exemplars a real Prometheus stored from a scrape', async () => {
    // A target exposing OpenMetrics with an exemplar (https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#exemplars).
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const target = await new FakeHttpServer(() => ({
      status: 200,
      headers: { 'Content-Type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' },
      body: `# TYPE demo_requests counter\ndemo_requests_total{service="checkout"} ${Math.floor(Date.now() / 1000)} # {trace_id="${traceId}"} 1.5 ${Date.now() / 1000}\n# EOF\n`,
    })).start();
    const config = `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['${new URL(target.url).host}']\n`;
    let p: Peer | undefined;
    try {
      p = await launch('gather-prom-ex', bin, { 'prometheus.yml': config }, prometheusArgs('--enable-feature=exemplar-storage'));
      const exUrl = p.url;
      const now = new Date();
      const payload = firingPayload(now, { alertname: 'X', service: 'checkout' }, { expr: 'rate(demo_requests_total[1m]) > 0' });
      const source = new PrometheusSource({ url: exUrl, timeoutMs: 5000, related: [] });
      let exemplars: unknown[] = [];
      for (let i = 0; i < 40 && exemplars.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 500));
        exemplars = (await source.gather(gatherRequest(payload, new Date()), never())).exemplars ?? [];
      }
      expect(exemplars[0]).toMatchObject({
        traceId,
        value: 1.5,
        seriesLabels: expect.objectContaining({ service: 'checkout', job: 'demo' }),
      });
      // The target was scraped (the fake records it), so the exemplar came from a real scrape.
      expect(target.requestsTo('/metrics').length).toBeGreaterThan(0);
    } finally {
      await p?.stop();
      await target.stop();
    }
  }, 40_000);

  it('the exemplars endpoint answers in a shape the source reads (empty without exemplar storage)', async () => {
    const source = new PrometheusSource({ url, timeoutMs: 10_000, related: [] });
    const now = new Date(nowS * 1000);
    const r = await source.gather(gatherRequest(firingPayload(now, { alertname: 'X', service: 'checkout' }, { expr }), now), never());
    expect(r.partial).toBeUndefined();
    expect(r.exemplars).toEqual([]);
  });
});
