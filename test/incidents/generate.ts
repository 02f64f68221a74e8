import type { LogStream, Series, SourceStatus, Trace } from '../../src/model/evidence';
import type { WebhookPayload } from '../../src/model/alert';
import { gauss, hex, rng } from '../scenarios/sim';
import { TOPOLOGIES, type Component, type Edge, type Topology } from './topologies';

/**
 * The second incident generator (issue 12 item 7), built unlike test/scenarios/: instead of
 * bending hand-written series, it simulates an estate minute by minute — load flowing down a
 * call graph, queueing delay as utilisation nears capacity, retries multiplying load and
 * timeouts turning slowness into errors — and derives every series, log line and trace from
 * that state. Faults change the state of one component; decoys (a cron job, a bystander's
 * deploy or restart, a traffic shift off the path) change others. Then the telemetry gets the
 * defects real estates have: histogram quantiles stuck at a bucket edge, idle pods flipping
 * between 0 and real values, all-zero series, node-wide series repeated on every pod, missing
 * rows and missing services, sampled and partial traces, clock skew between sources.
 *
 * `incident(seed)` is deterministic. Bundles are built at evaluation time (bench/eval-rca.ts,
 * test/analyze-incidents.test.ts), never committed.
 */

export const FAULTS = [
  'cpu-saturation',
  'slow-code',
  'bad-deploy',
  'memory-leak',
  'managed-dependency',
  'pool-exhaustion',
  'network-loss',
] as const;
export type FaultKind = (typeof FAULTS)[number] | 'no-fault';

export interface IncidentKey {
  id: string;
  fault: FaultKind;
  topology: string;
  /** null for the no-fault controls. */
  rootCause: string | null;
  /** Other names that identify the root cause (a dependency's address, the host of a lossy network). */
  aliases: string[];
  alertService: string;
  description: string;
  /** Which real-telemetry defects and decoys this bundle has. */
  defects: string[];
}

export interface IncidentBundle {
  scenario: IncidentKey;
  payload: WebhookPayload;
  now: string;
  series: Series[];
  logs: LogStream[];
  traces: Trace[];
  windows: { baselineStart: string; incidentStart: string; end: string };
  sources: SourceStatus[];
}

const STEP_S = 30;
const BASELINE_MIN = 60;
const LEAD_MIN = 5;
const AFTER_MIN = 6;

type R = () => number;
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const between = (r: R, lo: number, hi: number): number => lo + r() * (hi - lo);
const chance = (r: R, p: number): boolean => r() < p;

// ----- the estate's state at one moment -------------------------------------------------

interface Effects {
  /** Multiplies a component's own work time. */
  slow: Map<string, number>;
  /** Added own time (ms): a pool wait, a lock. */
  waitMs: Map<string, number>;
  /** Added error probability of a component's own answers. */
  err: Map<string, number>;
  /** Share of a service's cores still serving requests (a runaway thread takes the rest). */
  coreShare: Map<string, number>;
  /** Packet loss on the way to a service: share of calls to it that time out. */
  loss: Map<string, number>;
  /** Entry or off-path traffic multiplier per service. */
  traffic: Map<string, number>;
}

const noEffects = (): Effects => ({
  slow: new Map(),
  waitMs: new Map(),
  err: new Map(),
  coreShare: new Map(),
  loss: new Map(),
  traffic: new Map(),
});

interface State {
  /** Requests per second arriving. */
  load: number;
  /** Mean answer time of its server side, in ms, children included. */
  latMs: number;
  /** Share of its answers that fail. */
  err: number;
  /** Utilisation of its cores. */
  util: number;
  /** Per edge from it: share of calls that fail (after retries) and time spent per call. */
  edges: Map<string, { fail: number; ms: number; attemptFail: number; timeouts: number }>;
}

const SIGMA = 0.45;

function erfc(x: number): number {
  // Abramowitz-Stegun 7.1.26.
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return x >= 0 ? y : 2 - y;
}

/** P(a lognormal answer time with mean `mean` exceeds `limit`). */
function pOver(mean: number, limit: number): number {
  const mu = Math.log(Math.max(0.01, mean)) - (SIGMA * SIGMA) / 2;
  return 0.5 * erfc((Math.log(limit) - mu) / (SIGMA * Math.SQRT2));
}

class Estate {
  readonly byName: Map<string, Component>;
  readonly children: Map<string, Edge[]>;
  readonly parents: Map<string, Edge[]>;
  readonly order: string[];

  constructor(readonly topo: Topology) {
    this.byName = new Map(topo.components.map((c) => [c.name, c]));
    this.children = new Map(topo.components.map((c) => [c.name, topo.edges.filter((e) => e.from === c.name)]));
    this.parents = new Map(topo.components.map((c) => [c.name, topo.edges.filter((e) => e.to === c.name)]));
    // Callers before callees.
    const order: string[] = [];
    const visit = (n: string): void => {
      if (order.includes(n)) return;
      for (const p of this.parents.get(n) ?? []) visit(p.from);
      order.push(n);
    };
    for (const c of topo.components) visit(c.name);
    this.order = order;
  }

  /** `of` and every component it calls, directly or not. */
  downstream(of: string): Set<string> {
    return this.closure(of, (n) => (this.children.get(n) ?? []).map((e) => e.to), true);
  }

  /** Every component that calls `of`, directly or not. */
  ancestors(of: string): string[] {
    return [...this.closure(of, (n) => (this.parents.get(n) ?? []).map((e) => e.from), false)];
  }

  private closure(of: string, next: (n: string) => string[], self: boolean): Set<string> {
    const out = new Set<string>(self ? [of] : []);
    const stack = [of];
    while (stack.length) {
      for (const m of next(stack.pop()!)) {
        if (out.has(m)) continue;
        out.add(m);
        stack.push(m);
      }
    }
    return out;
  }

  /** One moment: load top-down (with last moment's retries), answer times and errors bottom-up. */
  step(fx: Effects, entryRps: number, prev?: Map<string, State>): Map<string, State> {
    const load = new Map<string, number>();
    for (const n of this.order) {
      const c = this.byName.get(n)!;
      if (c.kind === 'cron') continue;
      let l = n === this.topo.entry ? entryRps : 0;
      for (const e of this.parents.get(n) ?? []) {
        const pe = prev?.get(e.from)?.edges.get(e.to);
        l += (load.get(e.from) ?? 0) * e.calls * (1 + e.retries * (pe?.attemptFail ?? 0));
      }
      load.set(n, l * (fx.traffic.get(n) ?? 1));
    }
    const out = new Map<string, State>();
    for (const n of [...this.order].reverse()) {
      const c = this.byName.get(n)!;
      if (c.kind === 'cron') continue;
      const l = load.get(n) ?? 0;
      let util = 0;
      let own = c.ownMs * (fx.slow.get(n) ?? 1) + (fx.waitMs.get(n) ?? 0);
      if (c.kind === 'service') {
        const cap = (c.perCore ?? 200) * (c.cores ?? 2) * (fx.coreShare.get(n) ?? 1);
        util = Math.min(0.985, l / cap);
        own *= 1 / (1 - util);
      }
      let ms = own;
      let ok = 1 - Math.min(1, fx.err.get(n) ?? 0) - (c.kind === 'service' ? 0.002 : 0.0005);
      const edges = new Map<string, State['edges'] extends Map<string, infer V> ? V : never>();
      for (const e of this.children.get(n) ?? []) {
        const child = out.get(e.to)!;
        const loss = fx.loss.get(e.to) ?? 0;
        const timeouts = Math.min(1, pOver(child.latMs, e.timeoutMs) + loss);
        const attemptFail = Math.min(1, child.err + timeouts);
        const perAttempt = Math.min(child.latMs, e.timeoutMs) * (1 - timeouts) + e.timeoutMs * timeouts;
        const callMs = perAttempt * (1 + e.retries * attemptFail);
        const fail = attemptFail ** (e.retries + 1);
        ms += e.calls * callMs;
        ok *= (1 - fail) ** Math.max(1, e.calls);
        edges.set(e.to, { fail, ms: callMs, attemptFail, timeouts });
      }
      out.set(n, { load: l, latMs: ms, err: Math.max(0, 1 - ok), util, edges });
    }
    return out;
  }
}

// ----- one incident --------------------------------------------------------------------

interface Plan {
  fault: FaultKind;
  culprit?: string;
  alertService: string;
  indicator: 'latency' | 'errors';
  onsetS: number;
  /** Fault effects as a function of time. */
  apply: (fx: Effects, t: number) => void;
  /** Culprit's memory ramp (memory-leak), restarts, version changes: per service, times. */
  deployAt: Map<string, number>;
  restartAt: Map<string, number[]>;
  memRamp: Map<string, { from: number; perMin: number }>;
  cron?: { name: string; from: number; to: number; cpu: number; memPerMin: number };
  faultLogs: Map<string, { from: number; perMin: number; render: (r: R) => string }[]>;
  description: string;
  defects: string[];
}

/** How a managed dependency's callers name it in their log lines: the second attribute of its first convention. */
function logAddress(c: Component): string {
  return Object.values(c.attrs?.[0] ?? {})[1] ?? c.name;
}

const ANCHOR_S = Date.parse('2026-12-01T03:40:00Z') / 1000;

function culpritsFor(topo: Topology, fault: FaultKind, est: Estate): string[] {
  const services = topo.components.filter((c) => c.kind === 'service').map((c) => c.name);
  switch (fault) {
    case 'managed-dependency':
      return topo.components.filter((c) => c.kind !== 'service' && c.kind !== 'cron').map((c) => c.name);
    case 'pool-exhaustion':
      return services.filter((s) => (est.children.get(s) ?? []).some((e) => est.byName.get(e.to)!.kind === 'db'));
    case 'network-loss':
      return services.filter((s) => s !== topo.entry);
    default:
      return services;
  }
}

function planIncident(r: R, topo: Topology, est: Estate, fault: FaultKind, id: string): Plan {
  const onsetS = ANCHOR_S - Math.round(between(r, 2.5, 4.5) * 60);
  const plan: Plan = {
    fault,
    alertService: topo.entry,
    indicator: 'latency',
    onsetS,
    apply: () => {},
    deployAt: new Map(),
    restartAt: new Map(),
    memRamp: new Map(),
    faultLogs: new Map(),
    description: '',
    defects: [],
  };
  const addLog = (svc: string, perMin: number, render: (r: R) => string, from = onsetS): void => {
    plan.faultLogs.set(svc, [...(plan.faultLogs.get(svc) ?? []), { from, perMin, render }]);
  };
  const services = topo.components.filter((c) => c.kind === 'service').map((c) => c.name);
  if (fault !== 'no-fault') {
    const culprit = pick(r, culpritsFor(topo, fault, est));
    plan.culprit = culprit;
    const after = (t: number) => t >= onsetS;
    const strength = between(r, 0.7, 1.3);
    switch (fault) {
      case 'cpu-saturation': {
        const share = 0.3 / strength;
        plan.apply = (fx, t) => after(t) && fx.coreShare.set(culprit, Math.max(0.12, share));
        plan.description = `${culprit}: a runaway thread takes ${Math.round((1 - share) * 100)}% of its cores`;
        if (chance(r, 0.5)) addLog(culprit, 2, (x) => `WARN event loop lag ${Math.floor(between(x, 300, 900))}ms, shedding load`);
        break;
      }
      case 'slow-code': {
        const k = 6 * strength + 3;
        plan.apply = (fx, t) => after(t) && fx.slow.set(culprit, k);
        plan.description = `${culprit}: a lock in a hot path makes its own work ${k.toFixed(0)}× slower`;
        if (chance(r, 0.5))
          addLog(culprit, 3, (x) => `WARN lock wait exceeded ${Math.floor(between(x, 200, 700))}ms on resource=orders_seq`);
        break;
      }
      case 'bad-deploy': {
        const e = between(r, 0.25, 0.6);
        plan.deployAt.set(culprit, onsetS - Math.round(between(r, 20, 90)));
        plan.restartAt.set(culprit, [onsetS - Math.round(between(r, 10, 60))]);
        plan.apply = (fx, t) => after(t) && fx.err.set(culprit, e);
        plan.description = `${culprit}: a new version throws on ${Math.round(e * 100)}% of requests`;
        addLog(
          culprit,
          20 * e,
          (x) =>
            `ERROR unhandled exception: TypeError: Cannot read properties of undefined (reading 'currency') at handler (/app/dist/v2/${hex(x, 4)}.js)`,
        );
        break;
      }
      case 'memory-leak': {
        const rampFrom = onsetS - Math.round(between(r, 5, 9) * 60);
        plan.memRamp.set(culprit, { from: rampFrom, perMin: between(r, 40, 90) * strength });
        plan.restartAt.set(culprit, [onsetS + 30, onsetS + 150]);
        plan.apply = (fx, t) => {
          if (t >= rampFrom) fx.slow.set(culprit, 1 + ((t - rampFrom) / 60) * 0.6 * strength);
          if (after(t)) fx.err.set(culprit, 0.12 * strength);
        };
        plan.description = `${culprit}: leaks memory, GC pauses, then OOM kills`;
        addLog(
          culprit,
          4,
          (x) => `WARN GC overhead ${Math.floor(between(x, 60, 95))}% over the last 10s; heap ${Math.floor(between(x, 90, 99))}% full`,
          rampFrom + 120,
        );
        break;
      }
      case 'managed-dependency': {
        const dep = est.byName.get(culprit)!;
        const erroring = chance(r, 0.5);
        const k = 12 * strength + 6;
        const e = between(r, 0.3, 0.7);
        plan.apply = (fx, t) => {
          if (!after(t)) return;
          if (erroring) fx.err.set(culprit, e);
          else fx.slow.set(culprit, k);
        };
        plan.description = `${culprit} (${dep.kind}, no telemetry of its own) ${erroring ? `fails ${Math.round(e * 100)}% of calls` : `answers ${k.toFixed(0)}× slower`}`;
        const callers = (est.parents.get(culprit) ?? []).map((p) => p.from);
        const addr = logAddress(dep);
        for (const c of callers)
          addLog(c, erroring ? 12 : 6, (x) =>
            erroring
              ? `ERROR call to ${addr} failed: ${pick(x, ['503 Service Unavailable', 'connection reset by peer', 'ERR max number of clients reached'])}`
              : `WARN ${addr} slow: ${Math.floor(between(x, 300, 1500))}ms`,
          );
        break;
      }
      case 'pool-exhaustion': {
        const wait = between(r, 250, 700) * strength;
        plan.apply = (fx, t) => {
          if (!after(t)) return;
          fx.waitMs.set(culprit, wait);
          fx.err.set(culprit, 0.08 * strength);
        };
        plan.description = `${culprit}: connection pool exhausted (leaked connections); its database is fine`;
        addLog(
          culprit,
          10,
          (x) =>
            `ERROR pool timeout: could not acquire connection within ${Math.floor(between(x, 500, 1000))}ms (active=20 idle=0 waiting=${Math.floor(between(x, 5, 60))})`,
        );
        break;
      }
      case 'network-loss': {
        const loss = between(r, 0.12, 0.3) * strength;
        plan.apply = (fx, t) => after(t) && fx.loss.set(culprit, loss);
        plan.description = `${culprit}: ${Math.round(loss * 100)}% packet loss on its host ${est.byName.get(culprit)!.host}`;
        break;
      }
    }
    // Who alerts: the entry, an ancestor of the culprit, or the culprit itself.
    const ancestors = est.ancestors(culprit).filter((a) => est.byName.get(a)!.kind === 'service');
    const isService = est.byName.get(culprit)!.kind === 'service';
    const u = r();
    plan.alertService =
      u < 0.4 || ancestors.length === 0
        ? isService && ancestors.length === 0
          ? culprit
          : topo.entry
        : u < 0.7 || !isService
          ? pick(r, ancestors)
          : fault === 'network-loss'
            ? pick(r, ancestors)
            : culprit;
  } else {
    plan.alertService = pick(r, services);
    plan.description = `no fault: ${plan.alertService}'s alert fires on ordinary noise near its threshold`;
  }
  void id;
  return plan;
}

// ----- telemetry from the state ---------------------------------------------------------

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function num(v: number): string {
  return Number(v.toPrecision(5)).toString();
}

function nsOf(s: number): string {
  return `${Math.floor(s)}${String(Math.floor((s % 1) * 1e9)).padStart(9, '0')}`;
}

/** Unix ms -> nanoseconds as a string (µs precision). */
const ns = (ms: number): string => `${Math.round(ms * 1000)}000`;

interface Telemetry {
  series: Series[];
  logs: LogStream[];
  traces: Trace[];
}

export function incident(seed: number): IncidentBundle {
  const r = rng(seed * 7919 + 17);
  const topo = TOPOLOGIES[Math.floor(seed / 8) % TOPOLOGIES.length]!;
  const fault: FaultKind = seed % 8 === 7 ? 'no-fault' : FAULTS[seed % 8]!;
  const est = new Estate(topo);
  const id = `${topo.name}-${fault}-${seed}`;
  const plan = planIncident(r, topo, est, fault, id);
  const services = topo.components.filter((c) => c.kind === 'service').map((c) => c.name);
  const offPath = services.filter((s) => !est.downstream(plan.alertService).has(s) && !est.ancestors(plan.alertService).includes(s));
  const cron = topo.components.find((c) => c.kind === 'cron')!;

  // Decoys: true and false leads off the causal path.
  const decoyFx: ((fx: Effects, t: number) => void)[] = [];
  if (chance(r, 0.7)) {
    const from = chance(r, 0.5) ? ANCHOR_S - Math.round(between(r, 30, 50) * 60) : ANCHOR_S - Math.round(between(r, -3, 4) * 60);
    plan.cron = {
      name: cron.name,
      from,
      to: from + Math.round(between(r, 15, 40) * 60),
      cpu: between(r, 1.5, 3),
      memPerMin: between(r, 30, 120),
    };
    plan.defects.push(`cron ${cron.name} busy from ${Math.round((from - ANCHOR_S) / 60)} min`);
    plan.faultLogs.set(cron.name, [
      {
        from,
        perMin: 8,
        render: (x) => `WARN batch step slow: chunk ${Math.floor(between(x, 1, 400))} took ${Math.floor(between(x, 2, 9))}s`,
      },
    ]);
  }
  const bystanders = [...offPath, ...services.filter((s) => s !== plan.culprit && s !== plan.alertService)];
  if (bystanders.length && chance(r, 0.6)) {
    const b = pick(r, bystanders);
    const at = chance(r, 0.5) ? ANCHOR_S - Math.round(between(r, 25, 45) * 60) : ANCHOR_S - Math.round(between(r, 1, 8) * 60);
    plan.deployAt.set(b, at);
    plan.restartAt.set(b, [...(plan.restartAt.get(b) ?? []), at + 20]);
    plan.defects.push(`bystander deploy of ${b} at ${Math.round((at - ANCHOR_S) / 60)} min`);
  }
  if (bystanders.length && chance(r, 0.3)) {
    const b = pick(r, bystanders);
    const at = ANCHOR_S - Math.round(between(r, -2, 20) * 60);
    plan.restartAt.set(b, [...(plan.restartAt.get(b) ?? []), at]);
    plan.defects.push(`bystander restart of ${b}`);
  }
  if (offPath.length && chance(r, 0.4)) {
    const b = pick(r, offPath);
    const at = ANCHOR_S - Math.round(between(r, 0, 6) * 60);
    const k = between(r, 1.6, 2.4);
    decoyFx.push((fx, t) => t >= at && fx.traffic.set(b, k));
    plan.defects.push(`traffic shift on ${b}`);
  }

  const startS = ANCHOR_S - BASELINE_MIN * 60;
  const endS = ANCHOR_S + AFTER_MIN * 60;
  const times: number[] = [];
  for (let t = startS; t <= endS; t += STEP_S) times.push(t);
  const states: Map<string, State>[] = [];
  const fxAt: Effects[] = [];
  let prev: Map<string, State> | undefined;
  const controlBlip = fault === 'no-fault' ? between(r, 0.25, 0.5) : 0;
  for (const t of times) {
    const fx = noEffects();
    plan.apply(fx, t);
    for (const d of decoyFx) d(fx, t);
    if (controlBlip && Math.abs(t - ANCHOR_S) <= 60) fx.slow.set(plan.alertService, 1 + controlBlip);
    const entry = topo.rps * (1 + 0.08 * Math.sin((t - startS) / 1900) + 0.04 * gauss(r));
    prev = est.step(fx, entry, prev);
    states.push(prev);
    fxAt.push(fx);
  }

  // Which indicator alerts: errors when they reached the alerting service, latency otherwise.
  // A fault too small to move the chosen service's indicator would not page anyone there: the
  // alert then comes from the service nearest the fault.
  const iBefore = times.findIndex((t) => t >= ANCHOR_S - 900);
  const iAlert = times.findIndex((t) => t >= ANCHOR_S + 60);
  const visible = (svc: string): 'errors' | 'latency' | undefined => {
    const b0 = states[iBefore]!.get(svc)!;
    const a0 = states[iAlert]!.get(svc)!;
    if (a0.err > Math.max(0.02, 4 * b0.err)) return 'errors';
    return a0.latMs > 1.5 * b0.latMs ? 'latency' : undefined;
  };
  if (plan.culprit && !visible(plan.alertService)) {
    const c = plan.culprit;
    const near = est.byName.get(c)!.kind === 'service' ? c : (est.parents.get(c) ?? [])[0]?.from;
    if (near) plan.alertService = near;
  }
  plan.indicator = visible(plan.alertService) ?? 'latency';

  const tel = telemetry(r, topo, est, plan, times, states, fxAt);
  const payload = payloadFor(topo, plan, seed);
  const alertSeries = tel.series.find(
    (s) =>
      s.labels[topo.serviceLabel] === plan.alertService &&
      !s.labels.pod &&
      s.name === (plan.indicator === 'errors' ? 'error ratio' : 'p99 latency'),
  );
  if (alertSeries) tel.series.unshift({ ...alertSeries, query: exprFor(topo, plan), name: undefined } as Series);
  else {
    // The alerting service's own metrics are missing: the alert's expression still returns its values.
    const values = times.map((t, i): [number, string] => {
      const st = states[i]!.get(plan.alertService)!;
      return [t, num(plan.indicator === 'errors' ? st.err : (st.latMs * 2.6) / 1000)];
    });
    tel.series.unshift({
      query: exprFor(topo, plan),
      labels: { [topo.serviceLabel]: plan.alertService, namespace: topo.namespace },
      values,
    });
  }
  for (const s of tel.series) if (s.name === undefined) delete s.name;

  const tracesOn = chance(r, 0.85);
  if (!tracesOn) plan.defects.push('no traces');
  const root = plan.culprit ?? null;
  const culpritComp = plan.culprit ? est.byName.get(plan.culprit) : undefined;
  return {
    scenario: {
      id,
      fault,
      topology: topo.name,
      rootCause: root,
      aliases: culpritComp
        ? [
            ...(culpritComp.aliases ?? []),
            ...(fault === 'network-loss' && culpritComp.host ? [culpritComp.host] : []),
            // The name its callers' logs give it ("call to media failed"): what a reader of the logs calls it.
            // (Not when another component has that name: "ledger" is the service, not its database.)
            ...(culpritComp.attrs ? [logAddress(culpritComp)].filter((a) => !est.byName.has(a)) : []),
          ]
        : [],
      alertService: plan.alertService,
      description: plan.description,
      defects: plan.defects,
    },
    payload,
    now: new Date(endS * 1000).toISOString(),
    series: tel.series,
    logs: tel.logs,
    traces: tracesOn ? tel.traces : [],
    windows: {
      baselineStart: new Date(startS * 1000).toISOString(),
      incidentStart: new Date((ANCHOR_S - LEAD_MIN * 60) * 1000).toISOString(),
      end: new Date(endS * 1000).toISOString(),
    },
    sources: [
      { source: 'prometheus', status: 'ok' },
      { source: 'loki', status: 'ok' },
      tracesOn ? { source: 'tempo', status: 'ok' } : { source: 'tempo', status: 'skipped', detail: 'not configured' },
    ],
  };
}

function exprFor(topo: Topology, plan: Plan): string {
  const sel = `${topo.serviceLabel}="${plan.alertService}"`;
  return plan.indicator === 'errors'
    ? `sum(rate(http_server_requests_total{${sel},code=~"5.."}[2m])) / sum(rate(http_server_requests_total{${sel}}[2m])) > 0.02`
    : `histogram_quantile(0.99, sum by (le) (rate(http_server_duration_seconds_bucket{${sel}}[2m]))) > 0.5`;
}

function payloadFor(topo: Topology, plan: Plan, seed: number): WebhookPayload {
  const alertname = plan.indicator === 'errors' ? 'HighErrorRate' : 'HighLatency';
  const labels = { alertname, [topo.serviceLabel]: plan.alertService, namespace: topo.namespace, severity: 'critical' };
  return {
    version: '4',
    groupKey: `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'alert-annotator',
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: { summary: `${plan.alertService} ${plan.indicator === 'errors' ? 'error ratio' : 'p99 latency'} high` },
    externalURL: 'http://alertmanager.example:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: `${plan.alertService} ${plan.indicator} high` },
        startsAt: new Date(ANCHOR_S * 1000).toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: `http://prometheus.example:9090/graph?g0.expr=${encodeURIComponent(exprFor(topo, plan))}&g0.tab=1`,
        fingerprint: hex(rng(seed + 99), 16),
      },
    ],
  };
}

function telemetry(
  r: R,
  topo: Topology,
  est: Estate,
  plan: Plan,
  times: number[],
  states: Map<string, State>[],
  fxAt: Effects[],
): Telemetry {
  const L = topo.serviceLabel;
  const services = topo.components.filter((c) => c.kind === 'service');
  const quantised = chance(r, 0.6);
  if (quantised) plan.defects.push('p99 at bucket edges');
  const dropRate = between(r, 0, 0.08);
  const missing = chance(r, 0.5)
    ? pick(
        r,
        services.filter((c) => c.name !== plan.alertService),
      ).name
    : undefined;
  if (missing) plan.defects.push(`no metrics for ${missing}`);
  const idlePod = chance(r, 0.5) ? pick(r, services).name : undefined;
  const zeroSeries = chance(r, 0.5) ? pick(r, services).name : undefined;
  const nodeWide = chance(r, 0.7);
  if (nodeWide) plan.defects.push('node-wide series on every pod');
  const sparse = chance(r, 0.4) ? pick(r, services).name : undefined;

  const series: Series[] = [];
  const push = (
    labels: Record<string, string>,
    name: string,
    unit: string | undefined,
    value: (i: number, t: number) => number | undefined,
    keep = 1 - dropRate,
  ): void => {
    const values: [number, string][] = [];
    times.forEach((t, i) => {
      const v = value(i, t);
      if (v === undefined || r() > keep) return;
      values.push([t, num(v)]);
    });
    series.push({ query: null, labels, values, name, ...(unit ? { unit } : {}) });
  };
  const q = (v: number): number => (quantised ? (BUCKETS.find((b) => b >= v) ?? 10) : v);
  const pods = new Map<string, string[]>();
  const hostOf = (c: Component): string => c.host ?? 'unknown';

  for (const c of services) {
    const podNames = [0, 1].map(() => `${c.name}-${hex(r, 8)}-${hex(r, 5)}`);
    pods.set(c.name, podNames);
    if (c.name === missing) continue;
    const red = { [L]: c.name, namespace: topo.namespace };
    const keep = c.name === sparse ? 0.25 : 1 - dropRate;
    push(red, 'request rate', 'req/s', (i) => states[i]!.get(c.name)!.load * (1 + 0.03 * gauss(r)), keep);
    push(red, 'error ratio', 'ratio', (i) => {
      const st = states[i]!.get(c.name)!;
      // A ratio of counted requests: a small service often counts no failure at all in a step.
      const n = Math.max(1, st.load * STEP_S);
      const failed = Math.max(0, Math.round(st.err * n + Math.sqrt(st.err * n) * gauss(r)));
      return failed / n;
    });
    push(red, 'p99 latency', 's', (i) => q(((states[i]!.get(c.name)!.latMs * 2.6) / 1000) * Math.exp(0.08 * gauss(r))), keep);
    if (c.name === zeroSeries) push(red, 'success ratio', 'ratio', () => 0);
    const perCore = c.perCore ?? 200;
    const version = (t: number) => (plan.deployAt.has(c.name) && t >= plan.deployAt.get(c.name)! ? '2.14.0' : '2.13.4');
    for (const [k, pod] of podNames.entries()) {
      const use = { namespace: topo.namespace, pod, container: c.name, [L]: c.name };
      const restarts = plan.restartAt.get(c.name) ?? [];
      push(use, 'cpu usage', 'cores', (i) => {
        const st = states[i]!.get(c.name)!;
        const share = fxAt[i]!.coreShare.get(c.name);
        const busy = st.load / perCore / podNames.length;
        const limit = (c.cores ?? 2) / podNames.length;
        return Math.min(limit, share !== undefined ? limit * 0.97 : busy) * (1 + 0.05 * gauss(r));
      });
      const ramp = plan.memRamp.get(c.name);
      push(use, 'memory working set', 'bytes', (i, t) => {
        const last = restarts.filter((x) => x <= t).at(-1);
        let mib = 380 + 15 * k + 3 * gauss(r);
        if (ramp && t >= ramp.from) mib += ((t - Math.max(ramp.from, last ?? -Infinity)) / 60) * ramp.perMin;
        else if (last !== undefined && t - last < 300) mib -= 120 * (1 - (t - last) / 300);
        return mib * 1048576;
      });
      push(use, 'process start time', 's', (_i, t) => restarts.filter((x) => x <= t).at(-1) ?? ANCHOR_S - 86400 * 3 - k * 3600);
      push(use, 'container restarts', undefined, (_i, t) => restarts.filter((x) => x <= t && x > t - 300).length);
      if (nodeWide) {
        const host = hostOf(c);
        push({ ...use, node: host }, 'node cpu busy', 'ratio', (i, t) => nodeCpu(host, i, t), 1);
      }
    }
    // build_info: one series per version, as Prometheus stores a label change.
    const versions = [...new Set(times.map(version))];
    for (const v of versions)
      push(
        { [L]: c.name, namespace: topo.namespace, version: v, __name__: 'app_build_info' },
        'build info',
        undefined,
        (_i, t) => (version(t) === v ? 1 : undefined),
        1,
      );
    if (c.name === idlePod) {
      const pod = `${c.name}-${hex(r, 8)}-${hex(r, 5)}`;
      push({ namespace: topo.namespace, pod, container: c.name, [L]: c.name }, 'request rate per pod', 'req/s', (i) =>
        r() < 0.5 ? 0 : states[i]!.get(c.name)!.load / 3,
      );
    }
    if (est.children.get(c.name)!.some((e) => est.byName.get(e.to)!.kind === 'db')) {
      push(red, 'db pool usage', 'ratio', (i, t) =>
        plan.fault === 'pool-exhaustion' && plan.culprit === c.name && t >= plan.onsetS
          ? 1
          : Math.min(1, 0.2 + 0.1 * gauss(r) + states[i]!.get(c.name)!.util * 0.3),
      );
    }
  }
  // Node exporters: per host, with packet loss showing as retransmits.
  function nodeCpu(host: string, i: number, t: number): number {
    let busy = 0.25 + 0.03 * Math.sin(i / 7);
    for (const c of services) if (hostOf(c) === host) busy += states[i]!.get(c.name)!.util * 0.2;
    if (plan.cron && plan.cron.name && hostOf(est.byName.get(plan.cron.name)!) === host && t >= plan.cron.from && t < plan.cron.to)
      busy += 0.25;
    return Math.min(1, busy + 0.01 * gauss(r));
  }
  const hosts = [...new Set(topo.components.filter((c) => c.host).map(hostOf))];
  for (const h of hosts) {
    const lossy = plan.fault === 'network-loss' && plan.culprit && hostOf(est.byName.get(plan.culprit)!) === h;
    push({ instance: `${h}:9100` }, 'tcp retransmit ratio', 'ratio', (i, t) =>
      lossy && t >= plan.onsetS ? 0.05 + 0.01 * gauss(r) : Math.max(0, 0.001 + 0.0004 * gauss(r)),
    );
    push({ instance: `${h}:9100` }, 'node cpu busy', 'ratio', (i, t) => nodeCpu(h, i, t));
  }
  if (plan.cron) {
    const cr = plan.cron;
    const use = { namespace: topo.namespace, pod: `${cr.name}-29${hex(r, 6)}-${hex(r, 5)}`, container: cr.name, [L]: cr.name };
    push(use, 'cpu usage', 'cores', (_i, t) => (t >= cr.from && t < cr.to ? cr.cpu : 0.02) * (1 + 0.05 * gauss(r)));
    push(
      use,
      'memory working set',
      'bytes',
      (_i, t) => (t >= cr.from && t < cr.to ? 200 + ((t - cr.from) / 60) * cr.memPerMin : 90) * 1048576,
    );
  }
  // A constant gauge: says nothing.
  push({ [L]: services[0]!.name, namespace: topo.namespace }, 'configured worker threads', undefined, () => 16, 1);

  return { series, logs: logsOf(r, topo, est, plan, times, states), traces: tracesOf(r, topo, est, plan, states, fxAt, times) };
}

// ----- logs ----------------------------------------------------------------------------

const CHATTER: ((svc: string) => (r: R) => string)[] = [
  (s) => (r) => `WARN ${s}: request took ${Math.floor(between(r, 400, 900))}ms path=/v1/${hex(r, 4)}`,
  () => (r) => `level=warn msg="retrying idempotent request" attempt=${Math.floor(between(r, 1, 3))} id=${hex(r, 12)}`,
  () => (r) => `level=error msg="client disconnected" remote=10.4.${Math.floor(between(r, 0, 9))}.${Math.floor(between(r, 2, 250))}`,
  () => (r) => `WARN deprecated header X-Client-Version=${Math.floor(between(r, 1, 40))} from ${hex(r, 6)}`,
];

function logsOf(r: R, topo: Topology, est: Estate, plan: Plan, times: number[], states: Map<string, State>[]): LogStream[] {
  const skewed = chance(r, 0.5)
    ? pick(
        r,
        topo.components.filter((c) => c.kind === 'service'),
      ).name
    : undefined;
  const skewS = skewed ? between(r, 20, 90) * (chance(r, 0.5) ? 1 : -1) : 0;
  if (skewed) plan.defects.push(`log clock of ${skewed} off by ${Math.round(skewS)} s`);
  const out: LogStream[] = [];
  for (const c of topo.components) {
    if (c.kind !== 'service' && c.kind !== 'cron') continue;
    const lines: [number, string][] = [];
    const emit = (t: number, perMin: number, render: (r: R) => string): void => {
      const lambda = (perMin * STEP_S) / 60;
      let n = Math.floor(lambda);
      if (r() < lambda - n) n++;
      for (let k = 0; k < n; k++) lines.push([t + r() * STEP_S + (c.name === skewed ? skewS : 0), render(r)]);
    };
    const chatter = c.kind === 'service' ? [CHATTER[Math.floor(r() * 4)]!(c.name), CHATTER[Math.floor(r() * 4)]!(c.name)] : [];
    const rates = chatter.map(() => between(r, 0.3, 2));
    times.forEach((t, i) => {
      chatter.forEach((ch, k) => emit(t, rates[k]!, ch));
      for (const f of plan.faultLogs.get(c.name) ?? []) if (t >= f.from) emit(t, f.perMin, f.render);
      // Symptoms: callers log their failed calls, naming the callee.
      if (c.kind !== 'service') return;
      const st = states[i]!.get(c.name)!;
      for (const e of est.children.get(c.name) ?? []) {
        const es = st.edges.get(e.to)!;
        const failsPerMin = es.fail * st.load * e.calls * 60;
        if (failsPerMin > 0.05)
          emit(
            t,
            Math.min(30, failsPerMin * 0.05),
            (x) =>
              `ERROR ${e.op} ${e.to} failed after ${e.timeoutMs}ms: ${es.timeouts > 0.5 * es.attemptFail ? 'context deadline exceeded' : 'upstream returned 5xx'} req=${hex(x, 8)}`,
          );
      }
    });
    lines.sort((a, b) => a[0] - b[0]);
    if (lines.length)
      out.push({ labels: { service_name: c.name, namespace: topo.namespace }, values: lines.map(([t, l]) => [nsOf(t), l]) });
  }
  return out;
}

// ----- traces --------------------------------------------------------------------------

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: { stringValue: string } }[];
  status?: { code: number; message?: string };
}

function tracesOf(r: R, topo: Topology, est: Estate, plan: Plan, states: Map<string, State>[], fxAt: Effects[], times: number[]): Trace[] {
  const dark = chance(r, 0.4)
    ? pick(
        r,
        topo.components.filter((c) => c.kind === 'service' && c.name !== plan.alertService),
      ).name
    : undefined;
  if (dark) plan.defects.push(`partial traces: ${dark} spans missing in some`);
  const skewed = chance(r, 0.5)
    ? pick(
        r,
        topo.components.filter((c) => c.kind === 'service'),
      ).name
    : undefined;
  const skewMs = skewed ? between(r, 2, 25) * (chance(r, 0.5) ? 1 : -1) : 0;
  const skewOf = (svc: string): number => (svc === skewed ? skewMs : 0);
  if (skewed) plan.defects.push(`span clock of ${skewed} off by ${skewMs.toFixed(0)} ms`);
  const attrStyle = Math.floor(r() * 2);
  const incidentFrom = ANCHOR_S - LEAD_MIN * 60;
  const first = times.findIndex((t) => t >= Math.max(incidentFrom, plan.onsetS - 60));
  const candidates: { trace: Trace; error: boolean; ms: number }[] = [];
  const normalAlertMs = states[0]!.get(plan.alertService)!.latMs;
  const slowMs = normalAlertMs * 2.2;
  for (let k = 0; k < 60; k++) {
    const i = first + Math.floor(r() * (times.length - first));
    const st = states[i]!;
    const lossAt = fxAt[i]!.loss;
    const t0 = times[i]! * 1000 + r() * STEP_S * 1000;
    const traceId = hex(r, 32);
    const byService = new Map<string, OtlpSpan[]>();
    const dropDark = dark !== undefined && r() < 0.5;
    const push = (svc: string, s: OtlpSpan): void => {
      if (svc === dark && dropDark) return;
      byService.set(svc, [...(byService.get(svc) ?? []), s]);
    };
    let alertSpan: { error: boolean; ms: number } | undefined;
    // A server span of `name`; returns [end ms, error].
    const serve = (name: string, start: number, parent: string | undefined, op: string): [number, boolean] => {
      const s = st.get(name)!;
      const id = hex(r, 16);
      const childMs = (est.children.get(name) ?? []).reduce((a, e) => a + e.calls * s.edges.get(e.to)!.ms, 0);
      const own = Math.max(0.2, s.latMs - childMs) * Math.exp(SIGMA * gauss(r) - (SIGMA * SIGMA) / 2);
      let t = start + own * 0.4;
      let failed =
        r() <
        Math.max(
          0,
          1 -
            (1 - s.err) /
              Math.max(
                1e-9,
                [...s.edges.values()].reduce((a, e) => a * (1 - e.fail), 1),
              ),
        );
      let message = failed ? 'internal error' : undefined;
      for (const e of est.children.get(name) ?? []) {
        const n = Math.floor(e.calls) + (r() < e.calls - Math.floor(e.calls) ? 1 : 0);
        for (let j = 0; j < n; j++) {
          for (let attempt = 0; attempt <= e.retries; attempt++) {
            const callee = est.byName.get(e.to)!;
            const cid = hex(r, 16);
            const cs = st.get(e.to)!;
            const lost = r() < (lossAt.get(e.to) ?? 0);
            let end: number;
            let err: boolean;
            let msg: string | undefined;
            if (callee.kind === 'service' && !lost) {
              const [childEnd, childErr] = serve(e.to, t + 0.3, cid, e.op);
              end = childEnd + 0.3;
              err = childErr;
              msg = childErr ? `${e.to} answered 500` : undefined;
            } else {
              end = t + cs.latMs * Math.exp(SIGMA * gauss(r) - (SIGMA * SIGMA) / 2);
              err = callee.kind !== 'service' && r() < cs.err;
              msg = err ? `${callee.kind === 'api' ? '503 Service Unavailable' : 'server error'}` : undefined;
            }
            if (lost || end - t > e.timeoutMs) {
              end = t + e.timeoutMs;
              err = true;
              msg = 'context deadline exceeded';
            }
            const attrs = callee.kind === 'service' ? { 'peer.service': e.to } : (callee.attrs?.[attrStyle % callee.attrs.length] ?? {});
            push(name, {
              traceId,
              spanId: cid,
              parentSpanId: id,
              name: callee.kind === 'service' ? `${e.op.split(' ')[0]} ${e.to}` : e.op,
              kind: callee.kind === 'queue' ? 4 : 3,
              startTimeUnixNano: ns(t + skewOf(name)),
              endTimeUnixNano: ns(end + skewOf(name)),
              attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
              ...(err ? { status: { code: 2, message: msg } } : {}),
            });
            t = end;
            if (!err) break;
            if (attempt === e.retries) {
              failed = true;
              message = `${e.to}: ${msg}`;
            }
          }
        }
      }
      const end = t + own * 0.6;
      push(name, {
        traceId,
        spanId: id,
        ...(parent ? { parentSpanId: parent } : {}),
        name: op,
        kind: 2,
        startTimeUnixNano: ns(start + skewOf(name)),
        endTimeUnixNano: ns(end + skewOf(name)),
        attributes: [{ key: 'http.route', value: { stringValue: op.split(' ')[1] ?? '/' } }],
        ...(failed ? { status: { code: 2, message } } : {}),
      });
      if (name === plan.alertService && !alertSpan) alertSpan = { error: failed, ms: end - start };
      return [end, failed];
    };
    serve(topo.entry, t0, undefined, 'GET /');
    if (!alertSpan) continue;
    const groups = [...byService.entries()].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'gen2' }, spans }],
    }));
    candidates.push({ trace: { resourceSpans: groups }, error: alertSpan.error, ms: alertSpan.ms });
  }
  // Tempo's search: erroring or slow spans of the alerting service; the newest first, at most 20.
  const hits = candidates.filter((c) => c.error || c.ms > slowMs).sort((a, b) => Number(b.error) - Number(a.error) || b.ms - a.ms);
  return hits.slice(0, Math.floor(between(r, 8, 21))).map((h) => h.trace);
}

/** The tuned seed range and the held-out one (never looked at while tuning). */
export const TUNED_SEEDS = { from: 1, count: 160 };
export const HELD_OUT_SEEDS = { from: 100_001, count: 160 };

export function incidents(range: { from: number; count: number }): IncidentBundle[] {
  return Array.from({ length: range.count }, (_, i) => incident(range.from + i));
}
