import { analyze } from '../src/analyze';
import { LokiClient } from '../src/clients/loki';
import { gather } from '../src/gather';
import { LokiLogSource, parseStreamLabelMap, streamSelector } from '../src/gather/loki';
import { FakeLoki } from './fakes/loki';
import { firingPayload, gatherRequest, never } from './helpers/gather';

// The fake Loki refuses nothing on seed(), but keep lines within its week so pushes would pass too.
const now = new Date(Math.floor(Date.now() / 1000 - 60) * 1000);
const nowS = Math.floor(now.getTime() / 1000);
const startsS = nowS - 120;
const ns = (s: number): string => `${s}000000000`;

const payload = firingPayload(now, { alertname: 'CheckoutErrors', service: 'checkout', namespace: 'shop' });
const MAP = parseStreamLabelMap('service=service_name,service_name=service_name,app=app,namespace=namespace,pod=pod,container=container');

let loki: FakeLoki;
beforeEach(async () => {
  loki = await new FakeLoki().start();
  const checkout = { service_name: 'checkout', namespace: 'shop' };
  const baseline: [string, string][] = [];
  for (let t = startsS - 3500; t < startsS - 300; t += 120) baseline.push([ns(t), `WARN payment retry scheduled order=${t} attempt=1`]);
  const incident: [string, string][] = [];
  for (let t = startsS - 200; t < nowS; t += 5)
    incident.push([ns(t), `ERROR connection refused to 10.0.3.${t % 200}:5432 after ${t % 90}ms`]);
  incident.push([ns(startsS - 100), 'INFO request served path=/checkout']);
  loki.seed(checkout, [...baseline, ...incident]);
  loki.seed({ service_name: 'cart', namespace: 'shop' }, [[ns(startsS - 60), 'ERROR cart is broken too']]);
});
afterEach(() => loki.stop());

const source = (over: Partial<ConstructorParameters<typeof LokiLogSource>[0]> = {}) =>
  new LokiLogSource({
    client: new LokiClient({ url: loki.url }),
    streamLabels: MAP,
    lineFilter: '(?i)(error|warn|fatal|panic|exception|timeout|refused|fail)',
    limit: 2000,
    timeoutMs: 2000,
    ...over,
  });

describe('the Loki log source', () => {
  it('maps alert labels to stream labels', () => {
    expect(streamSelector(payload.alerts[0]!, MAP)).toBe('{service_name="checkout", namespace="shop"}');
    expect(streamSelector({ labels: { alertname: 'X', instance: 'h:9100' } }, MAP)).toBeUndefined();
  });

  it('asks for error and warn lines of the workload in the incident and the baseline window', async () => {
    await source().gather(gatherRequest(payload, now), never());
    const reqs = loki.requestsTo('/loki/api/v1/query_range');
    expect(reqs).toHaveLength(2);
    for (const r of reqs)
      expect(r.query.get('query')).toBe(
        '{service_name="checkout", namespace="shop"} |~ "(?i)(error|warn|fatal|panic|exception|timeout|refused|fail)"',
      );
    const windows = reqs.map((r) => [BigInt(r.query.get('start')!), BigInt(r.query.get('end')!)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    expect(windows).toEqual([
      [BigInt(ns(startsS - 3600)), BigInt(ns(startsS - 300))],
      [BigInt(ns(startsS - 300)), BigInt(ns(nowS))],
    ]);
  });

  it("returns only the workload's error and warn lines, oldest first", async () => {
    const r = await source().gather(gatherRequest(payload, now), never());
    const lines = r.logs!.flatMap((s) => s.values.map((v) => v[1]));
    expect(lines.some((l) => l.startsWith('INFO'))).toBe(false);
    expect(lines.some((l) => l.includes('cart is broken'))).toBe(false);
    const ts = r.logs![0]!.values.map((v) => BigInt(v[0]));
    expect(ts).toEqual([...ts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(r.partial).toBeUndefined();
  });

  it('gives evidence the analysis turns into a new log pattern', async () => {
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    const a = analyze(bundle);
    const l1 = a.findings.find((f) => f.id === 'L1');
    expect(l1?.text).toMatch(
      /^new log pattern in checkout: "ERROR connection refused to <IP> after <NUM>ms" ×\d+ since .* \(none in baseline\)$/,
    );
  });

  it('says the counts are a floor when a window hits the line limit', async () => {
    const r = await source({ limit: 10 }).gather(gatherRequest(payload, now), never());
    expect(r.partial).toMatch(/incident window truncated at 10 lines/);
  });

  it('computes log rates from where the line limit cut the baseline, so a steady pattern does not look surging', async () => {
    loki.clear();
    const steady: [string, string][] = [];
    for (let t = startsS - 3600; t < nowS; t += 5) steady.push([ns(t), `WARN queue lag ${t % 50} ms on partition ${t % 7}`]);
    loki.seed({ service_name: 'checkout', namespace: 'shop' }, steady);
    const bundle = await gather([source({ limit: 150 })], gatherRequest(payload, now), never());
    expect(bundle.sources![0]!.detail).toMatch(/baseline window truncated at 150 lines/);
    expect(Date.parse(bundle.windows!.logsBaselineFrom!) / 1000).toBe(startsS - 300 - 150 * 5);
    expect(analyze(bundle).findings.find((f) => f.kind === 'log')?.text).toMatch(/^no new or surging/);
    // Without the recorded cut, the oldest line the bundle holds still marks where its data
    // begins (issue 12: rates use the time the data covers), so the steady pattern stays steady.
    const uncut = { ...bundle, windows: { baselineStart: bundle.windows!.baselineStart, incidentStart: bundle.windows!.incidentStart } };
    expect(analyze(uncut).findings.find((f) => f.kind === 'log')?.text).toMatch(/^no new or surging/);
  });

  it('queries nothing when no alert label maps to a stream', async () => {
    const host = firingPayload(now, { alertname: 'NodeDown', instance: 'node-1:9100' });
    const r = await source().gather(gatherRequest(host, now), never());
    expect(r.partial).toMatch(/LOKI_STREAM_LABELS/);
    expect(loki.requests).toHaveLength(0);
  });

  it('keeps the other window when one query fails', async () => {
    loki.failNext({ status: 429, body: 'Too Many Requests' });
    const r = await source().gather(gatherRequest(payload, now), never());
    expect(r.partial).toMatch(/429/);
    expect(r.logs!.length).toBeGreaterThan(0);
  });

  it('fails as a source when Loki refuses every query', async () => {
    loki.failNext({ status: 400, body: 'parse error' }, 10);
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    expect(bundle.sources).toContainEqual(
      expect.objectContaining({ source: 'loki', status: 'failed', detail: expect.stringMatching(/400/) }),
    );
  });
});
