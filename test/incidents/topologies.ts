/**
 * The estates of the second incident generator (generate.ts): five call graphs unlike the
 * unit-test shop (test/scenarios/shop.ts), each with instrumented services, managed
 * dependencies that export no telemetry of their own (seen only through their callers'
 * CLIENT/PRODUCER spans), and a cron job that nothing calls.
 */

export type NodeKind = 'service' | 'cache' | 'db' | 'api' | 'queue' | 'cron';

export interface Component {
  name: string;
  kind: NodeKind;
  /** Work per request on its own, in ms (a managed dependency: its answer time). */
  ownMs: number;
  /** service: requests per second one core serves; its queueing delay grows as load nears cores × this. */
  perCore?: number;
  cores?: number;
  /** Where its pods run. */
  host?: string;
  /** Managed dependencies: the span attributes their callers' client spans carry (several conventions). */
  attrs?: Record<string, string>[];
  /** Other names that identify the same dependency (the answer key accepts them). */
  aliases?: string[];
}

export interface Edge {
  from: string;
  to: string;
  /** Calls per request of the caller. */
  calls: number;
  timeoutMs: number;
  retries: number;
  /** Client span name. */
  op: string;
}

export interface Topology {
  name: string;
  /** Label that names a service in this estate's metrics (its exporter's convention). */
  serviceLabel: 'service' | 'app' | 'job';
  namespace: string;
  entry: string;
  /** Entry requests per second. */
  rps: number;
  components: Component[];
  edges: Edge[];
}

const svc = (name: string, ownMs: number, host: string, perCore = 200, cores = 2): Component => ({
  name,
  kind: 'service',
  ownMs,
  perCore,
  cores,
  host,
});
const edge = (from: string, to: string, op: string, calls = 1, timeoutMs = 1000, retries = 0): Edge => ({
  from,
  to,
  calls,
  timeoutMs,
  retries,
  op,
});

export const TOPOLOGIES: Topology[] = [
  {
    name: 'bank',
    serviceLabel: 'service',
    namespace: 'bank',
    entry: 'gateway',
    rps: 60,
    components: [
      svc('gateway', 4, 'ip-10-0-1-11'),
      svc('auth', 6, 'ip-10-0-1-11'),
      svc('accounts', 12, 'ip-10-0-1-12'),
      svc('ledger', 15, 'ip-10-0-1-13', 150),
      {
        name: 'session-cache',
        kind: 'cache',
        ownMs: 1,
        attrs: [
          { 'db.system': 'redis', 'server.address': 'session-cache', 'server.port': '6379' },
          { 'db.system': 'redis', 'net.peer.name': 'session-cache', 'net.peer.port': '6379' },
        ],
      },
      {
        name: 'postgresql ledger',
        kind: 'db',
        ownMs: 6,
        attrs: [
          { 'db.system': 'postgresql', 'db.namespace': 'ledger', 'db.query.text': 'INSERT INTO entries VALUES ($1, $2)' },
          { 'db.system': 'postgresql', 'db.name': 'ledger', 'db.statement': 'INSERT INTO entries VALUES ($1, $2)' },
        ],
        aliases: ['ledger-db', 'postgresql'],
      },
      {
        name: 'api.fraudscore.example',
        kind: 'api',
        ownMs: 40,
        attrs: [
          {
            'server.address': 'api.fraudscore.example',
            'url.full': 'https://api.fraudscore.example/v2/score',
            'http.request.method': 'POST',
          },
          { 'http.url': 'https://api.fraudscore.example/v2/score', 'http.method': 'POST' },
        ],
      },
      { name: 'statement-batch', kind: 'cron', ownMs: 0, host: 'ip-10-0-1-13' },
    ],
    edges: [
      edge('gateway', 'auth', 'POST /verify'),
      edge('auth', 'session-cache', 'GET', 1, 200, 1),
      edge('gateway', 'accounts', 'GET /accounts/{id}', 1, 2000),
      edge('accounts', 'ledger', 'POST /entries', 1, 1500, 1),
      edge('accounts', 'api.fraudscore.example', 'POST', 1, 800),
      edge('ledger', 'postgresql ledger', 'INSERT entries', 2, 1000),
    ],
  },
  {
    name: 'media',
    serviceLabel: 'app',
    namespace: 'media',
    entry: 'edge',
    rps: 140,
    components: [
      svc('edge', 3, 'worker-a', 400),
      svc('catalog', 10, 'worker-a', 300),
      svc('metadata', 8, 'worker-b', 300),
      svc('playback', 14, 'worker-c', 250),
      svc('drm', 9, 'worker-b', 250),
      {
        name: 'memcached',
        kind: 'cache',
        ownMs: 1,
        attrs: [
          { 'db.system': 'memcached', 'server.address': 'memcached', 'server.port': '11211' },
          { 'db.system': 'memcached', 'net.peer.name': 'memcached' },
        ],
      },
      {
        name: 'cassandra media',
        kind: 'db',
        ownMs: 5,
        attrs: [
          { 'db.system': 'cassandra', 'db.namespace': 'media' },
          { 'db.system': 'cassandra', 'db.name': 'media' },
        ],
        aliases: ['cassandra'],
      },
      {
        name: 'license.drmvendor.example',
        kind: 'api',
        ownMs: 30,
        attrs: [
          { 'server.address': 'license.drmvendor.example', 'url.full': 'https://license.drmvendor.example/issue' },
          { 'http.host': 'license.drmvendor.example' },
        ],
      },
      { name: 'thumbnail-gc', kind: 'cron', ownMs: 0, host: 'worker-b' },
    ],
    edges: [
      edge('edge', 'catalog', 'GET /titles'),
      edge('catalog', 'memcached', 'get', 3, 100, 0),
      edge('catalog', 'metadata', 'GET /meta', 1, 800, 1),
      edge('metadata', 'cassandra media', 'SELECT titles', 1, 600),
      edge('edge', 'playback', 'POST /play', 1, 3000),
      edge('playback', 'drm', 'POST /license', 1, 1500, 1),
      edge('drm', 'license.drmvendor.example', 'POST', 1, 1000),
    ],
  },
  {
    name: 'rides',
    serviceLabel: 'job',
    namespace: 'rides',
    entry: 'api',
    rps: 45,
    components: [
      svc('api', 5, 'n1', 200),
      svc('dispatch', 18, 'n2', 120),
      svc('geo', 7, 'n2', 200),
      svc('pricing', 11, 'n3', 150),
      svc('trips', 9, 'n3', 150),
      {
        name: 'geo-redis',
        kind: 'cache',
        ownMs: 1,
        attrs: [
          { 'peer.service': 'geo-redis', 'db.system': 'redis' },
          { 'db.system': 'redis', 'server.address': 'geo-redis' },
        ],
      },
      {
        name: 'mysql trips',
        kind: 'db',
        ownMs: 7,
        attrs: [
          { 'db.system': 'mysql', 'db.namespace': 'trips' },
          { 'db.system': 'mysql', 'db.name': 'trips', 'net.peer.name': 'mysql-primary' },
        ],
        aliases: ['mysql-primary', 'mysql'],
      },
      {
        name: 'trip-events',
        kind: 'queue',
        ownMs: 2,
        attrs: [
          { 'messaging.system': 'kafka', 'messaging.destination.name': 'trip-events' },
          { 'messaging.system': 'kafka', 'messaging.destination': 'trip-events' },
        ],
        aliases: ['kafka'],
      },
      { name: 'nightly-report', kind: 'cron', ownMs: 0, host: 'n3' },
    ],
    edges: [
      edge('api', 'dispatch', 'POST /rides', 1, 3000),
      edge('dispatch', 'geo', 'GET /nearby', 1, 500, 2),
      edge('geo', 'geo-redis', 'GEORADIUS', 2, 100),
      edge('dispatch', 'pricing', 'GET /quote', 1, 800, 1),
      edge('api', 'trips', 'POST /trips', 1, 2000),
      edge('trips', 'mysql trips', 'INSERT trips', 1, 1000),
      edge('trips', 'trip-events', 'publish trip-events', 1, 500),
    ],
  },
  {
    name: 'iot',
    serviceLabel: 'service',
    namespace: 'iot',
    entry: 'ingest',
    rps: 220,
    components: [
      svc('ingest', 2, 'edge-1', 500, 3),
      svc('validator', 4, 'edge-1', 450),
      svc('device-registry', 6, 'edge-2', 400),
      svc('rules', 9, 'edge-2', 300, 3),
      svc('notifier', 5, 'edge-3', 300),
      {
        name: 'influxdb telemetry',
        kind: 'db',
        ownMs: 4,
        attrs: [
          { 'db.system': 'influxdb', 'db.namespace': 'telemetry', 'server.address': 'tsdb-0' },
          { 'db.system': 'influxdb', 'db.name': 'telemetry' },
        ],
        aliases: ['tsdb-0', 'influxdb'],
      },
      {
        name: 'api.smsgateway.example',
        kind: 'api',
        ownMs: 60,
        attrs: [{ 'server.address': 'api.smsgateway.example' }, { 'http.url': 'https://api.smsgateway.example/send' }],
      },
      { name: 'compaction', kind: 'cron', ownMs: 0, host: 'edge-2' },
    ],
    edges: [
      edge('ingest', 'validator', 'POST /validate', 1, 300),
      edge('validator', 'device-registry', 'GET /devices/{id}', 1, 200, 1),
      edge('ingest', 'rules', 'POST /evaluate', 1, 1000),
      edge('rules', 'influxdb telemetry', 'write points', 1, 500, 1),
      edge('rules', 'notifier', 'POST /notify', 0.3, 1000),
      edge('notifier', 'api.smsgateway.example', 'POST', 1, 2000),
    ],
  },
  {
    name: 'travel',
    serviceLabel: 'app',
    namespace: 'travel',
    entry: 'web',
    rps: 80,
    components: [
      svc('web', 6, 'kube-1', 250),
      svc('search', 20, 'kube-2', 120, 3),
      svc('inventory', 9, 'kube-2', 200),
      svc('booking', 16, 'kube-3', 150),
      svc('quotes', 7, 'kube-1', 250),
      {
        name: 'elasticsearch',
        kind: 'db',
        ownMs: 12,
        attrs: [
          { 'db.system': 'elasticsearch', 'server.address': 'elasticsearch' },
          { 'db.system': 'elasticsearch', 'net.peer.name': 'elasticsearch' },
        ],
      },
      {
        name: 'postgresql bookings',
        kind: 'db',
        ownMs: 5,
        attrs: [
          { 'db.system': 'postgresql', 'db.namespace': 'bookings' },
          { 'db.system': 'postgresql', 'db.name': 'bookings' },
        ],
        aliases: ['postgresql'],
      },
      {
        name: 'gds.airline.example',
        kind: 'api',
        ownMs: 90,
        attrs: [
          { 'server.address': 'gds.airline.example' },
          { 'http.url': 'https://gds.airline.example/fares', 'net.peer.name': 'gds.airline.example' },
        ],
      },
      { name: 'sitemap-builder', kind: 'cron', ownMs: 0, host: 'kube-3' },
    ],
    edges: [
      edge('web', 'search', 'GET /search', 1, 3000),
      edge('search', 'elasticsearch', 'POST /offers/_search', 1, 1500),
      edge('search', 'inventory', 'GET /availability', 1, 800, 1),
      edge('web', 'booking', 'POST /bookings', 0.4, 5000),
      edge('booking', 'quotes', 'GET /quote', 1, 1000, 1),
      edge('booking', 'gds.airline.example', 'POST', 1, 3000),
      edge('booking', 'postgresql bookings', 'INSERT bookings', 1, 1000),
    ],
  },
];
