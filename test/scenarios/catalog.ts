import { checkoutPath, searchPath, type ScenarioSpec } from './shop';
import { hex } from './sim';

/**
 * The scenario set (issue 3): synthetic incidents with a known root-cause service, and
 * no-fault controls whose right answer is low confidence. Times are seconds relative to
 * the alert's startsAt; the incident window starts 300 s before it.
 */

const latencyAlert = (service: 'checkout' | 'frontend' | 'search', threshold: string) => ({
  name: `${service[0]!.toUpperCase()}${service.slice(1)}LatencyHigh`,
  service,
  severity: 'critical',
  expr: `histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket{service="${service}"}[5m]))) > ${threshold}`,
  summary: `${service} p99 latency above ${threshold}s`,
  indicator: 'latency' as const,
});

const errorAlert = (service: 'checkout' | 'frontend' | 'shipping' | 'payments') => ({
  name: `${service[0]!.toUpperCase()}${service.slice(1)}ErrorRate`,
  service,
  severity: 'critical',
  expr: `sum by (service) (rate(http_server_request_duration_seconds_count{service="${service}",http_response_status_code=~"5.."}[5m])) / sum by (service) (rate(http_server_request_duration_seconds_count{service="${service}"}[5m])) > 0.05`,
  summary: `${service} 5xx ratio above 5%`,
  indicator: 'errors' as const,
});

export const SCENARIOS: ScenarioSpec[] = [
  {
    key: {
      id: 'cpu-saturation-checkout',
      fault: 'cpu-saturation',
      rootCause: 'checkout',
      description: 'checkout pegs its CPU limit; its own latency alerts',
    },
    seed: 101,
    alert: latencyAlert('checkout', '1'),
    throttled: ['checkout'],
    bends: {
      checkout: {
        cpu: [{ kind: 'ramp', at: -240, by: 0.6, cap: 1.45 }],
        throttling: [{ kind: 'ramp', at: -200, by: 0.12, cap: 0.55 }],
        latency: [{ kind: 'ramp', at: -180, by: 0.5, cap: 1.9 }],
      },
      frontend: { latency: [{ kind: 'ramp', at: -180, by: 0.45, cap: 1.7 }] },
    },
    nodes: { 'node-2': { cpu: [{ kind: 'step', at: -240, by: 0.25 }] } },
    traces: { faulty: () => checkoutPath({ checkout: { selfMs: 1600, jitter: 0.3 } }), normal: () => checkoutPath(), faultyShare: 0.85 },
  },
  {
    key: {
      id: 'cpu-saturation-payments',
      fault: 'cpu-saturation',
      rootCause: 'payments',
      description: 'payments saturates its CPU; checkout (upstream) alerts on latency',
    },
    seed: 102,
    alert: latencyAlert('checkout', '1'),
    throttled: ['payments'],
    bends: {
      payments: {
        cpu: [{ kind: 'ramp', at: -260, by: 0.5, cap: 1.6 }],
        throttling: [{ kind: 'ramp', at: -240, by: 0.1, cap: 0.4 }],
        latency: [{ kind: 'ramp', at: -220, by: 0.5, cap: 1.5 }],
      },
      checkout: { latency: [{ kind: 'ramp', at: -220, by: 0.55, cap: 1.7 }], errors: [{ kind: 'step', at: -120, by: 0.01 }] },
      frontend: { latency: [{ kind: 'ramp', at: -220, by: 0.5, cap: 1.8 }] },
    },
    traces: {
      faulty: () => checkoutPath({ payments: { selfMs: 1400, jitter: 0.3 } }),
      normal: () => checkoutPath(),
      faultyShare: 0.9,
      tempoForm: true,
    },
  },
  {
    key: {
      id: 'memory-leak-cart',
      fault: 'memory-leak',
      rootCause: 'cart',
      description: 'cart leaks heap since a release 25 min ago, then fails requests; frontend alerts on 5xx',
    },
    seed: 103,
    alert: errorAlert('frontend'),
    bends: {
      cart: {
        mem: [{ kind: 'ramp', at: -1500, by: 28, cap: 760 }],
        errors: [{ kind: 'step', at: -150, by: 0.2 }],
        logs: [
          {
            perMin: 12,
            from: -150,
            render: (r) => `ERROR java.lang.OutOfMemoryError: Java heap space in thread http-nio-8080-exec-${Math.floor(r() * 40)}`,
          },
        ],
      },
      frontend: { errors: [{ kind: 'step', at: -150, by: 0.09 }] },
      checkout: { errors: [{ kind: 'step', at: -150, by: 0.12 }] },
    },
    traces: {
      faulty: () => checkoutPath({ cart: { selfMs: 300, error: 'java.lang.OutOfMemoryError: Java heap space' } }),
      normal: () => checkoutPath(),
      faultyShare: 0.8,
    },
  },
  {
    key: {
      id: 'memory-leak-search',
      fault: 'memory-leak',
      rootCause: 'search',
      description: 'search leaks memory; its container memory alert fires',
    },
    seed: 104,
    alert: {
      name: 'ContainerMemoryNearLimit',
      service: 'search',
      severity: 'warning',
      expr: 'container_memory_working_set_bytes{namespace="shop",container="search"} / container_spec_memory_limit_bytes > 0.9',
      summary: 'search memory above 90% of its limit',
      indicator: 'mem',
    },
    bends: {
      search: { mem: [{ kind: 'ramp', at: -900, by: 40, cap: 700 }], latency: [{ kind: 'ramp', at: -200, by: 0.02, cap: 0.06 }] },
      orders: { rps: [{ kind: 'spike', at: -100, by: 12, lasts: 60 }] },
    },
    traces: { faulty: () => searchPath({ search: { selfMs: 120 } }), normal: () => searchPath(), faultyShare: 0.5 },
  },
  {
    key: {
      id: 'disk-filling-orders-db-node',
      fault: 'disk-filling',
      rootCause: 'orders',
      description: 'orders writes a debug dump to node-3 until the disk fills; orders fails writes; tempo was down',
    },
    seed: 105,
    alert: errorAlert('checkout'),
    bends: {
      orders: {
        errors: [{ kind: 'step', at: -120, by: 0.3 }],
        logs: [
          {
            perMin: 20,
            from: -120,
            render: (r) =>
              `ERROR could not write order ${Math.floor(r() * 1e6)}: ENOSPC: no space left on device, write '/var/lib/orders/spool/${Math.floor(r() * 1e4)}.json'`,
          },
        ],
      },
      checkout: { errors: [{ kind: 'step', at: -120, by: 0.25 }] },
    },
    nodes: { 'node-3': { disk: [{ kind: 'ramp', at: -600, by: 0.05, cap: 0.48 }] } },
    sources: [
      { source: 'prometheus', status: 'ok' },
      { source: 'loki', status: 'ok' },
      { source: 'tempo', status: 'failed', detail: 'tempo: GET http://tempo:3200/api/search timed out after 5000 ms' },
    ],
  },
  {
    key: {
      id: 'disk-filling-shipping',
      fault: 'disk-filling',
      rootCause: 'shipping',
      description: 'shipping log volume fills node-4; shipping starts failing; its error alert fires',
    },
    seed: 106,
    alert: errorAlert('shipping'),
    bends: {
      shipping: {
        errors: [{ kind: 'step', at: -90, by: 0.4 }],
        logs: [{ perMin: 15, from: -90, render: () => `ERROR failed to persist label: ENOSPC: no space left on device` }],
      },
    },
    nodes: { 'node-4': { disk: [{ kind: 'ramp', at: -900, by: 0.035, cap: 0.48 }] } },
  },
  {
    key: {
      id: 'downstream-latency-payments',
      fault: 'downstream-latency',
      rootCause: 'payments',
      description: '900 ms injected in payments; checkout (upstream) alerts on latency',
    },
    seed: 107,
    alert: latencyAlert('checkout', '1'),
    bends: {
      payments: { latency: [{ kind: 'step', at: -200, by: 0.9 }] },
      checkout: { latency: [{ kind: 'step', at: -200, by: 0.95 }] },
      frontend: { latency: [{ kind: 'step', at: -200, by: 0.95 }] },
    },
    traces: { faulty: () => checkoutPath({ payments: { selfMs: 980, jitter: 0.1 } }), normal: () => checkoutPath(), faultyShare: 0.9 },
  },
  {
    key: {
      id: 'downstream-latency-orders-frontend-alerts',
      fault: 'downstream-latency',
      rootCause: 'orders',
      description: 'orders slows by 1.2 s (a lock); frontend, two hops up, alerts',
    },
    seed: 108,
    alert: latencyAlert('frontend', '1.5'),
    bends: {
      orders: { latency: [{ kind: 'step', at: -230, by: 1.2 }] },
      checkout: { latency: [{ kind: 'step', at: -230, by: 1.25 }] },
      frontend: { latency: [{ kind: 'step', at: -230, by: 1.3 }] },
      search: { cpu: [{ kind: 'spike', at: -60, by: 0.5, lasts: 90 }] },
    },
    traces: {
      faulty: () => checkoutPath({ orders: { selfMs: 1250, jitter: 0.15 } }),
      normal: () => checkoutPath(),
      faultyShare: 0.9,
      tempoForm: true,
    },
  },
  {
    key: {
      id: 'deploy-error-burst-orders',
      fault: 'deploy-error-burst',
      rootCause: 'orders',
      description: 'orders v2.14.0 throws on a new field; frontend alerts on 5xx',
    },
    seed: 109,
    alert: errorAlert('frontend'),
    bends: {
      orders: {
        errors: [{ kind: 'step', at: -200, by: 0.35 }],
        logs: [
          {
            perMin: 25,
            from: -200,
            render: (r) =>
              `ERROR java.lang.NullPointerException: Cannot invoke "String.length()" because "dto.couponCode" is null at OrderMapper.toEntity(OrderMapper.java:${88 + Math.floor(r() * 3)}) order=${hex(r, 8)}`,
          },
          { perMin: 1, from: -230, to: -200, render: () => 'WARN startup: feature flag coupons-v2 enabled by default in version=2.14.0' },
        ],
      },
      checkout: { errors: [{ kind: 'step', at: -200, by: 0.3 }] },
      frontend: { errors: [{ kind: 'step', at: -200, by: 0.12 }] },
    },
    traces: {
      faulty: () => checkoutPath({ orders: { error: 'NullPointerException in OrderMapper.toEntity' } }),
      normal: () => checkoutPath(),
      faultyShare: 0.75,
    },
  },
  {
    key: {
      id: 'deploy-error-burst-payments',
      fault: 'deploy-error-burst',
      rootCause: 'payments',
      description: 'payments release breaks card tokenisation; payments itself alerts; checkout warns too',
    },
    seed: 110,
    alert: errorAlert('payments'),
    bends: {
      payments: {
        errors: [{ kind: 'step', at: -150, by: 0.5 }],
        logs: [
          {
            perMin: 18,
            from: -150,
            render: (r) => `ERROR tokenize failed: invalid key version v${7 + Math.floor(r() * 2)} for merchant ${hex(r, 10)}`,
          },
        ],
      },
      checkout: {
        errors: [{ kind: 'step', at: -150, by: 0.2 }],
        logs: [{ perMin: 6, from: -150, render: (r) => `WARN payment failed for order=${Math.floor(r() * 1e6)} status=500 retrying` }],
      },
    },
    traces: {
      faulty: () => checkoutPath({ payments: { error: 'tokenize failed: invalid key version' } }),
      normal: () => checkoutPath(),
      faultyShare: 0.7,
    },
  },
  {
    key: {
      id: 'db-pool-exhaustion-orders',
      fault: 'db-pool-exhaustion',
      rootCause: 'orders',
      description: 'orders leaks database connections until its pool is empty; checkout alerts on latency',
    },
    seed: 111,
    alert: latencyAlert('checkout', '1'),
    pools: ['orders', 'cart'],
    bends: {
      orders: {
        pool: [{ kind: 'ramp', at: -400, by: 0.12, cap: 0.65 }],
        latency: [{ kind: 'ramp', at: -200, by: 1.2, cap: 4.8 }],
        errors: [{ kind: 'step', at: -120, by: 0.15 }],
        logs: [
          {
            perMin: 14,
            from: -180,
            render: (r) =>
              `WARN HikariPool-1 - Connection is not available, request timed out after ${30000 + Math.floor(r() * 5)}ms (total=20, active=20, idle=0, waiting=${10 + Math.floor(r() * 30)})`,
          },
        ],
      },
      checkout: { latency: [{ kind: 'ramp', at: -200, by: 1.1, cap: 4.5 }], errors: [{ kind: 'step', at: -120, by: 0.1 }] },
    },
    traces: {
      faulty: () => checkoutPath({ orders: { selfMs: 3000, jitter: 0.3, error: 'Connection is not available, request timed out' } }),
      normal: () => checkoutPath(),
      faultyShare: 0.85,
    },
  },
  {
    key: {
      id: 'packet-loss-payments',
      fault: 'packet-loss',
      rootCause: 'payments',
      description: 'packet loss on node-4 where payments runs; checkout calls time out and checkout alerts on 5xx',
    },
    seed: 112,
    alert: errorAlert('checkout'),
    bends: {
      checkout: {
        errors: [{ kind: 'step', at: -180, by: 0.15 }],
        latency: [{ kind: 'step', at: -180, by: 1.6 }],
        logs: [
          {
            perMin: 10,
            from: -180,
            render: (r) =>
              `ERROR charge failed order=${Math.floor(r() * 1e6)}: Post "http://payments:8080/charge": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
          },
        ],
      },
      frontend: { errors: [{ kind: 'step', at: -180, by: 0.06 }] },
      payments: { latency: [{ kind: 'step', at: -180, by: 0.25 }], rps: [{ kind: 'step', at: -180, by: -8 }] },
    },
    nodes: { 'node-4': { retrans: [{ kind: 'step', at: -190, by: 0.04 }] } },
    traces: { faulty: () => checkoutPath({ payments: { timeoutMs: 2000 } }), normal: () => checkoutPath(), faultyShare: 0.6 },
  },
  {
    key: {
      id: 'noisy-neighbour-search',
      fault: 'noisy-neighbour',
      rootCause: 'batch-reindex',
      description: 'batch-reindex starts on node-3 and takes the CPU; search, its neighbour, alerts on latency',
    },
    seed: 113,
    alert: latencyAlert('search', '0.5'),
    throttled: ['search'],
    bends: {
      'batch-reindex': {
        cpu: [{ kind: 'step', at: -270, by: 3.6 }],
        mem: [{ kind: 'ramp', at: -270, by: 400, cap: 1800 }],
        logs: [
          {
            perMin: 3,
            from: -270,
            render: (r) => `WARN bulk request rejected, retrying in ${Math.floor(r() * 500)}ms: es_rejected_execution_exception`,
          },
        ],
      },
      search: { latency: [{ kind: 'step', at: -240, by: 0.5 }], throttling: [{ kind: 'step', at: -240, by: 0.06 }] },
      orders: { latency: [{ kind: 'step', at: -240, by: 0.04 }] },
    },
    nodes: { 'node-3': { cpu: [{ kind: 'step', at: -270, by: 0.55 }] } },
    traces: { faulty: () => searchPath({ search: { selfMs: 560, jitter: 0.3 } }), normal: () => searchPath(), faultyShare: 0.8 },
  },
  {
    key: {
      id: 'downstream-latency-cart-exporter-labels',
      fault: 'downstream-latency',
      rootCause: 'cart',
      description: "cart slows by 800 ms; every series uses another exporter's names and an app label instead of service",
    },
    seed: 114,
    style: 'exporter',
    alert: latencyAlert('checkout', '1'),
    bends: {
      cart: { latency: [{ kind: 'step', at: -210, by: 0.8 }] },
      checkout: { latency: [{ kind: 'step', at: -210, by: 0.85 }] },
      frontend: { latency: [{ kind: 'step', at: -210, by: 0.85 }] },
      shipping: { errors: [{ kind: 'spike', at: -120, by: 0.02, lasts: 120 }] },
    },
    traces: { faulty: () => checkoutPath({ cart: { selfMs: 820, jitter: 0.1 } }), normal: () => checkoutPath(), faultyShare: 0.85 },
  },
  {
    key: {
      id: 'cpu-saturation-orders-group-of-two',
      fault: 'cpu-saturation',
      rootCause: 'orders',
      description: 'orders saturates its CPU; checkout and frontend both fire the latency alert in one notification group',
    },
    seed: 115,
    alert: latencyAlert('checkout', '1'),
    alsoFiring: ['frontend'],
    throttled: ['orders'],
    bends: {
      orders: {
        cpu: [{ kind: 'ramp', at: -250, by: 0.6, cap: 1.5 }],
        throttling: [{ kind: 'ramp', at: -230, by: 0.1, cap: 0.45 }],
        latency: [{ kind: 'ramp', at: -220, by: 0.45, cap: 1.4 }],
      },
      checkout: { latency: [{ kind: 'ramp', at: -220, by: 0.5, cap: 1.5 }] },
      frontend: { latency: [{ kind: 'ramp', at: -220, by: 0.5, cap: 1.6 }] },
    },
    traces: { faulty: () => checkoutPath({ orders: { selfMs: 1300, jitter: 0.3 } }), normal: () => checkoutPath(), faultyShare: 0.85 },
  },
  {
    key: {
      id: 'control-flapping-latency',
      fault: 'no-fault',
      rootCause: null,
      description: 'checkout latency alert with a threshold set inside normal noise; nothing changed',
    },
    seed: 201,
    alert: latencyAlert('checkout', '0.3'),
    traces: { faulty: () => checkoutPath({ payments: { selfMs: 110 } }), normal: () => checkoutPath(), faultyShare: 0.3 },
  },
  {
    key: {
      id: 'control-daily-ramp',
      fault: 'no-fault',
      rootCause: null,
      description: 'morning traffic ramps up slowly everywhere; a frontend error alert fires on a sporadic blip',
    },
    seed: 202,
    alert: errorAlert('frontend'),
    bends: {
      frontend: { rps: [{ kind: 'ramp', at: -3600, by: 0.5 }] },
      checkout: { rps: [{ kind: 'ramp', at: -3600, by: 0.2 }] },
      search: { rps: [{ kind: 'ramp', at: -3600, by: 0.3 }] },
    },
    traces: {
      faulty: () => checkoutPath({ cart: { error: 'redis: connection reset by peer' } }),
      normal: () => checkoutPath(),
      faultyShare: 0.1,
    },
  },
  {
    key: {
      id: 'control-quiet-warning',
      fault: 'no-fault',
      rootCause: null,
      description: 'a search memory warning at a steady level; no traces found',
    },
    seed: 203,
    alert: {
      name: 'ContainerMemoryNearLimit',
      service: 'search',
      severity: 'warning',
      expr: 'container_memory_working_set_bytes{namespace="shop",container="search"} / container_spec_memory_limit_bytes > 0.7',
      summary: 'search memory above 70% of its limit',
      indicator: 'mem',
    },
    bends: { search: { logs: [{ perMin: 0.3, render: (r) => `WARN gc pause ${100 + Math.floor(r() * 80)}ms` }] } },
  },
];
