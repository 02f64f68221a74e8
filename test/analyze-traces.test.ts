import { summariseTraces } from '../src/analyze/traces';
import type { Trace } from '../src/model/evidence';

/** One trace from [service, spanId, parentSpanId | undefined, kind, start ms, end ms] rows (OTLP/HTTP JSON form). */
function trace(rows: [string, string, string | undefined, number, number, number][]): Trace {
  const by = new Map<string, unknown[]>();
  for (const [service, spanId, parent, kind, start, end] of rows)
    by.set(service, [
      ...(by.get(service) ?? []),
      {
        traceId: 'ab'.repeat(16),
        spanId: spanId.padStart(16, '0'),
        ...(parent ? { parentSpanId: parent.padStart(16, '0') } : {}),
        name: `${service} op`,
        kind,
        startTimeUnixNano: `${start}000000`,
        endTimeUnixNano: `${end}000000`,
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
