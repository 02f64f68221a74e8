import { analyze } from '../src/analyze';
import { summariseTraces } from '../src/analyze/traces';
import type { Series, Trace } from '../src/model/evidence';
import { firingPayload } from './helpers/gather';

/** One trace from [service, spanId, parentSpanId | undefined, kind, start ms, end ms] rows (OTLP/HTTP JSON form). */
function trace(rows: [string, string, string | undefined, number, number, number, Record<string, string>?][], id = 'ab'): Trace {
  const by = new Map<string, unknown[]>();
  for (const [service, spanId, parent, kind, start, end, attrs] of rows)
    by.set(service, [
      ...(by.get(service) ?? []),
      {
        traceId: id.repeat(16),
        spanId: spanId.padStart(16, '0'),
        ...(parent ? { parentSpanId: parent.padStart(16, '0') } : {}),
        name: `${service} op`,
        kind,
        startTimeUnixNano: `${start}000000`,
        endTimeUnixNano: `${end}000000`,
        attributes: Object.entries(attrs ?? {}).map(([key, v]) => ({ key, value: { stringValue: v } })),
      },
    ]);
  return {
    resourceSpans: [...by].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ spans }],
    })),
  } as Trace;
}

describe('the service graph from spans', () => {
  it('hangs a server span whose caller was not exported under the root of its trace', () => {
    // frontend -> (client span missing) -> checkout
    const t = trace([
      ['frontend', '1', undefined, 2, 0, 100],
      ['checkout', '3', '2', 2, 10, 90],
    ]);
    expect([...(summariseTraces([t]).calls.get('frontend') ?? [])]).toContain('checkout');
  });

  it('invents no call between two strays when the root service itself was not exported', () => {
    // api (missing) calls dispatch and trips; neither calls the other (eval:rca rides-slow-code-17
    // blamed trips, "called by dispatch", for dispatch's own slowness).
    const t = trace([
      ['dispatch', '3', '2', 2, 10, 400],
      ['trips', '5', '4', 2, 410, 450],
    ]);
    const calls = summariseTraces([t]).calls;
    expect(calls.get('dispatch')?.has('trips') ?? false).toBe(false);
    expect(calls.get('trips')?.has('dispatch') ?? false).toBe(false);
  });
});

describe('naming a dependency from its callers client spans', () => {
  const callee = (attrs: Record<string, string>) => {
    const t = trace([
      ['cart', '1', undefined, 2, 0, 100],
      ['cart', '2', '1', 3, 10, 90, attrs],
    ]);
    return [...(summariseTraces([t]).calls.get('cart') ?? [])];
  };

  it('names a Redis reached at an IP by its system, not the IP (the lab named it "127.0.0.1")', () => {
    expect(callee({ 'db.system': 'redis', 'server.address': '127.0.0.1', 'server.port': '6379' })).toEqual(['redis']);
    expect(callee({ 'db.system': 'redis', 'net.peer.name': 'localhost', 'net.peer.port': '6379' })).toEqual(['redis']);
    expect(callee({ 'db.system': 'redis', 'server.address': '::1' })).toEqual(['redis']);
  });

  it('keeps the port of a bare IP when nothing says what answers there: the services behind one address differ by it', () => {
    // The lab's frontend calling checkout over plain HTTP (old HTTP semconv): the record blamed '127.0.0.1'.
    expect(callee({ 'net.peer.name': '127.0.0.1', 'net.peer.port': '8081', 'http.url': 'http://127.0.0.1:8081/' })).toEqual([
      '127.0.0.1:8081',
    ]);
    expect(callee({ 'server.address': '127.0.0.1', 'server.port': '8082' })).toEqual(['127.0.0.1:8082']);
    expect(callee({ 'url.full': 'http://10.0.0.7:9000/x' })).toEqual(['10.0.0.7:9000']);
  });

  it('names a refused socket by the service that answered there in other traces, or by the scraped target listening there', () => {
    const http = (port: string) => ({ 'net.peer.name': '127.0.0.1', 'net.peer.port': port });
    const ok = trace(
      [
        ['frontend', '1', undefined, 2, 0, 100],
        ['frontend', '2', '1', 3, 10, 90, http('8081')],
        ['checkout', '3', '2', 2, 12, 88],
      ],
      'a1',
    );
    const refused = trace(
      [
        ['frontend', '1', undefined, 2, 0, 5],
        ['frontend', '2', '1', 3, 1, 2, http('8081')],
        ['frontend', '4', '1', 3, 2, 3, http('8083')],
      ],
      'b2',
    );
    expect([...(summariseTraces([refused, ok]).calls.get('frontend') ?? [])].sort()).toEqual(['127.0.0.1:8083', 'checkout']);
    const scraped = new Map([['127.0.0.1:8083', 'inventory']]);
    expect([...(summariseTraces([refused], scraped).calls.get('frontend') ?? [])].sort()).toEqual(['127.0.0.1:8081', 'inventory']);
  });

  it('keeps a host name, and an IP when nothing says what answers there', () => {
    expect(callee({ 'db.system': 'redis', 'server.address': 'session-cache', 'server.port': '6379' })).toEqual(['session-cache']);
    expect(callee({ 'server.address': '10.0.0.7' })).toEqual(['10.0.0.7']);
  });
});

describe('time handed down the service graph', () => {
  const now = new Date('2026-11-21T02:20:00Z');
  const startsS = now.getTime() / 1000 - 120;
  const series = (service: string, name: string, at: (i: number, t: number) => number): Series => {
    const values: [number, string][] = [];
    for (let t = startsS - 3600, i = 0; t <= startsS + 120; t += 60, i++) values.push([t, String(at(i, t))]);
    return { query: null, labels: { service }, values, name };
  };

  it('does not hand the alerting service its slowness to an uninstrumented dependency whose instrumented caller is fine', () => {
    // web -> booking -> gds.example (an outside API, no telemetry). web's own code got slow; the
    // API takes its usual (long) time, and booking, which calls it, shows nothing.
    const traces = ['a1', 'b2', 'c3', 'd4', 'e5'].map((id, k) =>
      trace(
        [
          ['web', '1', undefined, 2, k, k + 400],
          ['web', '2', '1', 3, k + 120, k + 400],
          ['booking', '3', '2', 2, k + 122, k + 398],
          ['booking', '4', '3', 3, k + 125, k + 395, { 'server.address': 'gds.example' }],
        ],
        id,
      ),
    );
    const a = analyze({
      payload: firingPayload(now, { alertname: 'WebLatencyHigh', service: 'web' }),
      now: now.toISOString(),
      series: [
        series('web', 'p99 latency', (i, t) => (t >= startsS - 240 ? 1.1 : 0.3 + 0.01 * Math.sin(i))),
        series('booking', 'p99 latency', (i) => 0.25 + 0.01 * Math.sin(i * 1.3)),
      ],
      logs: [],
      traces,
    });
    expect(a.suspects[0]?.service).toBe('web');
    expect(a.suspects.map((s) => s.service)).not.toContain('gds.example');
  });
});

describe('one dependency under the names spans and logs give it', () => {
  it('reads a database named by its namespace in log lines as the one the spans name by system and namespace', () => {
    const now = new Date('2026-11-21T02:20:00Z');
    const startsS = now.getTime() / 1000 - 120;
    const t = trace([
      ['rules', '1', undefined, 2, 0, 100],
      ['rules', '2', '1', 3, 10, 90, { 'db.system': 'influxdb', 'db.namespace': 'telemetry' }],
    ]);
    const lines: [string, string][] = Array.from({ length: 60 }, (_, k) => [
      `${startsS - 150 + k * 4}000000000`,
      `ERROR call to telemetry failed: 503 Service Unavailable`,
    ]);
    const values: [number, string][] = [];
    for (let t0 = startsS - 3600, i = 0; t0 <= startsS + 120; t0 += 60, i++)
      values.push([t0, String(t0 >= startsS - 200 ? 0.3 : 0.01 + 0.001 * Math.sin(i))]);
    const a = analyze({
      payload: firingPayload(now, { alertname: 'RulesErrors', service: 'rules' }),
      now: now.toISOString(),
      series: [{ query: null, labels: { service: 'rules' }, values, name: 'error ratio' }],
      logs: [{ labels: { service: 'rules' }, values: lines }],
      traces: [t],
    });
    expect(a.suspects[0]?.service).toBe('influxdb telemetry');
    expect(a.suspects.map((x) => x.service)).not.toContain('telemetry');
  });
});

describe('trace evidence for components without metrics', () => {
  const now = new Date('2026-11-21T02:20:00Z');
  const startsS = now.getTime() / 1000 - 120;
  const series = (service: string, name: string, at: (i: number, t: number) => number): Series => {
    const values: [number, string][] = [];
    for (let t = startsS - 3600, i = 0; t <= startsS + 120; t += 60, i++) values.push([t, String(at(i, t))]);
    return { query: null, labels: { service }, values, name };
  };
  const slow = (t: number) => t >= startsS - 240;

  it("hands a slow caller's time to the instrumented service it waits on when that service exports no metrics", () => {
    // web -> checkout -> pricing: pricing's code got slow; it has spans but no metrics. checkout's
    // p99 rose with it, and its spans show the time is pricing's.
    const traces = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'].map((id, k) =>
      trace(
        [
          ['web', '1', undefined, 2, k, k + 900],
          ['web', '2', '1', 3, k + 10, k + 890],
          ['checkout', '3', '2', 2, k + 12, k + 888],
          ['checkout', '4', '3', 3, k + 30, k + 870],
          ['pricing', '5', '4', 2, k + 32, k + 868],
        ],
        id,
      ),
    );
    const a = analyze({
      payload: firingPayload(now, { alertname: 'WebLatencyHigh', service: 'web' }),
      now: now.toISOString(),
      series: [
        series('web', 'p99 latency', (i, t) => (slow(t) ? 1.1 : 0.3 + 0.01 * Math.sin(i))),
        series('checkout', 'p99 latency', (i, t) => (slow(t) ? 1 : 0.2 + 0.01 * Math.sin(i * 1.3))),
      ],
      logs: [],
      traces,
    });
    expect(a.suspects[0]?.service).toBe('pricing');
  });

  it('reads "ledger slow" in the ledger service\'s own logs as its database of that name, which its spans call', () => {
    const traces = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'].map((id, k) =>
      trace(
        [
          ['ledger', '1', undefined, 2, k, k + 900],
          ['ledger', '2', '1', 3, k + 10, k + 890, { 'db.system': 'postgresql', 'db.namespace': 'ledger' }],
        ],
        id,
      ),
    );
    const at = (j: number) => `${startsS - 200 + j * 5}000000000`;
    const a = analyze({
      payload: firingPayload(now, { alertname: 'LedgerLatencyHigh', service: 'ledger' }),
      now: now.toISOString(),
      series: [series('ledger', 'p99 latency', (i, t) => (slow(t) ? 1.1 : 0.1 + 0.005 * Math.sin(i)))],
      logs: [{ labels: { service: 'ledger' }, values: Array.from({ length: 50 }, (_, j) => [at(j), `WARN ledger slow: ${700 + j}ms`]) }],
      traces,
    });
    expect(a.suspects[0]?.service).toBe('postgresql ledger');
  });

  it('places the alerting service among the first three on one slow trace when nothing else explains the alert', () => {
    // edge's own code got slow; its p99 sits at a bucket edge it often took before, and one slow
    // trace came back: the outside API takes more of it than edge does.
    const traces = [
      trace([
        ['edge', '1', undefined, 2, 0, 200],
        ['edge', '2', '1', 3, 30, 105, { 'server.address': 'license.vendor.example' }],
        ['edge', '3', '1', 3, 110, 150, { 'peer.service': 'drm' }],
        ['drm', '4', '3', 2, 111, 149],
      ]),
    ];
    const a = analyze({
      payload: firingPayload(now, { alertname: 'EdgeLatencyHigh', service: 'edge' }),
      now: now.toISOString(),
      series: [series('edge', 'p99 latency', (i, t) => (slow(t) || i % 3 ? 0.5 : 0.25))],
      logs: [],
      traces,
    });
    expect(a.suspects.slice(0, 3).map((s) => s.service)).toContain('edge');
    expect(a.confidence).toBe('low');
  });
});

describe('a dead plain-HTTP peer', () => {
  const now = new Date('2026-11-21T02:20:00Z');
  const startsS = now.getTime() / 1000 - 120;

  it('is named by the scraped target listening at its socket, never a bare IP', () => {
    // checkout is down: the frontend's calls to 127.0.0.1:8081 are refused; Prometheus scraped
    // checkout there until it went away.
    const traces = ['a1', 'b2', 'c3', 'd4', 'e5'].map((id, k) => {
      const t = trace(
        [
          ['frontend', '1', undefined, 2, k, k + 5],
          ['frontend', '2', '1', 3, k + 1, k + 2, { 'net.peer.name': '127.0.0.1', 'net.peer.port': '8081' }],
        ],
        id,
      );
      const spans = (t.resourceSpans![0] as { scopeSpans: { spans: { status?: unknown }[] }[] }).scopeSpans[0]!.spans;
      spans[1]!.status = { code: 2, message: 'connect ECONNREFUSED 127.0.0.1:8081' };
      spans[0]!.status = { code: 2, message: 'upstream failed' };
      return t;
    });
    const values = (f: (t: number) => number): [number, string][] => {
      const out: [number, string][] = [];
      for (let t = startsS - 3600; t <= startsS + 120; t += 60) out.push([t, String(f(t))]);
      return out;
    };
    const a = analyze({
      payload: firingPayload(now, { alertname: 'FrontendErrors', service: 'frontend' }),
      now: now.toISOString(),
      series: [
        {
          query: null,
          name: 'error ratio',
          labels: { service: 'frontend' },
          values: values((t) => (t >= startsS - 180 ? 0.4 : 0.001 * (1 + Math.sin(t)))),
        },
        {
          query: null,
          name: 'up',
          labels: { service: 'checkout', instance: '127.0.0.1:8081' },
          values: values((t) => (t >= startsS - 180 ? 0 : 1)),
        },
      ],
      logs: [],
      traces,
    });
    const names = a.suspects.map((s) => s.service);
    expect(names).not.toContain('127.0.0.1');
    expect(names).not.toContain('127.0.0.1:8081');
    expect(names[0]).toBe('checkout');
  });
});
