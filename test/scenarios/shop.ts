import type { LogStream, Series, SourceStatus, Trace } from '../../src/model/evidence';
import type { WebhookPayload } from '../../src/model/alert';
import {
  clockFor,
  exemplarsFrom,
  hex,
  makeLogs,
  makeSeries,
  makeTrace,
  rng,
  type CallSpec,
  type Clock,
  type LogSpec,
  type ScenarioBundle,
  type ScenarioKey,
  type SeriesSpec,
  type Shape,
} from './sim';

/**
 * A simulated shop (frontend → checkout → cart/payments/orders → redis/postgres, plus search
 * and a nightly batch-reindex job) whose telemetry the scenarios bend. Each service has the
 * series the default related queries return (RED from the service, USE from its container)
 * and node-level series per host; normal error/warn log chatter; and traces.
 */

export const SERVICES = ['frontend', 'checkout', 'cart', 'payments', 'orders', 'search', 'shipping', 'batch-reindex'] as const;
export type ServiceName = (typeof SERVICES)[number];

interface Normal {
  rps: number;
  errRatio: number;
  p99: number;
  cpu: number;
  memMiB: number;
  node: string;
}

const NORMAL: Record<ServiceName, Normal> = {
  frontend: { rps: 120, errRatio: 0.002, p99: 0.42, cpu: 0.8, memMiB: 310, node: 'node-1' },
  checkout: { rps: 40, errRatio: 0.003, p99: 0.3, cpu: 0.5, memMiB: 420, node: 'node-2' },
  cart: { rps: 60, errRatio: 0.001, p99: 0.05, cpu: 0.3, memMiB: 512, node: 'node-2' },
  payments: { rps: 38, errRatio: 0.004, p99: 0.19, cpu: 0.35, memMiB: 380, node: 'node-4' },
  orders: { rps: 39, errRatio: 0.002, p99: 0.12, cpu: 0.4, memMiB: 600, node: 'node-3' },
  search: { rps: 80, errRatio: 0.001, p99: 0.25, cpu: 0.9, memMiB: 1500, node: 'node-3' },
  shipping: { rps: 15, errRatio: 0.003, p99: 0.15, cpu: 0.2, memMiB: 260, node: 'node-4' },
  'batch-reindex': { rps: 0.2, errRatio: 0, p99: 1.5, cpu: 0.05, memMiB: 200, node: 'node-3' },
};

export const NODES = ['node-1', 'node-2', 'node-3', 'node-4'] as const;

/** How a scenario bends the shop: shapes per series, extra log patterns, trace changes. */
export interface Bend {
  latency?: Shape[];
  errors?: Shape[];
  rps?: Shape[];
  cpu?: Shape[];
  mem?: Shape[];
  throttling?: Shape[];
  pool?: Shape[];
  logs?: LogSpec[];
}

export interface NodeBend {
  disk?: Shape[];
  retrans?: Shape[];
  cpu?: Shape[];
}

export interface ScenarioSpec {
  key: ScenarioKey;
  seed: number;
  alert: {
    name: string;
    service: ServiceName;
    severity: string;
    expr: string;
    summary: string;
    indicator: 'latency' | 'errors' | 'mem' | 'disk';
  };
  bends?: Partial<Record<ServiceName, Bend>>;
  nodes?: Partial<Record<(typeof NODES)[number], NodeBend>>;
  /** The request path whose slow/erroring traces Tempo's search returns (already bent). */
  traces?: { faulty: (r: () => number) => CallSpec; normal: (r: () => number) => CallSpec; faultyShare: number; tempoForm?: boolean };
  /** Extra series some scenarios carry (a pool gauge, a throttling ratio). */
  pools?: ServiceName[];
  throttled?: ServiceName[];
  sources?: SourceStatus[];
  /** More services firing the same alert in the same notification group. */
  alsoFiring?: ServiceName[];
  /**
   * `exporter`: another team's conventions: an `app` label instead of `service`, metric names
   * of a home-grown exporter, no template names or units. The analysis must not care.
   */
  style?: 'exporter';
}

const STARTS_AT = '2026-11-21T02:20:00.000Z';
const NOW = '2026-11-21T02:26:00.000Z';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** The chatter every service logs on a good day (what passes the error/warn line filter). */
const BACKGROUND: Record<ServiceName, LogSpec[]> = {
  frontend: [
    {
      perMin: 0.6,
      render: (r) => `level=warn msg="upstream responded slowly" upstream=checkout latency_ms=${int(r, 400, 900)} path=/checkout`,
    },
    {
      perMin: 0.3,
      render: (r) =>
        `level=error msg="client closed request" path=/product/${int(r, 1, 900)} remote=10.2.${int(r, 0, 9)}.${int(r, 2, 250)}`,
    },
  ],
  checkout: [
    { perMin: 0.5, render: (r) => `WARN payment retry scheduled order=${int(r, 100000, 999999)} attempt=${int(r, 1, 3)}` },
    { perMin: 0.1, render: (r) => `ERROR failed to publish event topic=order-events partition=${int(r, 0, 11)}: broker not available` },
  ],
  cart: [{ perMin: 2, render: (r) => `WARN cache miss for cart ${hex(r, 12)} user=${pick(r, ['ann', 'bob', 'eve', 'joe'])}@example.com` }],
  payments: [
    { perMin: 1, render: (r) => `WARN card declined code=${pick(r, ['05', '51', '54'])} customer=${hex(r, 10)}` },
    { perMin: 0.2, render: (r) => `ERROR fraud check slow: took ${int(r, 900, 1500)}ms for customer ${hex(r, 10)}` },
  ],
  orders: [{ perMin: 1, render: (r) => `WARN slow query took ${int(r, 200, 600)}ms: SELECT * FROM orders WHERE customer_id = $1` }],
  search: [{ perMin: 1, render: (r) => `WARN query took ${int(r, 300, 800)}ms index=products terms=${int(r, 1, 5)}` }],
  shipping: [{ perMin: 0.3, render: (r) => `WARN carrier api retry carrier=${pick(r, ['dhl', 'ups', 'fedex'])} attempt=${int(r, 1, 3)}` }],
  'batch-reindex': [{ perMin: 0.05, render: (r) => `WARN skipped document id=${int(r, 1, 99999)}: missing price` }],
};

function serviceSeries(r: () => number, c: Clock, spec: ScenarioSpec, s: ServiceName): Series[] {
  const n = NORMAL[s];
  const b = spec.bends?.[s] ?? {};
  const seed = [...s].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261);
  const podRng = rng(seed);
  const pod = `${s}-${hex(podRng, 9)}-${hex(podRng, 5)}`;
  const red = { service: s, namespace: 'shop' };
  const use = { namespace: 'shop', pod, container: s, node: n.node };
  const list: SeriesSpec[] = [
    { labels: red, name: 'request rate', unit: 'req/s', base: n.rps, noise: 0.06, drift: n.rps * 0.001, shapes: b.rps, min: 0 },
    {
      labels: red,
      name: 'error ratio',
      unit: 'ratio',
      base: n.errRatio,
      noiseAbs: n.errRatio * 0.4 + 0.0001,
      shapes: b.errors,
      min: 0,
      max: 1,
    },
    { labels: red, name: 'p99 latency', unit: 's', base: n.p99, noise: 0.08, shapes: b.latency, min: 0.001 },
    { labels: use, name: 'cpu usage', unit: 'cores', base: n.cpu, noise: 0.1, shapes: b.cpu, min: 0 },
    {
      labels: use,
      name: 'memory working set',
      unit: 'bytes',
      base: n.memMiB * 1048576,
      noise: 0.01,
      shapes: scaleShapes(b.mem, 1048576),
      min: 0,
    },
  ];
  if (spec.throttled?.includes(s)) {
    list.push({ labels: use, name: 'cpu throttling', unit: 'ratio', base: 0.02, noiseAbs: 0.01, shapes: b.throttling, min: 0, max: 1 });
  }
  if (spec.pools?.includes(s)) {
    list.push({ labels: red, name: 'db pool usage', unit: 'ratio', base: 0.35, noiseAbs: 0.06, shapes: b.pool, min: 0, max: 1 });
  }
  return list.map((x) => makeSeries(r, c, x));
}

function scaleShapes(shapes: Shape[] | undefined, k: number): Shape[] | undefined {
  return shapes?.map((sh) => ({ ...sh, by: sh.by * k, ...(sh.cap !== undefined ? { cap: sh.cap * k } : {}) }));
}

function nodeSeries(r: () => number, c: Clock, spec: ScenarioSpec, node: (typeof NODES)[number]): Series[] {
  const b = spec.nodes?.[node] ?? {};
  const labels = { instance: `${node}:9100` };
  return [
    makeSeries(r, c, {
      labels: { ...labels, mountpoint: '/' },
      name: 'disk usage',
      unit: 'ratio',
      base: 0.52,
      noiseAbs: 0.0005,
      drift: 0.00002,
      shapes: b.disk,
      min: 0,
      max: 1,
    }),
    makeSeries(r, c, {
      labels,
      name: 'tcp retransmit ratio',
      unit: 'ratio',
      base: 0.001,
      noiseAbs: 0.0004,
      shapes: b.retrans,
      min: 0,
      max: 1,
    }),
    makeSeries(r, c, { labels, name: 'node cpu busy', unit: 'ratio', base: 0.35, noiseAbs: 0.04, shapes: b.cpu, min: 0, max: 1 }),
  ];
}

export function buildScenario(spec: ScenarioSpec): ScenarioBundle {
  const r = rng(spec.seed);
  const c = clockFor(STARTS_AT, NOW);
  const a = spec.alert;
  const labelsFor = (service: ServiceName): Record<string, string> => {
    const l: Record<string, string> = { alertname: a.name, service, namespace: 'shop', severity: a.severity };
    if (a.indicator === 'disk') l.instance = `${NORMAL[service].node}:9100`;
    return l;
  };
  const alertLabels = labelsFor(a.service);
  const firing = [a.service, ...(spec.alsoFiring ?? [])];
  const payload: WebhookPayload = {
    version: '4',
    groupKey: `{}/{severity="${a.severity}"}:{alertname="${a.name}", service="${a.service}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'alert-annotator',
    groupLabels: { alertname: a.name, service: a.service },
    commonLabels: firing.length > 1 ? { alertname: a.name, namespace: 'shop', severity: a.severity } : alertLabels,
    commonAnnotations: { summary: a.summary },
    externalURL: 'http://alertmanager.example:9093',
    alerts: firing.map((service, i) => ({
      status: 'firing' as const,
      labels: labelsFor(service),
      annotations: { summary: a.summary },
      startsAt: STARTS_AT,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: `http://prometheus.example:9090/graph?g0.expr=${encodeURIComponent(a.expr.replace(`"${a.service}"`, `"${service}"`))}&g0.tab=1`,
      fingerprint: hex(rng(spec.seed + 1 + i), 16),
    })),
  };

  const series: Series[] = [];
  for (const s of SERVICES) series.push(...serviceSeries(r, c, spec, s));
  for (const n of NODES) series.push(...nodeSeries(r, c, spec, n));
  // The alert's own expression evaluates to (a copy of) the indicator series it watches.
  const watchedOf = (service: ServiceName): Series =>
    series.find((s) => {
      if (a.indicator === 'disk') return s.name === 'disk usage' && s.labels.instance === labelsFor(service).instance;
      const name = { latency: 'p99 latency', errors: 'error ratio', mem: 'memory working set' }[a.indicator];
      return s.name === name && (s.labels.service === service || s.labels.container === service);
    })!;
  const watched = watchedOf(a.service);
  series.unshift(
    ...firing.map((service) => {
      const w = watchedOf(service);
      return {
        query: a.expr.replace(`"${a.service}"`, `"${service}"`),
        labels: { ...w.labels },
        values: w.values,
        ...(w.unit ? { unit: w.unit } : {}),
      };
    }),
  );

  const logs: LogStream[] = [];
  for (const s of SERVICES) {
    const specs = [...BACKGROUND[s], ...(spec.bends?.[s]?.logs ?? [])];
    const stream = makeLogs(r, c, { service_name: s, namespace: 'shop' }, specs);
    if (stream.values.length) logs.push(stream);
  }

  const traces: Trace[] = [];
  if (spec.traces) {
    const t = spec.traces;
    const incidentStartMs = (c.anchorS - 300) * 1000;
    for (let i = 0; i < 20; i++) {
      const faulty = r() < t.faultyShare;
      const startMs = incidentStartMs + r() * (c.endS * 1000 - incidentStartMs - 5000);
      traces.push(makeTrace(r, startMs, faulty ? t.faulty(r) : t.normal(r), t.tempoForm));
    }
  }
  const bundle: ScenarioBundle = {
    scenario: spec.key,
    payload,
    now: NOW,
    series,
    logs,
    traces,
    exemplars: exemplarsFrom(traces, watched.labels, c, Number(watched.values.at(-1)?.[1] ?? 0)),
    sources: spec.sources ?? [
      { source: 'prometheus', status: 'ok' },
      { source: 'loki', status: 'ok' },
      { source: 'tempo', status: 'ok' },
    ],
  };
  return spec.style === 'exporter' ? exporterStyle(bundle) : bundle;
}

type Tweak = Partial<Record<string, Partial<CallSpec>>>;

/** Applies per-service changes to a request path. */
function bendPath(c: CallSpec, tweak: Tweak): CallSpec {
  return { ...c, ...(tweak[c.service] ?? {}), calls: c.calls?.map((x) => bendPath(x, tweak)) };
}

/** The checkout request path; `tweak` bends its calls by service. */
export function checkoutPath(tweak: Tweak = {}): CallSpec {
  return bendPath(
    {
      service: 'frontend',
      name: 'GET /checkout',
      selfMs: 20,
      calls: [
        {
          service: 'checkout',
          name: 'POST /checkout',
          selfMs: 40,
          calls: [
            { service: 'cart', name: 'GET /cart', selfMs: 10, calls: [{ service: 'redis', name: 'GET', selfMs: 1, clientOnly: true }] },
            { service: 'payments', name: 'POST /charge', selfMs: 80 },
            {
              service: 'orders',
              name: 'POST /orders',
              selfMs: 30,
              calls: [{ service: 'postgres', name: 'INSERT orders', selfMs: 15, clientOnly: true }],
            },
          ],
        },
      ],
    },
    tweak,
  );
}

export function searchPath(tweak: Tweak = {}): CallSpec {
  return bendPath(
    {
      service: 'frontend',
      name: 'GET /search',
      selfMs: 15,
      calls: [
        {
          service: 'search',
          name: 'GET /search',
          selfMs: 60,
          calls: [{ service: 'elasticsearch', name: 'POST /products/_search', selfMs: 40, clientOnly: true }],
        },
      ],
    },
    tweak,
  );
}

/**
 * The same scenario with its metric changes and its fault log rates scaled by `f` (trace
 * changes stay): bench/rca.ts uses it to see how weak a fault can be and still be found.
 */
export function scaleFaults(spec: ScenarioSpec, f: number): ScenarioSpec {
  const shapes = (list?: Shape[]): Shape[] | undefined =>
    list?.map((s) => ({ ...s, by: s.by * f, ...(s.cap !== undefined ? { cap: s.cap * f } : {}) }));
  const bend = (b: Bend): Bend => ({
    latency: shapes(b.latency),
    errors: shapes(b.errors),
    rps: shapes(b.rps),
    cpu: shapes(b.cpu),
    mem: shapes(b.mem),
    throttling: shapes(b.throttling),
    pool: shapes(b.pool),
    logs: b.logs?.map((l) => ({ ...l, perMin: l.perMin * f })),
  });
  const bends: ScenarioSpec['bends'] = {};
  for (const [k, b] of Object.entries(spec.bends ?? {})) bends[k as ServiceName] = bend(b);
  const nodes: ScenarioSpec['nodes'] = {};
  for (const [k, b] of Object.entries(spec.nodes ?? {}))
    nodes[k as (typeof NODES)[number]] = { disk: shapes(b.disk), retrans: shapes(b.retrans), cpu: shapes(b.cpu) };
  return { ...spec, bends, nodes };
}

/** Metric names a home-grown exporter might use for the same measurements. */
const EXPORTER_NAMES: Record<string, string> = {
  'request rate': 'shop_requests_per_second',
  'error ratio': 'shop_failed_request_ratio',
  'p99 latency': 'shop_latency_p99',
  'cpu usage': 'proc_cpu_cores_used',
  'memory working set': 'proc_rss',
  'cpu throttling': 'proc_cpu_throttled_share',
  'db pool usage': 'dbpool_busy_share',
  'disk usage': 'host_fs_full_share',
  'tcp retransmit ratio': 'host_tcp_retrans_share',
  'node cpu busy': 'host_cpu_busy_share',
};

function appLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === 'service' || k === 'service_name' || k === 'container') out.app = v;
    else out[k] = v;
  }
  return out;
}

/** Rewrites a bundle in the `exporter` style: `app` labels, other metric names, no names or units. */
function exporterStyle(b: ScenarioBundle): ScenarioBundle {
  const alerts = b.payload.alerts.map((x) => ({ ...x, labels: appLabels(x.labels) }));
  return {
    ...b,
    payload: { ...b.payload, alerts, commonLabels: appLabels(b.payload.commonLabels), groupLabels: appLabels(b.payload.groupLabels) },
    series: b.series.map((s) => ({
      query: s.query,
      labels: { ...appLabels(s.labels), ...(s.name ? { __name__: EXPORTER_NAMES[s.name] ?? s.name.replace(/\W+/g, '_') } : {}) },
      values: s.values,
    })),
    logs: b.logs.map((l) => ({ ...l, labels: appLabels(l.labels) })),
  };
}
