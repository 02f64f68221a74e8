import { z } from 'zod';
import { FakeHttpServer, type RecordedRequest } from './http';

/**
 * An in-process OTLP/HTTP trace receiver (an OpenTelemetry Collector or Tempo's :4318).
 * It follows the protocol (https://opentelemetry.io/docs/specs/otlp/#otlphttp): POST
 * /v1/traces with a JSON body answers 200 with an ExportTraceServiceResponse; another
 * Content-Type answers 415 (this fake does not decode protobuf), a bad body 400.
 * Spans are flattened so tests can assert on names, parents, links and attributes.
 */

const anyValue: z.ZodType<unknown> = z.lazy(() =>
  z.looseObject({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    // OTLP JSON encodes 64-bit integers as strings; the JS exporter sends numbers.
    intValue: z.union([z.number(), z.string()]).optional(),
    doubleValue: z.number().optional(),
    arrayValue: z.object({ values: z.array(anyValue).default([]) }).optional(),
  }),
);
const keyValue = z.object({ key: z.string(), value: anyValue });
// OTLP/HTTP JSON carries ids as hex (the spec's exception to proto3 JSON's base64).
const hexId = (len: number) => z.string().regex(new RegExp(`^[0-9a-f]{${len}}$`));

const spanSchema = z.looseObject({
  traceId: hexId(32),
  spanId: hexId(16),
  parentSpanId: z.union([hexId(16), z.literal('')]).optional(),
  name: z.string(),
  kind: z.number().optional(),
  startTimeUnixNano: z.union([z.string(), z.number()]),
  endTimeUnixNano: z.union([z.string(), z.number()]),
  attributes: z.array(keyValue).default([]),
  links: z.array(z.looseObject({ traceId: hexId(32), spanId: hexId(16), attributes: z.array(keyValue).default([]) })).default([]),
  status: z.looseObject({ code: z.number().optional(), message: z.string().optional() }).optional(),
});

const exportSchema = z.object({
  resourceSpans: z.array(
    z.looseObject({
      resource: z.looseObject({ attributes: z.array(keyValue).default([]) }).optional(),
      scopeSpans: z.array(z.looseObject({ spans: z.array(spanSchema).default([]) })).default([]),
    }),
  ),
});

export type AttrValue = string | number | boolean | AttrValue[] | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  serviceName?: string;
  attributes: Record<string, AttrValue>;
  links: { traceId: string; spanId: string; attributes: Record<string, AttrValue> }[];
  statusCode: number;
}

function toValue(v: unknown): AttrValue {
  const o = v as {
    stringValue?: string;
    boolValue?: boolean;
    intValue?: number | string;
    doubleValue?: number;
    arrayValue?: { values: unknown[] };
  };
  if (o.stringValue !== undefined) return o.stringValue;
  if (o.boolValue !== undefined) return o.boolValue;
  if (o.intValue !== undefined) return Number(o.intValue);
  if (o.doubleValue !== undefined) return o.doubleValue;
  if (o.arrayValue) return o.arrayValue.values.map(toValue);
  return undefined;
}

function toAttrs(kvs: z.infer<typeof keyValue>[]): Record<string, AttrValue> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, toValue(kv.value)]));
}

export class FakeOtlpReceiver extends FakeHttpServer {
  readonly spans: ReceivedSpan[] = [];

  constructor() {
    super((req) => this.receive(req));
  }

  private receive(req: RecordedRequest) {
    if (req.method !== 'POST' || req.path !== '/v1/traces') return { status: 404, body: '404 page not found\n' };
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('application/json')) {
      return { status: 415, body: { code: 3, message: `unsupported content type ${type || '(none)'}` } };
    }
    const parsed = exportSchema.safeParse(req.json);
    if (!parsed.success) return { status: 400, body: { code: 3, message: 'cannot decode request' } };
    for (const rs of parsed.data.resourceSpans) {
      const resource = toAttrs(rs.resource?.attributes ?? []);
      const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined;
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          this.spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            name: s.name,
            ...(serviceName ? { serviceName } : {}),
            attributes: toAttrs(s.attributes),
            links: s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: toAttrs(l.attributes) })),
            statusCode: s.status?.code ?? 0,
          });
        }
      }
    }
    return { status: 200, body: { partialSuccess: {} } };
  }

  named(name: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }

  /** Waits until a span matching `pred` has arrived (exports are batched). */
  async waitFor(pred: (s: ReceivedSpan) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.spans.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`no matching span within ${timeoutMs} ms; received: ${this.spans.map((s) => s.name).join(', ') || '(none)'}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
