import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { analyze } from '../src/analyze';
import { loadConfig } from '../src/config';
import { gather } from '../src/gather';
import { evidenceBundleSchema } from '../src/model/evidence';
import { analyzeOptions, buildSources } from '../src/wiring';
import { FakeLoki } from './fakes/loki';
import { FakePrometheus } from './fakes/prometheus';
import { FakeTempo, type OtlpTrace } from './fakes/tempo';
import { firingPayload, gatherRequest, never } from './helpers/gather';
import { checkoutPath } from './scenarios/shop';
import { makeTrace, rng } from './scenarios/sim';

const log = pino({ level: 'silent' });

describe('buildSources', () => {
  it('builds one source per configured back end, in a fixed order', () => {
    const config = loadConfig({ PROMETHEUS_URL: 'http://prom:9090', LOKI_URL: 'http://loki:3100', TEMPO_URL: 'http://tempo:3200' });
    expect(buildSources(config, log).map((s) => s.name)).toEqual(['prometheus', 'loki', 'tempo', 'changes', 'history']);
    expect(buildSources(loadConfig({ TEMPO_URL: 'http://tempo:3200' }), log).map((s) => s.name)).toEqual(['tempo']);
    expect(buildSources(loadConfig({}), log)).toEqual([]);
  });

  it('refuses an invalid related-queries file at start-up, naming it', () => {
    const file = join(tmpdir(), `related-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ queries: [{ name: 'no query' }] }));
    expect(() => buildSources(loadConfig({ PROMETHEUS_URL: 'http://prom:9090', RELATED_QUERIES_FILE: file }), log)).toThrow(file);
  });

  it('hands the analysis the configured service labels and windows', () => {
    expect(analyzeOptions(loadConfig({ SERVICE_LABELS: 'component, app', BASELINE_WINDOW_MIN: '30', INCIDENT_LEAD_MIN: '2' }))).toEqual({
      serviceLabels: ['component', 'app'],
      baselineMin: 30,
      leadMin: 2,
    });
  });
});

describe('an evidence bundle', () => {
  it('saved as JSON and read back gives the same analysis as the live gather', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const startsS = now.getTime() / 1000 - 120;
    const [prom, loki, tempo] = await Promise.all([new FakePrometheus().start(), new FakeLoki().start(), new FakeTempo().start()]);
    try {
      prom.onQuery('up', [{ metric: { __name__: 'up', service: 'checkout' }, value: (t) => (t < startsS - 200 ? 1 : 0) }]);
      prom.onExemplars('up', [{ seriesLabels: { service: 'checkout' }, traceId: 'aa', value: 1, timestamp: startsS }]);
      loki.seed({ service_name: 'checkout' }, [[`${startsS - 10}000000000`, 'ERROR boom']]);
      tempo.addTrace(makeTrace(rng(3), (startsS - 60) * 1000, checkoutPath({ orders: { error: 'boom' } })) as unknown as OtlpTrace);
      const config = loadConfig({ PROMETHEUS_URL: prom.url, LOKI_URL: loki.url, TEMPO_URL: tempo.url });
      const payload = firingPayload(now, { alertname: 'Down', service: 'checkout' }, { expr: 'up == 0' });
      const live = await gather(buildSources(config, log), gatherRequest(payload, now), never());
      const replayed = evidenceBundleSchema.parse(JSON.parse(JSON.stringify(live)));
      expect(live.series.length * live.logs.length * live.traces.length * (live.exemplars?.length ?? 0)).toBeGreaterThan(0);
      expect(live.windows).toEqual({
        baselineStart: new Date((startsS - 3600) * 1000).toISOString(),
        incidentStart: new Date((startsS - 300) * 1000).toISOString(),
        end: now.toISOString(),
      });
      expect(analyze(replayed, analyzeOptions(config))).toEqual(analyze(live, analyzeOptions(config)));
    } finally {
      await Promise.all([prom.stop(), loki.stop(), tempo.stop()]);
    }
  });
});
