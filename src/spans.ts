import { context, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanOptions } from '@opentelemetry/api';

/** The tracer every stage uses; a no-op until telemetry registers a provider. */
export const tracer = trace.getTracer('alert-annotator');

/** Span options beyond the attributes (root, kind, links) and the context to start in. */
export interface WithSpanOptions extends Omit<SpanOptions, 'attributes'> {
  /** The parent context; the active one when unset. */
  parent?: Context;
}

/**
 * Runs `fn` inside a span named after a pipeline stage (docs/architecture.md span names); errors are
 * recorded on the span and rethrown. The one place that ends spans, so every stage (and the
 * worker's root span) reports failures the same way.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  options: WithSpanOptions = {},
): Promise<T> {
  const { parent, ...spanOptions } = options;
  return tracer.startActiveSpan(name, { ...spanOptions, attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The current trace id, or '' when tracing is off (an all-zero id is not a trace). */
export function currentTraceId(): string {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && ctx.traceId && !/^0+$/.test(ctx.traceId) ? ctx.traceId : '';
}
