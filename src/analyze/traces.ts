import type { Trace } from '../model/evidence';
import { flattenTrace, isBareAddress, type FlatSpan } from '../model/otlp';

/**
 * Reduces fetched traces to blame (issue 3): per-service self-time, where errors start,
 * and — for each service u — which services own the time and the errors inside u's part
 * of the traces. A client span's own time (the wait not covered by a server span) belongs
 * to the peer it calls: that is where the network or the remote queue is.
 */

export interface SpanRef {
  service: string;
  name: string;
  ms: number;
  message?: string;
}

export interface TraceSummary {
  traceCount: number;
  errorTraceCount: number;
  /** u -> s -> share of the time and errors within u's spans owned by s (sums to 1 per u). */
  blame: Map<string, Map<string, number>>;
  /** u -> s -> share of the errors within u's spans that start in s (only for u with errors). */
  errorBlame: Map<string, Map<string, number>>;
  /** u -> how many traces u appears in. */
  tracesOf: Map<string, number>;
  /** Service -> number of traces whose errors originate there. */
  errorOrigins: Map<string, number>;
  /** Service -> its span with the most own time across traces. */
  slowest: Map<string, SpanRef>;
  /** Service -> its own time summed over all traces, in ms. */
  selfMs: Map<string, number>;
  /** Service -> a span where an error originates. */
  failing: Map<string, SpanRef>;
  /** Hex ids, erroring traces first, then slowest first. */
  traceIds: string[];
  /**
   * The service graph the spans show (issue 12 item 1): caller -> callees, dependencies without
   * telemetry named from their callers' client/producer spans. A service whose server spans'
   * parent is missing (its caller's spans were not sampled or not exported) hangs under the
   * root of its trace.
   */
  calls: Map<string, Set<string>>;
}

interface Node {
  span: FlatSpan;
  children: Node[];
  parent?: Node;
  self: number;
  owner: string;
}

/** Length of the union of [start, end) intervals clipped to [lo, hi). */
function coveredMs(intervals: [number, number][], lo: number, hi: number): number {
  const clipped = intervals
    .map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)] as [number, number])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curA = -Infinity;
  let curB = -Infinity;
  for (const [a, b] of clipped) {
    if (a > curB) {
      if (curB > curA) total += curB - curA;
      curA = a;
      curB = b;
    } else curB = Math.max(curB, b);
  }
  if (curB > curA) total += curB - curA;
  return total;
}

/**
 * Who owns a span's own time: its service, except for a client or producer span, whose wait not
 * covered by the callee's server span (the network, the remote queue) belongs to the callee:
 * the service of its child server span when there is one, else the peer its attributes name (a
 * dependency with no telemetry of its own).
 */
function ownerOf(span: FlatSpan, children: readonly Node[], addresses: ReadonlyMap<string, string>): string {
  if (span.kind !== 'client' && span.kind !== 'producer') return span.service;
  const peer = span.peer !== undefined ? (addresses.get(span.peer) ?? span.peer) : undefined;
  return children.find((c) => c.span.service !== span.service)?.span.service ?? peer ?? span.service;
}

/**
 * What answers at a bare socket address ("127.0.0.1:8081"): the service whose server span
 * answered a client span to it in any trace. A refused connection has no server span: the
 * calls that did get through name the service behind it.
 */
function answeredAt(spans: readonly FlatSpan[], into: Map<string, string>): void {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (const s of spans) {
    const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    if (s.kind !== 'server' || !parent || parent.service === s.service || !parent.peer || !isBareAddress(parent.peer)) continue;
    if (parent.kind === 'client' && !into.has(parent.peer)) into.set(parent.peer, s.service);
  }
}

function buildTree(spans: FlatSpan[], addresses: ReadonlyMap<string, string> = new Map()): Node[] {
  const nodes = new Map<string, Node>();
  for (const s of spans) nodes.set(s.spanId, { span: s, children: [], self: 0, owner: s.service });
  for (const n of nodes.values()) {
    const p = n.span.parentSpanId ? nodes.get(n.span.parentSpanId) : undefined;
    if (p && p !== n) {
      n.parent = p;
      p.children.push(n);
    }
  }
  for (const n of nodes.values()) {
    const dur = Math.max(0, n.span.endMs - n.span.startMs);
    n.self = Math.max(
      0,
      dur -
        coveredMs(
          n.children.map((c) => [c.span.startMs, c.span.endMs]),
          n.span.startMs,
          n.span.endMs,
        ),
    );
    n.owner = ownerOf(n.span, n.children, addresses);
  }
  return [...nodes.values()];
}

function walk(n: Node, visit: (n: Node) => void): void {
  const stack = [n];
  while (stack.length) {
    const x = stack.pop()!;
    visit(x);
    stack.push(...x.children);
  }
}

function addTo(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

/**
 * `addresses`: bare socket addresses ("127.0.0.1:8081") known to be a service, e.g. from the
 * instance label of its scraped series; the spans' own calls that got through add more.
 */
export function summariseTraces(traces: readonly Trace[], addresses: ReadonlyMap<string, string> = new Map()): TraceSummary {
  const timeIn = new Map<string, Map<string, number>>();
  const errIn = new Map<string, Map<string, number>>();
  const tracesOf = new Map<string, number>();
  const errorOrigins = new Map<string, number>();
  const slowest = new Map<string, SpanRef>();
  const selfMs = new Map<string, number>();
  const errTracesOf = new Map<string, number>();
  const failing = new Map<string, SpanRef>();
  const ranked: { id: string; error: boolean; ms: number }[] = [];
  let errorTraceCount = 0;
  const calls = new Map<string, Set<string>>();

  const flat = traces.map(flattenTrace);
  const known = new Map<string, string>();
  for (const spans of flat) answeredAt(spans, known);
  for (const [a, svc] of addresses) if (!known.has(a)) known.set(a, svc);
  for (const spans of flat) {
    const nodes = buildTree(spans, known);
    if (nodes.length === 0) continue;
    const isOrigin = (n: Node): boolean => n.span.error && !n.children.some((c) => c.span.error);
    const hasError = nodes.some((n) => n.span.error);
    if (hasError) errorTraceCount++;
    const start = Math.min(...nodes.map((n) => n.span.startMs));
    const end = Math.max(...nodes.map((n) => n.span.endMs));
    ranked.push({ id: nodes[0]!.span.traceId, error: hasError, ms: end - start });

    // Only a true root (no parent id at all) adopts orphans: when the root service's own spans are
    // the ones missing, the first orphan is as much a stray as the rest, and hanging them under
    // it would invent calls ("dispatch calls trips" when api calls both).
    const root = nodes.find((n) => !n.parent && !n.span.parentSpanId);
    for (const n of nodes) {
      const from = n.parent?.span.service ?? (n !== root && n.span.parentSpanId ? root?.span.service : undefined);
      if (from && from !== n.span.service) link(calls, from, n.span.service);
      if (n.owner !== n.span.service) link(calls, n.span.service, n.owner);
    }
    const seen = new Set<string>();
    const origins = new Set<string>();
    for (const n of nodes) {
      seen.add(n.span.service);
      const cur = slowest.get(n.owner);
      if (!cur || n.self > cur.ms) slowest.set(n.owner, { service: n.owner, name: n.span.name, ms: n.self });
      addTo(selfMs, n.owner, n.self);
      if (isOrigin(n)) {
        origins.add(n.owner);
        if (!failing.has(n.owner)) failing.set(n.owner, { service: n.owner, name: n.span.name, ms: n.self, message: n.span.statusMessage });
      }
    }
    for (const s of seen) addTo(tracesOf, s, 1);
    for (const s of origins) addTo(errorOrigins, s, 1);

    // Entry spans of u: u's spans whose nearest ancestor outside u does not exist or is
    // another service, counted once (a u -> v -> u call stays inside the outer entry).
    const erred = new Set<string>();
    for (const n of nodes) {
      const u = n.span.service;
      if (n.parent && n.parent.span.service === u) continue;
      let a = n.parent;
      let nested = false;
      while (a) {
        if (a.span.service === u) {
          nested = true;
          break;
        }
        a = a.parent;
      }
      if (nested) continue;
      let time = timeIn.get(u);
      if (!time) timeIn.set(u, (time = new Map()));
      let errs = errIn.get(u);
      if (!errs) errIn.set(u, (errs = new Map()));
      walk(n, (x) => {
        addTo(time!, x.owner, x.self);
        if (isOrigin(x)) {
          addTo(errs!, x.owner, 1);
          erred.add(u);
        }
      });
    }
    for (const u of erred) addTo(errTracesOf, u, 1);
  }

  const blame = new Map<string, Map<string, number>>();
  const errorBlame = new Map<string, Map<string, number>>();
  for (const [u, errs] of errIn) {
    const totalE = [...errs.values()].reduce((s, v) => s + v, 0);
    if (totalE > 0) errorBlame.set(u, new Map([...errs].map(([s, v]) => [s, v / totalE])));
  }
  for (const [u, time] of timeIn) {
    const totalT = [...time.values()].reduce((s, v) => s + v, 0);
    const errs = errIn.get(u) ?? new Map<string, number>();
    const totalE = [...errs.values()].reduce((s, v) => s + v, 0);
    const shares = new Map<string, number>();
    // Errors weigh up to half, in proportion to how many of u's traces failed: one failed
    // trace among twenty slow ones says little about where the time goes.
    const wE = totalE > 0 ? 0.5 * Math.min(1, (errTracesOf.get(u) ?? 0) / Math.max(1, tracesOf.get(u) ?? 1)) : 0;
    for (const [s, v] of time) if (totalT > 0) addTo(shares, s, ((1 - wE) * v) / totalT);
    for (const [s, v] of errs) if (totalE > 0) addTo(shares, s, (wE * v) / totalE);
    blame.set(u, shares);
  }
  ranked.sort((a, b) => Number(b.error) - Number(a.error) || b.ms - a.ms);
  return {
    traceCount: ranked.length,
    errorTraceCount,
    blame,
    errorBlame,
    tracesOf,
    errorOrigins,
    slowest,
    selfMs,
    failing,
    traceIds: [...new Set(ranked.map((r) => r.id))],
    calls,
  };
}

function link(m: Map<string, Set<string>>, from: string, to: string): void {
  let set = m.get(from);
  if (!set) m.set(from, (set = new Set()));
  set.add(to);
}
