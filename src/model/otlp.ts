import { z } from 'zod';
import type { Trace } from './evidence';

/**
 * OTLP JSON traces (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) as
 * both OTLP/HTTP (hex ids, `resourceSpans`) and Tempo 2.0's /api/traces (`batches`, base64
 * ids, enum names for kind and status) write them; normalised to one flat span list.
 */

const anyValue = z.looseObject({
  stringValue: z.string().optional(),
  intValue: z.union([z.string(), z.number()]).optional(),
  doubleValue: z.number().optional(),
  boolValue: z.boolean().optional(),
});
const attributes = z.array(z.looseObject({ key: z.string(), value: anyValue.optional() })).default([]);
const nanos = z.union([z.string().regex(/^\d+$/), z.number()]);

const spanSchema = z.looseObject({
  traceId: z.string(),
  spanId: z.string(),
  parentSpanId: z.string().optional(),
  name: z.string().default(''),
  kind: z.union([z.number(), z.string()]).optional(),
  startTimeUnixNano: nanos,
  endTimeUnixNano: nanos,
  attributes,
  status: z.looseObject({ code: z.union([z.number(), z.string()]).optional(), message: z.string().optional() }).optional(),
});

const scopeSpansSchema = z.looseObject({ spans: z.array(spanSchema).default([]) });
const resourceSpansSchema = z.looseObject({
  resource: z.looseObject({ attributes }).optional(),
  scopeSpans: z.array(scopeSpansSchema).optional(),
  // OTLP before 0.19 and some Tempo versions.
  instrumentationLibrarySpans: z.array(scopeSpansSchema).optional(),
});

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';

export interface FlatSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  service: string;
  name: string;
  kind: SpanKind;
  /** Milliseconds since the epoch (float); ns precision is not needed for blame. */
  startMs: number;
  endMs: number;
  error: boolean;
  statusMessage?: string;
  /**
   * What a client or producer span calls, named from its attributes (peerName): the only name a
   * dependency without telemetry of its own (a managed cache, a database, a third-party API) has.
   */
  peer?: string;
}

const KINDS: SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function kindOf(k: number | string | undefined): SpanKind {
  if (typeof k === 'number') return KINDS[k] ?? 'unspecified';
  if (typeof k === 'string') {
    const name = k.replace(/^SPAN_KIND_/, '').toLowerCase();
    return (KINDS as string[]).includes(name) ? (name as SpanKind) : 'unspecified';
  }
  return 'unspecified';
}

/**
 * The one form of a trace id everywhere (exemplars, Tempo search hits, fetched spans): 32
 * lowercase hex digits. Exemplar labels and Tempo's search drop leading zeros and 64-bit
 * tracers send 16 digits, so hex is left-padded; base64 (Tempo's /api/traces) is decoded first.
 * Without one form, relatedTraceIds would list the same trace twice.
 */
export function normaliseTraceId(id: string): string {
  if (/^[0-9a-fA-F]{1,32}$/.test(id)) return id.toLowerCase().padStart(32, '0');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(id)) {
    const hex = Buffer.from(id, 'base64').toString('hex');
    if (hex.length === 16 || hex.length === 32) return hex.padStart(32, '0');
  }
  return id.toLowerCase();
}

/** Span ids: hex stays; base64 (Tempo's /api/traces) becomes lowercase hex. */
export function normaliseId(id: string): string {
  if (/^[0-9a-fA-F]{16}$|^[0-9a-fA-F]{32}$/.test(id)) return id.toLowerCase();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(id)) {
    const hex = Buffer.from(id, 'base64').toString('hex');
    if (hex.length === 16 || hex.length === 32) return hex;
  }
  return id.toLowerCase();
}

function nsToMs(v: string | number): number {
  if (typeof v === 'number') return v / 1e6;
  // Split to keep precision: the digits beyond ms do not fit a double anyway.
  return v.length > 6 ? Number(v.slice(0, v.length - 6)) + Number(`0.${v.slice(v.length - 6)}`) : Number(v) / 1e6;
}

function attr(list: z.infer<typeof attributes>, key: string): string | undefined {
  const v = list.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  return undefined;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** "cache:6379" -> "cache"; IPv6 literals and plain names stay. */
function withoutPort(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const m = /^([^:[\]]+):\d+$/.exec(address);
  return m ? m[1] : address;
}

/**
 * The name of what a client/producer span calls, from the OpenTelemetry semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/) and their older names: `peer.service`; a
 * messaging destination (`messaging.destination.name`, formerly `messaging.destination`); a
 * database as system plus namespace (`db.system` + `db.namespace`, formerly `db.name`:
 * "postgresql ledger"); else the address (`server.address`, formerly `net.peer.name`; the host of
 * `url.full`/`http.url`; `http.host`); else the bare system.
 */
export function peerName(get: (key: string) => string | undefined): string | undefined {
  const peer = get('peer.service');
  if (peer) return peer;
  const destination = get('messaging.destination.name') ?? get('messaging.destination');
  if (destination) return destination;
  const db = get('db.system');
  const ns = get('db.namespace') ?? get('db.name');
  if (db && ns) return `${db} ${ns}`;
  const address =
    withoutPort(get('server.address')) ??
    withoutPort(get('net.peer.name')) ??
    hostOf(get('url.full')) ??
    hostOf(get('http.url')) ??
    withoutPort(get('http.host'));
  // An IP literal or localhost names a socket, not a dependency: the system ("redis") says more.
  const system = db ?? get('messaging.system');
  if (address && system && isBareAddress(address)) return system;
  // Without one, the port tells apart the services behind one address (every lab service is
  // 127.0.0.1): "127.0.0.1:8081", as a Prometheus target's instance label names it.
  if (address && !system && isBareAddress(address)) {
    const port =
      get('server.port') ?? get('net.peer.port') ?? portOf(get('url.full')) ?? portOf(get('http.url')) ?? portOf(get('http.host'));
    return port ? `${address.includes(':') && !address.startsWith('[') ? `[${address}]` : address}:${port}` : address;
  }
  return address ?? system;
}

/** The explicit port of a URL or host:port, if any. */
function portOf(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = /^(?:[a-z][\w+.-]*:\/\/)?(?:\[[^\]]*\]|[^/:?#]+):(\d{1,5})(?:[/?#]|$)/i.exec(v);
  return m?.[1];
}

/** 10.0.0.7, [::1], ::1, localhost: an address that says nothing of what answers there. */
export function isBareAddress(a: string): boolean {
  const host = a.replace(/^\[(.*)\]$/, '$1');
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(':') && /^[0-9a-f:.]+$/i.test(host)) || /^localhost$/i.test(host);
}

function isError(code: number | string | undefined): boolean {
  return code === 2 || code === 'STATUS_CODE_ERROR' || code === 'ERROR';
}

/** Flattens one trace; malformed parts are skipped, never thrown (evidence is best effort). */
export function flattenTrace(trace: Trace): FlatSpan[] {
  const groups = [...(trace.resourceSpans ?? []), ...(trace.batches ?? [])];
  const out: FlatSpan[] = [];
  for (const g of groups) {
    const parsed = resourceSpansSchema.safeParse(g);
    if (!parsed.success) continue;
    const res = parsed.data.resource?.attributes ?? [];
    const service = attr(res, 'service.name') ?? 'unknown';
    for (const scope of [...(parsed.data.scopeSpans ?? []), ...(parsed.data.instrumentationLibrarySpans ?? [])]) {
      for (const s of scope.spans) {
        out.push({
          traceId: normaliseTraceId(s.traceId),
          spanId: normaliseId(s.spanId),
          parentSpanId: s.parentSpanId ? normaliseId(s.parentSpanId) : undefined,
          service,
          name: s.name,
          kind: kindOf(s.kind),
          startMs: nsToMs(s.startTimeUnixNano),
          endMs: nsToMs(s.endTimeUnixNano),
          error: isError(s.status?.code),
          statusMessage: s.status?.message || undefined,
          peer: peerName((key) => attr(s.attributes, key)),
        });
      }
    }
  }
  return out;
}
