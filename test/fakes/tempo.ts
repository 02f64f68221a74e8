import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * An in-process Tempo that answers like Tempo 2.0 (shapes copied from the recorded
 * responses in test/fixtures/tempo): OTLP/HTTP JSON ingest at /v1/traces (hex ids, 415
 * without a JSON Content-Type), TraceQL search at /api/search (the part of TraceQL the
 * annotator sends: `{ resource.service.name = "x" && status = error }`, `duration > Nms`,
 * spansets joined by `||`; anything else is a 400 parse error), trace ids in search
 * answers without leading zeros, and /api/traces/<id> as `batches` with base64 ids and
 * enum names. A trace becomes searchable only `flushDelayMs` after it arrived, as a block
 * flush does; by id it is found at once.
 */

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}

export interface OtlpTrace {
  resourceSpans: { resource?: { attributes?: KeyValue[] }; scopeSpans: { scope?: { name?: string }; spans: OtlpSpan[] }[] }[];
}

interface Stored {
  traceId: string;
  trace: OtlpTrace;
  arrivedAt: number;
}

type Cond = { kind: 'service'; value: string } | { kind: 'error' } | { kind: 'duration'; ms: number };

const KIND_NAMES = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

export class TraceQLParseError extends Error {}

/** Parses `{ a && b } || { c }` into a list of spansets, each a list of conditions. */
export function parseTraceQL(q: string): Cond[][] {
  const sets = q.split('||').map((s) => s.trim());
  return sets.map((set) => {
    const m = /^\{(.*)\}$/s.exec(set);
    if (!m) throw new TraceQLParseError(`parse error at line 1, col 1: syntax error: unexpected ${JSON.stringify(set.slice(0, 10))}`);
    return m[1]!.split('&&').map((c) => {
      const t = c.trim();
      let mm = /^resource\.service\.name\s*=\s*("(?:[^"\\]|\\.)*")$/.exec(t);
      if (mm) return { kind: 'service', value: JSON.parse(mm[1]!) as string };
      if (/^status\s*=\s*error$/.test(t)) return { kind: 'error' };
      mm = /^duration\s*>\s*(\d+(?:\.\d+)?)(ms|s)$/.exec(t);
      if (mm) return { kind: 'duration', ms: Number(mm[1]) * (mm[2] === 's' ? 1000 : 1) };
      throw new TraceQLParseError(
        `parse error at line 1, col 3: syntax error: unexpected IDENTIFIER near ${JSON.stringify(t.slice(0, 20))}`,
      );
    });
  });
}

function serviceName(rs: OtlpTrace['resourceSpans'][number]): string {
  return rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? 'unknown';
}

const ms = (ns: string): number => Number(BigInt(ns) / 1000n) / 1000;
const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

export class FakeTempo extends FakeHttpServer {
  private readonly traces = new Map<string, Stored>();
  flushDelayMs = 0;

  constructor() {
    super((req) => this.route(req));
  }

  /** Stores a trace as if an OTLP exporter had sent it. */
  addTrace(trace: OtlpTrace): string {
    const id = trace.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.traceId;
    if (!id || !/^[0-9a-f]{32}$/.test(id)) throw new Error('fake tempo: traces need 32-hex-char trace ids');
    this.traces.set(id, { traceId: id, trace, arrivedAt: Date.now() });
    return id;
  }

  private route(req: RecordedRequest): FakeReply {
    if (req.method === 'POST' && req.path === '/v1/traces') return this.ingest(req);
    if (req.method === 'GET' && req.path === '/api/search') return this.search(req);
    if (req.method === 'GET' && req.path.startsWith('/api/traces/')) return this.byId(req.path.slice('/api/traces/'.length));
    if (req.method === 'GET' && req.path === '/ready') return { status: 200, body: 'ready' };
    return { status: 404, body: '404 page not found\n' };
  }

  private ingest(req: RecordedRequest): FakeReply {
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.startsWith('application/json') && !ct.startsWith('application/x-protobuf')) {
      return { status: 415, body: `unsupported content type: ${ct}` };
    }
    const body = req.json as OtlpTrace | undefined;
    if (!body || !Array.isArray(body.resourceSpans)) return { status: 400, body: 'invalid OTLP request' };
    for (const rs of body.resourceSpans) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          if (!/^[0-9a-f]{32}$/i.test(s.traceId) || !/^[0-9a-f]{16}$/i.test(s.spanId)) {
            return { status: 400, body: 'invalid trace or span id: OTLP/HTTP JSON wants hex ids' };
          }
          const id = s.traceId.toLowerCase();
          const stored = this.traces.get(id) ?? { traceId: id, trace: { resourceSpans: [] }, arrivedAt: Date.now() };
          stored.trace.resourceSpans.push({ resource: rs.resource, scopeSpans: [{ scope: ss.scope, spans: [s] }] });
          this.traces.set(id, stored);
        }
      }
    }
    return { status: 200, body: {} };
  }

  private search(req: RecordedRequest): FakeReply {
    const q = req.query.get('q');
    let sets: Cond[][] = [];
    if (q) {
      try {
        sets = parseTraceQL(q);
      } catch (err) {
        return { status: 400, body: `invalid TraceQL query: ${(err as Error).message}` };
      }
    }
    const start = req.query.get('start');
    const end = req.query.get('end');
    if ((start && !/^\d+$/.test(start)) || (end && !/^\d+$/.test(end)))
      return { status: 400, body: 'invalid start or end: must be unix epoch seconds' };
    const limit = Number(req.query.get('limit') ?? '20');
    const out: unknown[] = [];
    for (const t of this.traces.values()) {
      if (Date.now() - t.arrivedAt < this.flushDelayMs) continue;
      const spans = t.trace.resourceSpans.flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ s, service: serviceName(rs) }))),
      );
      const root = spans.find((x) => !x.s.parentSpanId) ?? spans[0];
      if (!root) continue;
      const rootStartS = ms(root.s.startTimeUnixNano) / 1000;
      if (start && rootStartS < Number(start)) continue;
      if (end && rootStartS > Number(end)) continue;
      const matched = spans.filter(
        ({ s, service }) =>
          sets.length === 0 ||
          sets.some((conds) =>
            conds.every((c) => {
              if (c.kind === 'service') return service === c.value;
              if (c.kind === 'error') return s.status?.code === 2;
              return ms(s.endTimeUnixNano) - ms(s.startTimeUnixNano) > c.ms;
            }),
          ),
      );
      if (matched.length === 0) continue;
      const durationMs = Math.round(
        Math.max(...spans.map((x) => ms(x.s.endTimeUnixNano))) - Math.min(...spans.map((x) => ms(x.s.startTimeUnixNano))),
      );
      out.push({
        // Tempo prints trace ids without leading zeros in search results.
        traceID: t.traceId.replace(/^0+/, ''),
        rootServiceName: root.service,
        rootTraceName: root.s.name,
        startTimeUnixNano: root.s.startTimeUnixNano,
        ...(durationMs > 0 ? { durationMs } : {}),
        spanSet: {
          spans: matched.slice(0, 3).map(({ s }) => ({
            spanID: s.spanId,
            startTimeUnixNano: s.startTimeUnixNano,
            durationNanos: String(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)),
            ...(s.status?.code === 2 ? { attributes: [{ key: 'status', value: { stringValue: 'error' } }] } : {}),
          })),
          matched: matched.length,
        },
      });
      if (out.length >= limit) break;
    }
    return { status: 200, body: { traces: out, metrics: { inspectedBlocks: 1, totalBlockBytes: '11762' } } };
  }

  private byId(raw: string): FakeReply {
    if (!/^[0-9a-fA-F]{1,32}$/.test(raw)) return { status: 400, body: `invalid trace id: ${raw}` };
    const t = this.traces.get(raw.toLowerCase().padStart(32, '0'));
    if (!t) return { status: 404, body: 'trace not found' };
    return {
      status: 200,
      body: {
        batches: t.trace.resourceSpans.map((rs) => ({
          resource: rs.resource,
          scopeSpans: rs.scopeSpans.map((ss) => ({
            scope: ss.scope,
            spans: ss.spans.map((s) => ({
              ...s,
              traceId: b64(s.traceId),
              spanId: b64(s.spanId),
              ...(s.parentSpanId ? { parentSpanId: b64(s.parentSpanId) } : {}),
              kind: KIND_NAMES[s.kind ?? 0] ?? 'SPAN_KIND_UNSPECIFIED',
              ...(s.status ? { status: { ...s.status, code: STATUS_NAMES[s.status.code ?? 0] } } : {}),
            })),
          })),
        })),
      },
    };
  }
}
