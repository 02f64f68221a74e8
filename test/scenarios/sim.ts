import type { EvidenceBundle, Exemplar, LogStream, Series, Trace } from '../../src/model/evidence';

/**
 * A small deterministic simulator of a shop's telemetry, used to write the scenario
 * bundles (generate.ts) and the benchmark's large bundle (bench/rca.ts). Everything is
 * seeded: the same scenario always gives the same bytes.
 */

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gauss(r: () => number): number {
  const u = Math.max(1e-12, r());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export function hex(r: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) s += Math.floor(r() * 16).toString(16);
  return s;
}

/** A change in a series: from `at` (seconds relative to the alert's startsAt) on. */
export interface Shape {
  kind: 'step' | 'ramp' | 'spike';
  at: number;
  /** step/spike: added amount; ramp: added per minute. */
  by: number;
  /** ramp: stop rising at this total; spike: how long it lasts (s). */
  cap?: number;
  lasts?: number;
}

export interface Clock {
  anchorS: number;
  startS: number;
  endS: number;
  stepS: number;
}

export function clockFor(startsAt: string, nowIso: string, baselineMin = 60, stepS = 60): Clock {
  const anchorS = Date.parse(startsAt) / 1000;
  return { anchorS, startS: anchorS - baselineMin * 60, endS: Date.parse(nowIso) / 1000, stepS };
}

export interface SeriesSpec {
  labels: Record<string, string>;
  name?: string;
  unit?: string;
  query?: string | null;
  base: number;
  /** Gaussian noise, as a fraction of base unless `noiseAbs` is set. */
  noise?: number;
  noiseAbs?: number;
  /** Added per minute over the whole window (slow drift, as traffic does in a day). */
  drift?: number;
  shapes?: Shape[];
  min?: number;
  max?: number;
}

function shapeAt(sh: Shape, rel: number): number {
  if (rel < sh.at) return 0;
  const mins = (rel - sh.at) / 60;
  switch (sh.kind) {
    case 'step':
      return sh.by;
    case 'ramp':
      return sh.cap !== undefined ? Math.min(sh.cap, sh.by * mins) : sh.by * mins;
    case 'spike':
      return rel - sh.at <= (sh.lasts ?? 60) ? sh.by : 0;
  }
}

function num(v: number): string {
  return Number(v.toPrecision(5)).toString();
}

export function makeSeries(r: () => number, c: Clock, spec: SeriesSpec): Series {
  const values: [number, string][] = [];
  const sd = spec.noiseAbs ?? Math.abs(spec.base) * (spec.noise ?? 0.05);
  for (let t = c.startS; t <= c.endS; t += c.stepS) {
    const rel = t - c.anchorS;
    let v = spec.base + ((t - c.startS) / 60) * (spec.drift ?? 0) + sd * gauss(r);
    for (const sh of spec.shapes ?? []) v += shapeAt(sh, rel);
    if (spec.min !== undefined) v = Math.max(spec.min, v);
    if (spec.max !== undefined) v = Math.min(spec.max, v);
    values.push([t, num(v)]);
  }
  return {
    query: spec.query ?? null,
    labels: spec.labels,
    values,
    ...(spec.name ? { name: spec.name } : {}),
    ...(spec.unit ? { unit: spec.unit } : {}),
  };
}

/** A log pattern: `render` gets a random source and fills the variables. */
export interface LogSpec {
  render: (r: () => number) => string;
  /** Lines per minute. */
  perMin: number;
  /** Seconds relative to startsAt; default: the whole window. */
  from?: number;
  to?: number;
}

export function makeLogs(r: () => number, c: Clock, labels: Record<string, string>, specs: LogSpec[]): LogStream {
  const entries: [number, string][] = [];
  for (const spec of specs) {
    const from = c.anchorS + (spec.from ?? -Infinity);
    const to = c.anchorS + (spec.to ?? Infinity);
    for (let t = c.startS; t < c.endS; t += 60) {
      // Poisson-ish count per minute: sum of Bernoulli trials keeps it deterministic and cheap.
      const lambda = spec.perMin;
      let n = Math.floor(lambda);
      if (r() < lambda - n) n++;
      for (let i = 0; i < n; i++) {
        const ts = t + r() * 60;
        if (ts < from || ts >= to || ts > c.endS) continue;
        entries.push([ts, spec.render(r)]);
      }
    }
  }
  entries.sort((a, b) => a[0] - b[0]);
  return {
    labels,
    values: entries.map(([t, line]) => [`${Math.floor(t)}${String(Math.floor((t % 1) * 1e9)).padStart(9, '0')}`, line]),
  };
}

/** One call in a trace: a service's server span doing `selfMs` of work, calling children. */
export interface CallSpec {
  service: string;
  name: string;
  selfMs: number;
  jitter?: number;
  calls?: CallSpec[];
  /** The server span fails with this message. */
  error?: string;
  /** The caller's client span times out after this many ms and no server span exists. */
  timeoutMs?: number;
  /** Instrumented without a peer.service attribute on the caller's client span. */
  noPeer?: boolean;
  /** Not instrumented (a database, a cache): only the caller's client span exists, lasting selfMs. */
  clientOnly?: boolean;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number | string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
  status?: { code: number | string; message?: string };
}

function ns(ms: number): string {
  return `${BigInt(Math.round(ms * 1000)) * 1000n}`;
}

/**
 * Builds one trace in OTLP JSON. `tempoForm` writes it as Tempo 2.0's /api/traces answers
 * (batches, base64 ids, enum names) instead of OTLP/HTTP's hex ids and numbers.
 */
export function makeTrace(r: () => number, startMs: number, root: CallSpec, tempoForm = false): Trace {
  const traceId = hex(r, 32);
  const byService = new Map<string, OtlpSpan[]>();
  const push = (service: string, s: OtlpSpan): void => {
    const list = byService.get(service) ?? [];
    list.push(s);
    byService.set(service, list);
  };
  // Returns the end time (ms) of the server span.
  const server = (call: CallSpec, start: number, parent?: string): { end: number; error: boolean } => {
    const id = hex(r, 16);
    let t = start + call.selfMs * 0.3 * Math.max(0.2, 1 + (call.jitter ?? 0.2) * gauss(r));
    let childError = false;
    for (const child of call.calls ?? []) {
      const clientId = hex(r, 16);
      const cStart = t;
      let cEnd: number;
      let cErr = false;
      let cMsg: string | undefined;
      if (child.timeoutMs !== undefined) {
        cEnd = cStart + child.timeoutMs;
        cErr = true;
        cMsg = `context deadline exceeded calling ${child.service}`;
      } else if (child.clientOnly) {
        cEnd = cStart + child.selfMs * Math.max(0.2, 1 + (child.jitter ?? 0.2) * gauss(r));
        cErr = !!child.error;
        cMsg = child.error;
      } else {
        const res = server(child, cStart + 0.5, clientId);
        cEnd = res.end + 0.5;
        cErr = res.error;
        cMsg = res.error ? `${child.service} answered 500` : undefined;
      }
      childError ||= cErr;
      push(call.service, {
        traceId,
        spanId: clientId,
        parentSpanId: id,
        name: `${child.name.split(' ')[0]} ${child.service}`,
        kind: 3,
        startTimeUnixNano: ns(cStart),
        endTimeUnixNano: ns(cEnd),
        attributes: child.noPeer ? [] : [{ key: 'peer.service', value: { stringValue: child.service } }],
        ...(cErr ? { status: { code: 2, message: cMsg } } : {}),
      });
      t = cEnd;
    }
    const end = t + call.selfMs * 0.7 * Math.max(0.2, 1 + (call.jitter ?? 0.2) * gauss(r));
    const error = !!call.error || childError;
    push(call.service, {
      traceId,
      spanId: id,
      ...(parent ? { parentSpanId: parent } : {}),
      name: call.name,
      kind: 2,
      startTimeUnixNano: ns(start),
      endTimeUnixNano: ns(end),
      attributes: [{ key: 'http.response.status_code', value: { intValue: error ? '500' : '200' } }],
      ...(error ? { status: { code: 2, message: call.error ?? 'downstream failed' } } : {}),
    });
    return { end, error };
  };
  server(root, startMs);
  const groups = [...byService.entries()].map(([service, spans]) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ scope: { name: 'sim' }, spans: tempoForm ? spans.map(toTempo) : spans }],
  }));
  return tempoForm ? { batches: groups } : { resourceSpans: groups };
}

const b64 = (h: string): string => Buffer.from(h, 'hex').toString('base64');
const KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT'];

function toTempo(s: OtlpSpan): OtlpSpan {
  return {
    ...s,
    traceId: b64(s.traceId),
    spanId: b64(s.spanId),
    ...(s.parentSpanId ? { parentSpanId: b64(s.parentSpanId) } : {}),
    kind: KIND_NAMES[Number(s.kind)] ?? 'SPAN_KIND_UNSPECIFIED',
    ...(s.status ? { status: { ...s.status, code: 'STATUS_CODE_ERROR' } } : {}),
  };
}

export function traceIdOf(t: Trace): string {
  const groups = (t.resourceSpans ?? t.batches ?? []) as { scopeSpans: { spans: { traceId: string }[] }[] }[];
  const id = groups[0]?.scopeSpans[0]?.spans[0]?.traceId ?? '';
  return /^[0-9a-f]{32}$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex');
}

export function exemplarsFrom(traces: Trace[], labels: Record<string, string>, c: Clock, value: number): Exemplar[] {
  return traces
    .slice(0, 5)
    .map((t, i) => ({ seriesLabels: labels, traceId: traceIdOf(t), value: value * (1 + i / 10), timestamp: c.anchorS + 30 * i }));
}

/** The scenario's answer key, kept beside the evidence in the bundle file (bundles are loose objects). */
export interface ScenarioKey {
  id: string;
  fault: string;
  /** null for the no-fault controls. */
  rootCause: string | null;
  description: string;
}

export type ScenarioBundle = EvidenceBundle & { scenario: ScenarioKey };
