import { analyze } from '../src/analyze';
import { analysisSchema } from '../src/model/analysis';
import type { EvidenceBundle, Series } from '../src/model/evidence';
import { templateNarration } from '../src/narrate/template';
import { firingPayload } from './helpers/gather';
import { checkoutPath } from './scenarios/shop';
import { makeTrace, rng } from './scenarios/sim';

const now = new Date('2026-11-21T02:20:00Z');
const nowS = now.getTime() / 1000;
const startsS = nowS - 120;

/** One point a minute from 60 minutes before startsAt to now; `after` applies from `fromS` on. */
function series(
  labels: Record<string, string>,
  base: (i: number) => number,
  after?: { fromS: number; value: (i: number) => number },
  extra: Partial<Series> = {},
): Series {
  const values: [number, string][] = [];
  let i = 0;
  for (let t = startsS - 3600; t <= nowS; t += 60, i++) values.push([t, String(after && t >= after.fromS ? after.value(i) : base(i))]);
  return { query: null, labels, values, ...extra };
}
const wobble = (mid: number, amp: number) => (i: number) => mid + amp * Math.sin(i * 1.3);

function bundle(
  over: Partial<EvidenceBundle> = {},
  labels: Record<string, string> = { alertname: 'CheckoutLatencyHigh', service: 'checkout' },
): EvidenceBundle {
  return { payload: firingPayload(now, labels), now: now.toISOString(), series: [], logs: [], traces: [], ...over };
}

describe('analyze', () => {
  it('writes a metric finding with values, baseline, score and the time of the change', () => {
    const a = analyze(
      bundle({
        series: [
          series(
            { service: 'checkout' },
            wobble(0.21, 0.05),
            { fromS: startsS - 360, value: (i) => 0.3 + 0.25 * (i - 55) },
            { name: 'p99 latency', unit: 's' },
          ),
        ],
      }),
    );
    expect(a.findings[0]).toMatchObject({ id: 'M1', kind: 'metric', service: 'checkout' });
    expect(a.findings[0]!.text).toBe('p99 latency of checkout 1.55 s vs baseline 0.21 s (z=20), rising since 02:14 UTC');
  });

  it("attributes a node exporter's series joined onto a pod to the node, not to the pod's service", () => {
    const nodeCpu = series(
      { service: 'ledger', pod: 'ledger-1', node: 'ip-10-0-1-13' },
      wobble(0.3, 0.02),
      { fromS: startsS - 200, value: () => 0.55 },
      { name: 'node cpu busy', unit: 'ratio' },
    );
    const a = analyze(bundle({ series: [nodeCpu] }));
    expect(a.suspects.map((s) => s.service)).not.toContain('ledger');
    expect(a.findings.find((f) => f.kind === 'metric')?.service).toBe('ip-10-0-1-13');
  });

  it("reads a caller's 'X slow' and 'call to X failed' log lines as symptoms of X, not as the caller's own fault", () => {
    const at = (k: number) => `${startsS - 150 + k * 7}000000000`;
    const lines = (n: number, f: (k: number) => string): [string, string][] => Array.from({ length: n }, (_, k) => [at(k), f(k)]);
    const logs = [
      { labels: { service: 'checkout' }, values: lines(40, (k) => `WARN payments slow: ${900 + k}ms`) },
      { labels: { service: 'payments' }, values: [] },
    ];
    const p99 = series({ service: 'checkout' }, wobble(0.2, 0.02), { fromS: startsS - 200, value: () => 1.2 }, { name: 'p99 latency' });
    const pay = series({ service: 'payments' }, wobble(10, 1), undefined, { name: 'request rate' });
    const a = analyze(bundle({ series: [p99, pay], logs: logs.filter((l) => l.values.length) }));
    expect(a.suspects[0]?.service).toBe('payments');
  });

  it('names a dependency with no telemetry and no traces from its callers failed-call logs', () => {
    const at = (k: number) => `${startsS - 150 + k * 4}000000000`;
    const logs = [
      {
        labels: { service: 'checkout' },
        values: Array.from({ length: 60 }, (_, k): [string, string] => [
          at(k),
          `ERROR call to fraud-api.example failed: 503 Service Unavailable`,
        ]),
      },
    ];
    const errors = series(
      { service: 'checkout' },
      wobble(0.01, 0.002),
      { fromS: startsS - 200, value: () => 0.3 },
      { name: 'error ratio' },
    );
    const a = analyze(bundle({ series: [errors], logs }));
    expect(a.suspects[0]?.service).toBe('fraud-api.example');
    expect(a.findings.some((f) => f.service === 'fraud-api.example')).toBe(true);
  });

  it('sets aside a component whose series and new log patterns all began after the alert fired', () => {
    // startsAt 02:18; the batch job's CPU and its new log lines start at 02:19:30.
    const late = startsS + 90;
    const cron = series({ service: 'nightly-report' }, wobble(0.02, 0.001), { fromS: late, value: () => 2.5 }, { name: 'cpu usage' });
    const p99 = series({ service: 'checkout' }, wobble(0.2, 0.02), { fromS: startsS - 200, value: () => 1.2 }, { name: 'p99 latency' });
    const logs = [
      {
        labels: { service: 'nightly-report' },
        values: Array.from({ length: 20 }, (_, k): [string, string] => [`${late + k}000000000`, `WARN chunk ${k} took 4s`]),
      },
    ];
    const a = analyze(bundle({ series: [cron, p99], logs }));
    expect(a.suspects.map((s) => s.service)).not.toContain('nightly-report');
    expect(a.findings.find((f) => f.kind === 'unrelated' && f.service === 'nightly-report')?.text).toMatch(/after the alert fired/);
  });

  it('does not count CPU that grew no faster than the requests it serves', () => {
    // checkout is slow on its own; cart's traffic doubled, and its CPU with it.
    const p99 = series({ service: 'checkout' }, wobble(0.2, 0.01), { fromS: startsS - 200, value: () => 0.9 }, { name: 'p99 latency' });
    const rps = series({ service: 'cart' }, wobble(50, 2), { fromS: startsS - 200, value: () => 105 }, { name: 'request rate' });
    const cpu = series(
      { service: 'cart', pod: 'cart-1' },
      wobble(0.15, 0.01),
      { fromS: startsS - 200, value: () => 0.33 },
      { name: 'cpu usage' },
    );
    const cart = analyze(bundle({ series: [p99, rps, cpu] })).suspects.find((x) => x.service === 'cart');
    expect(cart?.signals).toEqual([{ kind: 'metric', count: 1 }]);
    expect(cart?.indicator).toMatch(/request rate/);
    // CPU that outgrew its traffic (3x for 2x) still counts.
    const hot = series(
      { service: 'cart', pod: 'cart-1' },
      wobble(0.15, 0.01),
      { fromS: startsS - 200, value: () => 0.6 },
      { name: 'cpu usage' },
    );
    expect(analyze(bundle({ series: [p99, rps, hot] })).suspects.find((x) => x.service === 'cart')?.signals).toEqual([
      { kind: 'metric', count: 2 },
    ]);
  });

  it("says no cause when the alert's own series stays within its baseline range, whatever else moved", () => {
    // A threshold inside normal variation; a batch job sharing the namespace is busy at the same time.
    const expr = series({ service: 'checkout', namespace: 'shop' }, wobble(0.5, 0.05), undefined, { query: 'p99 > 0.5' });
    const cron = series(
      { service: 'nightly-report', namespace: 'shop' },
      wobble(0.02, 0.001),
      { fromS: startsS - 240, value: () => 2.5 },
      { name: 'cpu usage' },
    );
    const logs = [
      {
        labels: { service: 'nightly-report', namespace: 'shop' },
        values: Array.from({ length: 30 }, (_, k): [string, string] => [`${startsS - 200 + k * 5}000000000`, `WARN chunk ${k} took 4s`]),
      },
    ];
    const a = analyze(bundle({ series: [expr, cron], logs }));
    expect(a.confidence).toBe('low');
    expect(a.findings.find((f) => f.id === 'A1')?.text).toMatch(
      /^no cause determined: the alert's own series stays within its baseline range/,
    );
  });

  it('reads the callee of failed calls from the lines when the log template folded it into a placeholder', () => {
    // No traces. checkout's failed calls name ledger five times for each auth: one template,
    // "ERROR <*> <*> <*> failed after <NUM>ms: …", that names neither.
    const line = (k: number) =>
      k % 6 === 5
        ? `ERROR POST /verify auth failed after 800ms: upstream returned 5xx`
        : `ERROR PUT /entries/${k} ledger failed after 1500ms: upstream returned 5xx`;
    const logs = [
      {
        labels: { service: 'checkout' },
        values: Array.from({ length: 60 }, (_, k): [string, string] => [`${startsS - 150 + k * 4}000000000`, line(k)]),
      },
    ];
    const errors = series(
      { service: 'checkout' },
      wobble(0.01, 0.002),
      { fromS: startsS - 200, value: () => 0.3 },
      { name: 'error ratio' },
    );
    const ledger = series({ service: 'ledger' }, wobble(40, 2), undefined, { name: 'request rate' });
    const auth = series({ service: 'auth' }, wobble(40, 2), undefined, { name: 'request rate' });
    const a = analyze(bundle({ series: [errors, ledger, auth], logs }));
    expect(a.findings.some((f) => f.kind === 'log' && f.text.includes('<*>'))).toBe(true);
    expect(a.suspects[0]?.service).toBe('ledger');
  });

  it('lets a change raise only a component related to the alert: without traces, one sharing its labels', () => {
    const labels = { alertname: 'CheckoutLatencyHigh', service: 'checkout', namespace: 'shop' };
    const p99 = series(
      { service: 'checkout', namespace: 'shop' },
      wobble(0.2, 0.02),
      { fromS: startsS - 200, value: () => 1.2 },
      { name: 'p99 latency' },
    );
    const pay = series({ service: 'payments', namespace: 'shop' }, wobble(10, 1), undefined, { name: 'request rate' });
    const billing = series({ service: 'billing', namespace: 'finance' }, wobble(10, 1), undefined, { name: 'request rate' });
    const deploy = (service: string) => ({
      service,
      kind: 'deploy' as const,
      time: new Date((startsS - 180) * 1000).toISOString(),
      version: '2.0',
      origin: 'pushed' as const,
    });
    const a = analyze(bundle({ series: [p99, pay, billing], changes: [deploy('payments'), deploy('billing')] }, labels));
    const named = a.suspects.map((s) => s.service);
    expect(named).toContain('payments');
    expect(named).not.toContain('billing');
    // The change is still reported as context.
    expect(a.findings.some((f) => f.kind === 'change' && f.service === 'billing')).toBe(true);
  });

  it('without traces, never reads more than low confidence into a bystander that shares none of the alert labels', () => {
    const labels = { alertname: 'CheckoutLatencyHigh', service: 'checkout', namespace: 'shop' };
    const p99 = series(
      { service: 'checkout', namespace: 'shop' },
      wobble(0.2, 0.02),
      { fromS: startsS - 200, value: () => 0.5 },
      { name: 'p99 latency' },
    );
    const cpu = series(
      { service: 'reporting', namespace: 'analytics' },
      wobble(0.2, 0.01),
      { fromS: startsS - 240, value: () => 1.9 },
      { name: 'cpu usage' },
    );
    const mem = series(
      { service: 'reporting', namespace: 'analytics' },
      wobble(300, 3),
      { fromS: startsS - 240, value: () => 900 },
      { name: 'memory working set' },
    );
    const logs = [
      {
        labels: { service: 'reporting', namespace: 'analytics' },
        values: Array.from({ length: 30 }, (_, k): [string, string] => [
          `${startsS - 200 + k * 5}000000000`,
          `ERROR report ${k} aborted: out of memory`,
        ]),
      },
    ];
    const a = analyze(bundle({ series: [p99, cpu, mem], logs }, labels));
    expect(a.confidence).toBe('low');
    expect(a.findings.some((f) => f.id === 'A1' && f.text.startsWith('no cause determined'))).toBe(true);
  });

  it('moves symptoms on down the path: what a service receives from its caller goes on to what it waits on', () => {
    // No traces. ingest's failed calls name validator; validator's name device-registry, whose
    // host drops packets: nobody logs about device-registry but validator.
    const lines = (service: string, text: string) => ({
      labels: { service },
      values: Array.from({ length: 60 }, (_, k): [string, string] => [`${startsS - 150 + k * 4}000000000`, `${text} req=${k}`]),
    });
    const up = (service: string, name: string) =>
      series({ service }, wobble(0.01, 0.002), { fromS: startsS - 200, value: () => 0.2 }, { name });
    const a = analyze(
      bundle(
        {
          series: [
            up('ingest', 'error ratio'),
            up('validator', 'error ratio'),
            series({ service: 'device-registry' }, wobble(40, 2), undefined, { name: 'request rate' }),
          ],
          logs: [
            lines('ingest', 'ERROR POST /validate validator failed after 300ms: upstream returned 5xx'),
            lines('validator', 'ERROR GET /devices device-registry failed after 200ms: context deadline exceeded'),
          ],
        },
        { alertname: 'IngestErrors', service: 'ingest' },
      ),
    );
    expect(a.suspects[0]?.service).toBe('device-registry');
  });

  it("without traces, a busy batch job in the alert's namespace does not make the path anomalous on its own", () => {
    // The alert moved a little; a cron job beside it burns CPU and logs that its steps are slow.
    const labels = { alertname: 'RegistryLatency', service: 'registry', namespace: 'iot' };
    const p99 = series(
      { service: 'registry', namespace: 'iot' },
      wobble(0.02, 0.001),
      { fromS: startsS - 120, value: () => 0.026 },
      { name: 'p99 latency' },
    );
    const cpu = series(
      { service: 'compaction', namespace: 'iot', pod: 'compaction-1' },
      wobble(0.02, 0.001),
      { fromS: startsS - 180, value: () => 3 },
      { name: 'cpu usage' },
    );
    const logs = [
      {
        labels: { service: 'compaction', namespace: 'iot' },
        values: Array.from({ length: 40 }, (_, k): [string, string] => [
          `${startsS - 170 + k * 4}000000000`,
          `WARN batch step slow: chunk ${k} took 4s`,
        ]),
      },
    ];
    const a = analyze(bundle({ series: [p99, cpu], logs }, labels));
    expect(a.confidence).toBe('low');
  });

  it('reads the alert as anomalous from its value at startsAt when the analysis runs seconds after it fired', () => {
    // Fired at 02:18 on the first high sample; analysed at 02:18:30, before a second one exists.
    const expr = series({ service: 'checkout' }, wobble(0.03, 0.003), { fromS: startsS, value: () => 0.4 }, { query: 'p90 > 0.2' });
    const cart = series(
      { service: 'checkout', pod: 'checkout-1' },
      wobble(0.3, 0.01),
      { fromS: startsS - 60, value: () => 0.95 },
      { name: 'cpu usage' },
    );
    const a = analyze(bundle({ now: new Date((startsS + 30) * 1000).toISOString(), series: [expr, cart] }));
    expect(a.findings.find((f) => f.id === 'A1')?.text ?? '').not.toMatch(/stays within its baseline range/);
  });

  it("reports the alert's expression as Prometheus shows it at startsAt: the sample at or nearest before it", () => {
    // Samples every minute, 20 s off startsAt: 0.42 twenty seconds before it, 0.9 forty seconds after.
    const values: [number, string][] = [];
    for (let t = startsS - 3600 + 40; t <= nowS; t += 60)
      values.push([t, String(t < startsS - 240 ? 0.1 + 0.02 * Math.sin(t) : t < startsS ? 0.42 : 0.9)]);
    const expr: Series = { query: 'p99 > 0.4', labels: { service: 'checkout' }, values };
    const a = analyze(bundle({ series: [expr] }));
    const m = a.findings.find((f) => f.kind === 'metric' && f.service === 'checkout');
    expect(m?.text).toMatch(/ 0\.42 at 02:17 UTC \(startsAt\) /);
    const z = /\(z=([\d.]+)\)/.exec(m?.text ?? '')?.[1];
    // The suspect's indicator gives the same reading, not the window's peak.
    expect(a.suspects[0]).toMatchObject({ service: 'checkout', indicator: expect.stringContaining(`z=${z} at startsAt`) });
  });

  it('starts the incident where the alert left its baseline when that was before the nominal window', () => {
    // A 5-minute baseline and a 1-minute lead (eval:lab): CPU burnt from 3 minutes before startsAt,
    // so two of the baseline's five minutes held the fault and the alert scored z=1.5.
    const values: [number, string][] = [];
    for (let t = startsS - 360; t <= nowS; t += 15) values.push([t, String(t >= startsS - 180 ? 0.8 : 0.04 + 0.005 * Math.sin(t))]);
    const expr: Series = { query: 'cpu > 0.7', labels: { service: 'inventory' }, values };
    const windows = {
      baselineStart: new Date((startsS - 360) * 1000).toISOString(),
      incidentStart: new Date((startsS - 60) * 1000).toISOString(),
      end: now.toISOString(),
    };
    const a = analyze(bundle({ series: [expr], windows }, { alertname: 'ServiceCPUHigh', service: 'inventory' }));
    expect(a.findings.find((f) => f.id === 'A1')?.text ?? '').not.toMatch(/stays within its baseline range/);
    expect(a.suspects[0]?.service).toBe('inventory');
  });

  it('scores any metric name and attributes it through the configured service labels', () => {
    const odd = series({ __name__: 'ledger_queue_depth_total', component: 'ledger' }, wobble(100, 5), {
      fromS: startsS - 200,
      value: () => 900,
    });
    expect(analyze(bundle({ series: [odd] })).suspects).toEqual([]);
    const a = analyze(bundle({ series: [odd] }), { serviceLabels: ['component'] });
    expect(a.suspects[0]).toMatchObject({ service: 'ledger', indicator: expect.stringContaining('ledger_queue_depth_total up') });
  });

  it('names a host when a series carries no service label', () => {
    const disk = series(
      { instance: 'node-3:9100', mountpoint: '/' },
      wobble(0.5, 0.001),
      { fromS: startsS - 240, value: (i) => Math.min(1, 0.5 + 0.05 * (i - 55)) },
      { name: 'disk usage', unit: 'ratio' },
    );
    expect(analyze(bundle({ series: [disk] })).suspects[0]?.service).toBe('node-3:9100');
  });

  it('turns a source that failed or was not configured into a finding, not an error', () => {
    const a = analyze(
      bundle({
        sources: [
          {
            source: 'prometheus',
            status: 'failed',
            detail: 'prometheus: POST http://prom:9090/api/v1/query_range timed out after 5000 ms',
          },
          { source: 'loki', status: 'ok' },
          { source: 'tempo', status: 'skipped', detail: 'not configured' },
        ],
      }),
    );
    expect(a.findings).toEqual([
      {
        id: 'S1',
        kind: 'source',
        text: 'prometheus: failed (prometheus: POST http://prom:9090/api/v1/query_range timed out after 5000 ms)',
      },
      { id: 'S2', kind: 'source', text: 'tempo: not queried (not configured)' },
      { id: 'A1', kind: 'alert', text: "no cause determined: nothing on the alert's call path is anomalous beyond the alert itself" },
    ]);
    expect(a.confidence).toBe('low');
    expect(a.suspects).toEqual([]);
  });

  it('blames the downstream service whose client calls time out, not the caller that alerted', () => {
    const r = rng(5);
    const traces = Array.from({ length: 8 }, (_, i) =>
      makeTrace(r, (startsS - 100 + i) * 1000, checkoutPath({ payments: { timeoutMs: 2000 } })),
    );
    const a = analyze(
      bundle({
        series: [
          series(
            { service: 'checkout' },
            wobble(0.01, 0.002),
            { fromS: startsS - 200, value: () => 0.3 },
            { name: 'error ratio', unit: 'ratio' },
          ),
        ],
        traces,
      }),
    );
    expect(a.suspects[0]).toMatchObject({
      service: 'payments',
      indicator: expect.stringMatching(/owns \d+% of checkout's trace time and errors/),
    });
    expect(a.findings.filter((f) => f.kind === 'trace').map((f) => f.text)).toContainEqual(
      expect.stringMatching(/^errors in 8 of 8 erroring traces start in payments: span "POST payments" \(status message in T(\d)\)$/),
    );
    // The message is what the application wrote: its own finding, marked untrusted, cited by id.
    const cited = /status message in (T\d)/.exec(a.findings.map((f) => f.text).join('\n'))![1];
    expect(a.findings.find((f) => f.id === cited)).toMatchObject({
      kind: 'trace',
      service: 'payments',
      untrusted: true,
      text: 'status message of the span "POST payments" in payments: "context deadline exceeded calling payments"',
    });
  });

  it('links exemplar traces of the incident first, then the fetched traces, as hex', () => {
    const t = makeTrace(rng(9), (startsS - 30) * 1000, checkoutPath(), true);
    const a = analyze(
      bundle({
        traces: [t],
        exemplars: [
          { seriesLabels: {}, traceId: '0af7651916cd43dd8448eb211c80319c', value: 1, timestamp: startsS },
          { seriesLabels: {}, traceId: '11111111111111111111111111111111', value: 9, timestamp: startsS - 3000 },
        ],
      }),
    );
    expect(a.relatedTraceIds).toHaveLength(2);
    expect(a.relatedTraceIds[0]).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(a.relatedTraceIds[1]).toMatch(/^[0-9a-f]{32}$/);
  });

  it('lists a trace once when its exemplar id lost its leading zero and Tempo sent it as base64', () => {
    const span = (name: string, parent?: string) => ({
      traceId: 'CvdlGRbNQ92ESOshHIAxnA==',
      spanId: parent ? 'AAAAAAAAAAI=' : 'AAAAAAAAAAE=',
      ...(parent ? { parentSpanId: parent } : {}),
      name,
      kind: 'SPAN_KIND_SERVER',
      startTimeUnixNano: `${startsS - 30}000000000`,
      endTimeUnixNano: `${startsS - 29}000000000`,
      status: { code: 'STATUS_CODE_ERROR' },
    });
    const trace = {
      batches: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
          scopeSpans: [{ spans: [span('GET /'), span('SELECT', 'AAAAAAAAAAE=')] }],
        },
      ],
    };
    const a = analyze(
      bundle({
        traces: [trace],
        exemplars: [{ seriesLabels: {}, traceId: 'AF7651916CD43DD8448EB211C80319C', value: 1, timestamp: startsS }],
      }),
    );
    expect(a.relatedTraceIds).toEqual(['0af7651916cd43dd8448eb211c80319c']);
  });

  it('compares the windows the bundle says the sources queried', () => {
    const early = series({ service: 'checkout' }, wobble(1, 0.1), { fromS: startsS - 600, value: () => 9 }, { name: 'queue depth' });
    const byDefault = analyze(bundle({ series: [early] })).findings[0]!.text;
    const recorded = analyze(
      bundle({
        series: [early],
        windows: {
          baselineStart: new Date((startsS - 3600) * 1000).toISOString(),
          incidentStart: new Date((startsS - 900) * 1000).toISOString(),
        },
      }),
    ).findings[0]!.text;
    // 5 minutes before startsAt (02:18) by default; the recorded window reaches back to the change itself.
    expect(byDefault).toMatch(/up since 02:13 UTC$/);
    expect(recorded).toMatch(/up since 02:08 UTC$/);
  });

  it('measures rates up to where the sources stopped, so an alert analysed days late still reports its surge', () => {
    const late = new Date(now.getTime() + 3 * 86_400_000);
    const ns = (s: number) => `${s}000000000`;
    // One line every 10 minutes in the baseline, then nine a minute from five minutes before startsAt.
    const values: [string, string][] = [];
    for (let t = startsS - 3600; t < startsS - 300; t += 600) values.push([ns(t), 'WARN payment gateway slow']);
    for (let t = startsS - 300; t < startsS + 120; t += 7) values.push([ns(t), 'WARN payment gateway slow']);
    const logs = [{ labels: { service_name: 'payments' }, values }];
    const windows = {
      baselineStart: new Date((startsS - 3600) * 1000).toISOString(),
      incidentStart: new Date((startsS - 300) * 1000).toISOString(),
      end: now.toISOString(),
    };
    const surging = /^log pattern in payments ×[\d.]+ its baseline rate/;
    // The recorded end, and the end recomputed for a bundle that predates it (startsAt + 60 min).
    expect(analyze(bundle({ now: late.toISOString(), logs, windows })).findings.map((f) => f.text)).toContainEqual(
      expect.stringMatching(surging),
    );
    expect(analyze(bundle({ now: late.toISOString(), logs })).findings.map((f) => f.text)).toContainEqual(expect.stringMatching(surging));
    const m = analyze(
      bundle({
        now: late.toISOString(),
        series: [series({ service: 'checkout' }, wobble(1, 0.1), { fromS: startsS - 100, value: () => 9 }, { name: 'queue depth' })],
      }),
    );
    expect(m.suspects[0]?.service).toBe('checkout');
  });

  it('is pure: the same bundle gives the same analysis and is left untouched', () => {
    const b = bundle({ series: [series({ service: 'checkout' }, wobble(1, 0.1), { fromS: startsS - 100, value: () => 9 })] });
    const copy = structuredClone(b);
    const first = analyze(b);
    expect(analyze(b)).toEqual(first);
    expect(b).toEqual(copy);
    expect(analysisSchema.safeParse(first).success).toBe(true);
  });

  it("feeds the template narrator's root cause with the top suspect and cited findings", () => {
    // A cause beside the symptom: with the latency alone, nothing is anomalous beyond the alert itself.
    const b = bundle({
      series: [
        series({ service: 'checkout' }, wobble(1, 0.1), { fromS: startsS - 100, value: () => 9 }, { name: 'p99 latency', unit: 's' }),
        series(
          { service: 'checkout' },
          wobble(0.4, 0.05),
          { fromS: startsS - 100, value: () => 1.9 },
          { name: 'cpu usage', unit: 'cores' },
        ),
      ],
    });
    const analysis = analyze(b);
    const n = templateNarration({ payload: b.payload, alerts: b.payload.alerts, analysis });
    expect(n.rootCause).toMatch(/^Most likely checkout \(p99 latency up/);
    expect(n.evidence).toContain('M1');
  });
});
