import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/** The tracer every stage uses; a no-op until telemetry registers a provider. */
export const tracer = trace.getTracer('alert-annotator');

/**
 * Runs `fn` inside a child span named after a pipeline stage (DESIGN.md span names);
 * errors are recorded on the span and rethrown.
 */
export async function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
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
