import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/logger';
import { currentTraceId, withSpan } from '../src/spans';
import { currentTraceparent, initTelemetry, isUntracedPath, logMixin, parseTraceparent, startAlertSpan, tracesUrl } from '../src/telemetry';
import { REPO_ROOT, start, startTs, stopAll, waitForExit } from './e2e/process';
import { FakeOtlpReceiver, type ReceivedSpan } from './fakes/otlp';

describe('telemetry when no OTLP endpoint is configured', () => {
  it('gives the work local trace ids that the log lines carry, exporting nothing', async () => {
    const lines: string[] = [];
    const log = createLogger({ mixin: logMixin, destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    const t = initTelemetry({ serviceName: 'alert-annotator' });
    const seen = await startAlertSpan({ fingerprint: 'abc', alertname: 'A', groupKey: '{}:{}' }, async () =>
      withSpan('dedup', {}, async () => {
        log.info('inside');
        return { tp: currentTraceparent(), id: currentTraceId() };
      }),
    );
    expect(seen.id).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.tp).toMatch(new RegExp(`^00-${seen.id}-[0-9a-f]{16}-01$`));
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ trace_id: seen.id });
    await expect(t.shutdown()).resolves.toBeUndefined();
  });

  it('still records the failure of the work on the root span as an error and rethrows it', async () => {
    const t = initTelemetry({ serviceName: 'alert-annotator' });
    let root: Span | undefined;
    await expect(
      startAlertSpan({ fingerprint: 'abc', alertname: 'A', groupKey: '{}:{}' }, async (span) => {
        root = span;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    // Nothing is exported without an endpoint, so the finished span itself is what we read.
    const finished = root as unknown as ReadableSpan;
    expect(finished.ended).toBe(true);
    expect(finished.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(finished.events.map((e) => e.name)).toContain('exception');
    await t.shutdown();
  });

  it('accepts a valid traceparent and rejects a malformed one instead of linking to garbage', () => {
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
    });
    expect(parseTraceparent('00-zz-yy-01')).toBeUndefined();
    expect(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });

  it('builds the OTLP/HTTP traces URL from the base endpoint', () => {
    expect(tracesUrl('http://tempo:4318')).toBe('http://tempo:4318/v1/traces');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
  });

  it('leaves health checks and metrics scrapes untraced, but not the webhook', () => {
    expect(['/metrics', '/-/healthy', '/-/ready', '/metrics?x=1'].filter(isUntracedPath)).toHaveLength(4);
    expect(isUntracedPath('/webhook/alertmanager')).toBe(false);
    expect(isUntracedPath('/metricsfoo')).toBe(false);
  });
});

/**
 * The exporting half runs in a real Node process (see test/e2e/trace-one-alert.ts for why);
 * this in-process OTLP/HTTP receiver is its collector.
 */
describe('one alert traced by a real process into an OTLP/HTTP receiver', () => {
  let otlp: FakeOtlpReceiver;
  let result: { traceparent: string | null; traceId: string };
  let stderr: string;

  beforeAll(async () => {
    otlp = await new FakeOtlpReceiver().start();
    const proc = startTs(join(REPO_ROOT, 'test/e2e/trace-one-alert.ts'), { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, LOG_LEVEL: 'info' });
    const code = await waitForExit(proc, 40_000);
    stderr = proc.output();
    if (code !== 0) throw new Error(`trace-one-alert exited ${code}:\n${stderr.slice(-3000)}`);
    result = JSON.parse(proc.stdout().trim().split('\n').pop() ?? '{}') as typeof result;
  }, 60_000);

  afterAll(async () => {
    await stopAll();
    await otlp.stop();
  });

  const one = (pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
    const hits = otlp.spans.filter(pred);
    if (hits.length !== 1) throw new Error(`expected one ${what}, got ${hits.length}: ${otlp.spans.map((s) => s.name).join(', ')}`);
    return hits[0]!;
  };

  it('the webhook request is a server span of the instrumented express app, and its context is what the job carries', () => {
    const request = parseTraceparent(result.traceparent ?? undefined);
    expect(request).toBeDefined();
    const server = one((s) => s.traceId === request!.traceId && s.parentSpanId === undefined, 'request root span');
    expect(server.name).toBe('POST /webhook/alertmanager');
    expect(server.serviceName).toBe('annotator-under-test');
    // the carried context is the handler's span inside that request (express's own span)
    const handler = one((s) => s.spanId === request!.spanId, 'handler span');
    expect(handler).toMatchObject({ traceId: server.traceId, parentSpanId: server.spanId });
    expect(handler.attributes['express.type']).toBe('request_handler');
  });

  it('the worker root span starts a new trace linked to the request, with the alert attributes', () => {
    const request = parseTraceparent(result.traceparent ?? undefined)!;
    const root = one((s) => s.name === 'alert.annotate', 'alert.annotate');
    expect(root.traceId).toBe(result.traceId);
    expect(root.traceId).not.toBe(request.traceId);
    expect(root.parentSpanId).toBeUndefined();
    expect(root.links).toEqual([{ traceId: request.traceId, spanId: request.spanId, attributes: { 'link.kind': 'enqueued_by' } }]);
    expect(root.attributes).toMatchObject({
      'alert.fingerprint': 'ca1e646dc11e4a70',
      'alert.name': 'CheckoutLatencyHigh',
      'alert.group_key': '{}:{alertname="CheckoutLatencyHigh"}',
    });
  });

  it('stage spans and the Redis command are children in that trace, and a failed stage is marked as an error', () => {
    const root = one((s) => s.name === 'alert.annotate', 'alert.annotate');
    const dedup = one((s) => s.name === 'dedup', 'dedup');
    const llm = one((s) => s.name === 'llm.call', 'llm.call');
    expect(dedup).toMatchObject({ traceId: root.traceId, parentSpanId: root.spanId, attributes: { 'alert.count': 1 } });
    expect(llm).toMatchObject({ traceId: root.traceId, parentSpanId: root.spanId, statusCode: 2 });
    const redis = one((s) => s.parentSpanId === dedup.spanId, 'redis span');
    expect(redis.name).toBe('ping');
  });

  it('health checks are not traced and nothing is lost although the process exits right after shutdown', () => {
    expect(otlp.spans.filter((s) => String(s.attributes['http.target'] ?? s.attributes['url.path'] ?? s.name).includes('healthy'))).toEqual(
      [],
    );
    // every span the run made arrived: request (+express), root, two stages, redis
    expect(
      otlp.spans
        .filter((s) => s.traceId === result.traceId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['alert.annotate', 'dedup', 'llm.call', 'ping']);
  });

  it('log lines written inside a span carry its trace_id and span_id', () => {
    const dedup = one((s) => s.name === 'dedup', 'dedup');
    const line = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'dedup done');
    expect(line).toMatchObject({ trace_id: result.traceId, span_id: dedup.spanId });
  });
});

describe('a short-lived `replay` run', () => {
  let otlp: FakeOtlpReceiver;

  beforeAll(async () => {
    otlp = await new FakeOtlpReceiver().start();
  });

  afterAll(async () => {
    await stopAll();
    await otlp.stop();
  });

  it('exports its whole trace before exiting, and the printed record carries that trace id', async () => {
    const fixture = join(REPO_ROOT, 'test/fixtures/alertmanager/am-webhook-01-firing-1-alert-CheckoutLatencyHigh-basic-auth.json');
    const proc = start(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli.ts'), 'replay', fixture], {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_SERVICE_NAME: 'replay-under-test',
        LLM_PROVIDER: 'none',
        LOG_LEVEL: 'warn',
        LOKI_URL: '',
        PROMETHEUS_URL: '',
        TEMPO_URL: '',
      },
    });
    const code = await waitForExit(proc, 40_000);
    expect({ code, output: code === 0 ? '' : proc.output().slice(-2000) }).toEqual({ code: 0, output: '' });
    const record = JSON.parse(proc.stdout().trim().split('\n')[0] ?? '{}') as { traceId?: string; fingerprint?: string };
    expect(record.fingerprint).toBe('ca1e646dc11e4a70');
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    // No waiting: the process has exited, so whatever arrived was flushed by shutdown.
    const trace = otlp.spans.filter((s) => s.traceId === record.traceId);
    const root = trace.find((s) => s.name === 'alert.annotate');
    expect(root).toMatchObject({
      serviceName: 'replay-under-test',
      attributes: { 'alert.fingerprint': 'ca1e646dc11e4a70', 'alert.name': 'CheckoutLatencyHigh' },
    });
    expect(trace.map((s) => s.name)).toEqual(expect.arrayContaining(['alert.annotate', 'dedup', 'analyze', 'scrub']));
  }, 60_000);
});
