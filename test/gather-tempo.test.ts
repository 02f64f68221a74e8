import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze } from '../src/analyze';
import { flattenTrace, normaliseId, normaliseTraceId } from '../src/model/otlp';
import { summariseTraces } from '../src/analyze/traces';
import { gather } from '../src/gather';
import { traceSchema } from '../src/model/evidence';
import { TempoSource, traceqlFor } from '../src/gather/tempo';
import { FakeTempo, parseTraceQL, type OtlpTrace } from './fakes/tempo';
import { firingPayload, gatherRequest, never } from './helpers/gather';
import { checkoutPath } from './scenarios/shop';
import { makeTrace, rng } from './scenarios/sim';

const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const nowMs = now.getTime();
const payload = firingPayload(now, { alertname: 'CheckoutLatencyHigh', service: 'checkout' });
const FIXTURES = join(__dirname, 'fixtures', 'tempo');

function otlp(startMs: number, slowPayments: boolean, seed: number, traceId?: string): OtlpTrace {
  const t = makeTrace(
    rng(seed),
    startMs,
    slowPayments ? checkoutPath({ payments: { selfMs: 1400, jitter: 0.05 } }) : checkoutPath(),
  ) as unknown as OtlpTrace;
  if (traceId) for (const rs of t.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) s.traceId = traceId;
  return t;
}

let tempo: FakeTempo;
const slowIds: string[] = [];
beforeEach(async () => {
  tempo = await new FakeTempo().start();
  slowIds.length = 0;
  for (let i = 0; i < 4; i++) slowIds.push(tempo.addTrace(otlp(nowMs - 60_000 - i * 1000, true, i + 1)));
  // Tempo prints this one as 30 hex characters in search results.
  slowIds.push(tempo.addTrace(otlp(nowMs - 30_000, true, 99, '00c0ffee00c0ffee00c0ffee00c0ffee')));
  tempo.addTrace(otlp(nowMs - 50_000, false, 50));
  tempo.addTrace(otlp(nowMs - 3 * 3600_000, true, 51)); // before the incident window
});
afterEach(() => tempo.stop());

const source = (over: Partial<ConstructorParameters<typeof TempoSource>[0]> = {}) =>
  new TempoSource({
    url: tempo.url,
    timeoutMs: 2000,
    serviceLabels: ['service', 'service_name', 'app', 'job', 'container'],
    traceLimit: 20,
    slowMs: 1000,
    ...over,
  });

describe('the Tempo source', () => {
  it('searches erroring or slow spans of the alerting service in the incident window', async () => {
    await source().gather(gatherRequest(payload, now), never());
    const search = tempo.requestsTo('/api/search')[0]!;
    expect(search.query.get('q')).toBe(
      '{ resource.service.name = "checkout" && status = error } || { resource.service.name = "checkout" && duration > 1000ms }',
    );
    expect(Number(search.query.get('start'))).toBe(nowMs / 1000 - 120 - 300);
    expect(Number(search.query.get('end'))).toBe(nowMs / 1000);
  });

  it('fetches the slow traces whole, including ids Tempo prints without leading zeros', async () => {
    const r = await source().gather(gatherRequest(payload, now), never());
    const ids = r.traces!.map((t) => flattenTrace(t)[0]!.traceId).sort();
    expect(ids).toEqual([...slowIds].sort());
    expect(r.partial).toBeUndefined();
  });

  it('fetches no more than the trace limit', async () => {
    const r = await source({ traceLimit: 2 }).gather(gatherRequest(payload, now), never());
    expect(r.traces).toHaveLength(2);
    expect(tempo.requestsTo('/api/traces/')).toHaveLength(2);
  });

  it('gives evidence that blames the slow downstream and links its traces', async () => {
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    const a = analyze(bundle);
    expect(a.findings.find((f) => f.kind === 'trace')?.text).toMatch(/of checkout, payments owns \d+% of the time/);
    expect([...a.relatedTraceIds].sort()).toEqual([...slowIds].sort());
  });

  it('keeps what it fetched when one trace is gone', async () => {
    tempo.failNext({ status: 200, body: { traces: [{ traceID: 'deadbeef', rootServiceName: 'checkout', durationMs: 9000 }] } });
    const r = await source().gather(gatherRequest(payload, now), never());
    expect(r.partial).toMatch(/trace fetch: .*404/);
  });

  it('fails as a source when search fails', async () => {
    tempo.failNext({ status: 500, body: 'internal error' });
    const bundle = await gather([source()], gatherRequest(payload, now), never());
    expect(bundle.sources).toContainEqual(
      expect.objectContaining({ source: 'tempo', status: 'failed', detail: expect.stringMatching(/500/) }),
    );
  });

  it('finds nothing, without failing, while the blocks are not flushed yet', async () => {
    tempo.flushDelayMs = 60_000;
    const r = await source().gather(gatherRequest(payload, now), never());
    expect(r.traces).toEqual([]);
    // One search, no fetches, and an empty answer is not a partial one.
    expect(tempo.requestsTo('/api/search')).toHaveLength(1);
    expect(tempo.requestsTo('/api/traces/')).toHaveLength(0);
    expect(r.partial).toBeUndefined();
  });
});

describe('the fake Tempo', () => {
  it('parses the query the source sends and refuses other TraceQL with a 400', async () => {
    expect(parseTraceQL(traceqlFor('a "quoted" svc', 250))).toEqual([
      [{ kind: 'service', value: 'a "quoted" svc' }, { kind: 'error' }],
      [
        { kind: 'service', value: 'a "quoted" svc' },
        { kind: 'duration', ms: 250 },
      ],
    ]);
    const res = await fetch(`${tempo.url}/api/search?q=${encodeURIComponent('{ span.foo =~ "x" }')}`);
    expect(res.status).toBe(400);
  });

  it('answers /api/traces in the shape of a real Tempo 2.0', async () => {
    const real = JSON.parse(readFileSync(join(FIXTURES, 'tempo-2.0.1-api-traces-response.json'), 'utf8')) as {
      batches: { scopeSpans: { spans: Record<string, unknown>[] }[] }[];
    };
    const res = await fetch(`${tempo.url}/api/traces/${slowIds[0]}`);
    const fake = (await res.json()) as typeof real;
    const span = (b: typeof real) => b.batches[0]!.scopeSpans[0]!.spans[0]!;
    expect(Object.keys(fake)).toEqual(Object.keys(real));
    expect(span(fake).traceId).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(span(fake).kind).toMatch(/^SPAN_KIND_/);
    expect(typeof span(real).kind).toBe(typeof span(fake).kind);
  });
});

describe('traces as Tempo 2.0 returns them', () => {
  const real = traceSchema.parse(JSON.parse(readFileSync(join(FIXTURES, 'tempo-2.0.1-api-traces-response.json'), 'utf8')));

  it('have their base64 ids read as the hex ids search printed', () => {
    const spans = flattenTrace(real);
    expect(spans[0]!.traceId).toBe('6939395bfcd76eb51dd420bab8811848');
    expect(spans[1]!.parentSpanId).toBe(spans[0]!.spanId);
    expect(spans.every((s) => s.error)).toBe(true);
    expect(spans[0]!.kind).toBe('server');
  });

  it('put the error where it starts: the deepest failing span', () => {
    const s = summariseTraces([real]);
    expect(s.errorTraceCount).toBe(1);
    expect(s.failing.get('probe-svc')?.name).toBe('SELECT orders');
  });

  it('normalise hex and base64 ids alike', () => {
    expect(normaliseId('aTk5W/zXbrUd1CC6uIEYSA==')).toBe('6939395bfcd76eb51dd420bab8811848');
    expect(normaliseId('6939395BFCD76EB51DD420BAB8811848')).toBe('6939395bfcd76eb51dd420bab8811848');
  });

  it('give a trace one id whether it comes as base64, upper-case hex, or hex without its leading zeros', () => {
    const id = '0939395bfcd76eb51dd420bab8811848';
    expect(['CTk5W/zXbrUd1CC6uIEYSA==', id.toUpperCase(), id.slice(1)].map(normaliseTraceId)).toEqual([id, id, id]);
    // A 64-bit tracer's id is padded as Tempo pads it.
    expect(normaliseTraceId('1dd420bab8811848')).toBe('00000000000000001dd420bab8811848');
    expect(normaliseTraceId('HdQguriBGEg=')).toBe('00000000000000001dd420bab8811848');
  });
});
