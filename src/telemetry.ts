import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { IncomingMessage } from 'node:http';
import { WEBHOOK_PATH } from './receive/webhook';
import { withSpan } from './spans';

/**
 * Self-tracing (docs/architecture.md, "Alert-to-trace linking").
 *
 * Public surface:
 * - `initTelemetry({ endpoint, serviceName })` — registers a NodeTracerProvider exporting over
 *   OTLP/HTTP (JSON) to `<endpoint>/v1/traces`, plus the http, express and ioredis
 *   instrumentations. Without an endpoint spans still get real ids (log lines and records carry
 *   them), nothing is exported and no library is patched. Call it before the HTTP server is created and before
 *   the first Redis connection (express/ioredis loaded earlier are patched in place here).
 *   Returns `{ shutdown, forceFlush }`; `shutdown()` flushes pending spans (a short `replay` run
 *   must await it before exiting; put it last in the shutdown order).
 * - `currentTraceparent()` — the active span as a W3C `traceparent` string
 *   (https://www.w3.org/TR/trace-context/#traceparent-header), for the job data; undefined
 *   when nothing is being traced.
 * - `startAlertSpan({ traceparent, fingerprint, alertname, groupKey }, fn)` — runs `fn` inside
 *   the worker's root span `alert.annotate`: a NEW trace (the request that enqueued the job
 *   has already ended) with a span LINK to the receiving request's span and the attributes
 *   `alert.fingerprint`, `alert.name`, `alert.group_key`. Errors thrown by `fn` are recorded
 *   on the span and re-thrown.
 * - `parseTraceparent(s)` — the span context a stored `traceparent` names, or undefined.
 * - `logMixin` — pass as pino's `mixin`: adds `trace_id`/`span_id` to lines logged inside a span.
 *
 * Child spans (`dedup`, `gather.loki`, `llm.call`, …) and the record's `traceId` come from
 * `withSpan` / `currentTraceId` in ./spans, which share the tracer used here.
 */

/** The attributes of the worker's root span (names fixed by docs/architecture.md). */
const ALERT_ATTRS = {
  fingerprint: 'alert.fingerprint',
  name: 'alert.name',
  groupKey: 'alert.group_key',
} as const;

export interface TelemetryOptions {
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); unset means no tracing. */
  endpoint?: string;
  serviceName: string;
  /** How long spans wait in the batch before export; tests shorten it. Default 2000 ms. */
  exportDelayMs?: number;
}

export interface Telemetry {
  /** Exports every finished span now. */
  forceFlush(): Promise<void>;
  /** Flushes, then stops exporting and removes the instrumentations. Idempotent. */
  shutdown(): Promise<void>;
}

let active: Telemetry | undefined;

/** The OTLP/HTTP traces URL for a base endpoint, as the OTLP exporter spec builds it. */
export function tracesUrl(endpoint: string): string {
  // https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/** Probes and scrapes would otherwise be most of the spans in Tempo; they are not traced. */
export function isUntracedPath(url: string): boolean {
  return /^\/(metrics|-\/healthy|-\/ready)(\?|$)/.test(url);
}

/** http, express and ioredis instrumentations bound to `provider`; returns their remover. */
function instrument(provider: NodeTracerProvider): () => void {
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => isUntracedPath(req.url ?? ''),
        // The webhook is served on plain node:http, where no router names the span; name it
        // `{method} {route}` as the HTTP semantic conventions ask, so it is findable in Tempo
        // (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#name).
        requestHook: (span, req) => {
          if (req instanceof IncomingMessage && req.url?.split('?', 1)[0] === WEBHOOK_PATH) {
            span.updateName(`${req.method ?? 'POST'} ${WEBHOOK_PATH}`);
            span.setAttribute(ATTR_HTTP_ROUTE, WEBHOOK_PATH);
          }
        },
        // Outbound calls use fetch (undici), which this instrumentation does not see; an
        // http client span without a parent is a library's background call, not our work.
        requireParentforOutgoingSpans: true,
      }),
      new ExpressInstrumentation(),
      // BullMQ polls Redis continuously; only commands made inside one of our spans are kept
      // (requireParentSpan is the instrumentation's default; stated here because it matters).
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });

  // Instrumentations patch a module when it is `require`d after they are enabled; an entry
  // point that imported http/express/ioredis before calling this (hoisted imports) would stay
  // unpatched. require-in-the-middle patches on every require, also of a cached module, and
  // these instrumentations patch prototypes in place, so requiring them here covers
  // references taken earlier (https://github.com/nodejs/require-in-the-middle#readme).
  for (const name of ['http', 'https', 'express', 'ioredis']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading by name is the point
      require(name);
    } catch {
      // not installed in this deployment: nothing to patch
    }
  }
  return unregister;
}

export function initTelemetry(opts: TelemetryOptions): Telemetry {
  // One provider per process; a second caller (ROLE=all builds receiver and worker) shares it.
  if (active) return active;

  // Without an endpoint, spans still get real ids and are then dropped: the record's `traceId`
  // and the `trace_id` of log lines still tie a job's log lines to its annotation. Nothing is
  // sent anywhere and no library is patched.
  const exporter = opts.endpoint ? new OTLPTraceExporter({ url: tracesUrl(opts.endpoint), timeoutMillis: 5000 }) : undefined;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
    spanProcessors: exporter ? [new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.exportDelayMs ?? 2000 })] : [],
  });
  // Registers the AsyncLocalStorage context manager and the W3C propagator globally.
  provider.register();
  const unregister = exporter ? instrument(provider) : () => {};

  let closing: Promise<void> | undefined;
  const handle: Telemetry = {
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      closing ??= (async () => {
        unregister();
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          context.disable();
          propagation.disable();
          if (active === handle) active = undefined;
        }
      })();
      return closing;
    },
  };
  active = handle;
  return handle;
}

// A local propagator, so serialising span contexts does not depend on what is registered.
const w3c = new W3CTraceContextPropagator();

function isTraced(sc: SpanContext | undefined): sc is SpanContext {
  return sc !== undefined && trace.isSpanContextValid(sc);
}

/** The active span as a `traceparent` header value, for the job data. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  if (!isTraced(trace.getActiveSpan()?.spanContext())) return undefined;
  w3c.inject(context.active(), carrier, { set: (c, k, v) => (c[k] = v) });
  return carrier.traceparent;
}

/** Parses a `traceparent` back into a span context; undefined when absent or malformed. */
export function parseTraceparent(traceparent: string | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const ctx = w3c.extract(ROOT_CONTEXT, { traceparent }, { get: (c, k) => c[k], keys: (c) => Object.keys(c) });
  const sc = trace.getSpanContext(ctx);
  return isTraced(sc) ? sc : undefined;
}

/** pino mixin: `trace_id`/`span_id` of the active span on every line logged inside one. */
export function logMixin(): Record<string, unknown> {
  const sc = trace.getActiveSpan()?.spanContext();
  return isTraced(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}

export interface AlertSpanArgs {
  /** The receiving request's span context, as stored in the job. */
  traceparent?: string;
  /** One alert's fingerprint, or a group's (joined with ',' so TraceQL `=~` still finds each). */
  fingerprint: string | readonly string[];
  alertname: string;
  groupKey: string;
  /** Anything else worth having on the root span (job id, attempt). */
  attributes?: Attributes;
}

/** Runs one job's work in the root span `alert.annotate`, linked to the receiving request. */
export function startAlertSpan<T>(args: AlertSpanArgs, fn: (span: Span) => Promise<T>): Promise<T> {
  const linked = parseTraceparent(args.traceparent);
  return withSpan(
    'alert.annotate',
    {
      ...args.attributes,
      [ALERT_ATTRS.fingerprint]: typeof args.fingerprint === 'string' ? args.fingerprint : args.fingerprint.join(','),
      [ALERT_ATTRS.name]: args.alertname,
      [ALERT_ATTRS.groupKey]: args.groupKey,
    },
    fn,
    {
      // A new trace: the request ended long before the work starts, so a link, not a parent.
      root: true,
      kind: SpanKind.CONSUMER,
      links: linked ? [{ context: linked, attributes: { 'link.kind': 'enqueued_by' } }] : [],
      parent: ROOT_CONTEXT,
    },
  );
}
