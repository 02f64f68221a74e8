/**
 * One lab service (npm run eval:lab): a real HTTP server instrumented with the OpenTelemetry
 * SDK (OTLP/HTTP to the lab's Tempo) and prom-client, calling its downstreams over HTTP, with
 * faults switched on and off through POST /fault. Configured by environment:
 * NAME, PORT, VERSION, DOWNSTREAMS (comma-separated name=url), PG (use PostgreSQL), REDIS_URL,
 * OTLP_URL, LOKI_URL, BAD_DEPLOY (a new version that throws a new exception).
 */
/* eslint-disable @typescript-eslint/consistent-type-imports, @typescript-eslint/no-require-imports --
   http, pg and ioredis are required after the instrumentation is registered, so they are patched. */
import { Worker } from 'node:worker_threads';
import { trace, SpanKind, SpanStatusCode, context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const NAME = process.env.NAME ?? 'svc';
const VERSION = process.env.VERSION ?? '1.0.0';
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': NAME, 'service.version': VERSION }),
  spanProcessors: [
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${process.env.OTLP_URL}/v1/traces` }), { scheduledDelayMillis: 500 }),
  ],
});
provider.register();
// ioredis is traced by its real instrumentation (db.system=redis, net.peer.name=127.0.0.1, no
// peer.service): what the analysis names the dependency is what a real estate would give it.
registerInstrumentations({ instrumentations: [new HttpInstrumentation(), new IORedisInstrumentation()] });

// Loaded after the instrumentation is registered, so http is patched.
const http = require('node:http') as typeof import('node:http');
const client = require('prom-client') as typeof import('prom-client');

const registry = new client.Registry();
registry.setDefaultLabels({ service: NAME });
client.collectDefaultMetrics({ register: registry });
const requests = new client.Counter({
  name: 'lab_http_requests_total',
  help: 'requests served',
  labelNames: ['code'],
  registers: [registry],
});
const duration = new client.Histogram({
  name: 'lab_http_request_duration_seconds',
  help: 'request duration',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
const buildInfo = new client.Gauge({ name: 'lab_build_info', help: 'build', labelNames: ['version'], registers: [registry] });
buildInfo.set({ version: VERSION }, 1);
// Every code exists from the start, as a Prometheus client should have it: an error ratio then has
// a baseline (0) instead of starting with the first error.
for (const code of ['200', '500']) requests.inc({ code }, 0);

const tracer = trace.getTracer('lab');
const faults = new Set<string>();
const leak: Buffer[] = [];
/** The leak stops growing here (the machine is shared); the memory alert fires well below it. */
const LEAK_CAP = 1200;
let burners: Worker[] = [];

async function log(level: string, msg: string): Promise<void> {
  if (!process.env.LOKI_URL) return;
  const ts = (BigInt(Date.now()) * 1_000_000n).toString();
  await fetch(`${process.env.LOKI_URL}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: { service_name: NAME, level }, values: [[ts, `level=${level} service=${NAME} ${msg}`]] }] }),
  }).catch(() => undefined);
}

function call(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout calling downstream')));
    req.on('error', reject);
  });
}

/* eslint-disable @typescript-eslint/no-explicit-any */
let pool: any;
let redis: any;
if (process.env.PG) {
  const { Pool } = require('pg') as typeof import('pg');
  pool = new Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 4, connectionTimeoutMillis: 1000 });
  void pool
    .query('CREATE TABLE IF NOT EXISTS lab_stock (id int primary key, n int)')
    .then(() => pool.query('INSERT INTO lab_stock VALUES (1, 100) ON CONFLICT DO NOTHING'));
}
if (process.env.REDIS_URL) {
  const { Redis } = require('ioredis') as typeof import('ioredis');
  redis = new Redis(process.env.REDIS_URL, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 500,
    retryStrategy: () => 500,
  });
  redis.on('error', () => undefined);
}

async function dbWork(): Promise<void> {
  if (!pool) return;
  const span = tracer.startSpan('SELECT lab_stock', {
    kind: SpanKind.CLIENT,
    // What @opentelemetry/instrumentation-pg sets (it is not a dependency here): no peer.service.
    attributes: { 'db.system': 'postgresql', 'db.namespace': 'test', 'server.address': '127.0.0.1', 'server.port': 5432 },
  });
  try {
    const sql = faults.has('slowquery') ? 'SELECT n, pg_sleep(0.5) FROM lab_stock WHERE id = 1' : 'SELECT n FROM lab_stock WHERE id = 1';
    await pool.query(sql);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

async function cacheWork(): Promise<void> {
  if (!redis) return;
  await redis.get('cart:1');
}

const downstreams = (process.env.DOWNSTREAMS ?? '').split(',').filter(Boolean);

async function work(): Promise<number> {
  if (faults.has('latency')) await new Promise((r) => setTimeout(r, 800));
  if (faults.has('errors') && Math.random() < 0.5) throw new Error('injected failure: order validation rejected');
  if ((process.env.BAD_DEPLOY || faults.has('deploy')) && Math.random() < 0.4)
    throw new TypeError("Cannot read properties of undefined (reading 'priceCents')");
  if (faults.has('leak') && leak.length < LEAK_CAP) leak.push(Buffer.alloc(1024 * 1024, 1));
  await dbWork();
  await cacheWork();
  for (const d of downstreams) {
    const code = await call(d);
    if (code >= 500) throw new Error(`downstream ${d} answered ${code}`);
  }
  return 200;
}

function setFault(kind: string, on: boolean): void {
  if (on) faults.add(kind);
  else faults.delete(kind);
  if (kind === 'cpu') {
    // A runaway computation on two threads of the process: its CPU use (process_cpu_seconds_total)
    // rises by up to two cores while its event loop, and so its /metrics, keeps answering.
    for (const w of burners) void w.terminate();
    burners = on ? [0, 1].map(() => new Worker('for (;;) Math.sqrt(Math.random());', { eval: true })) : [];
  }
  // The fix is undone in place, not by a restart: a restart is a change (process_start_time_seconds
  // moves) that would corroborate this service in the next fault's analysis.
  if (kind === 'deploy') {
    // A rollout without downtime: the build's version label changes and the new code throws.
    // (A stop-and-start left the frontend's calls refused for seconds, and that fired the alert.)
    buildInfo.reset();
    buildInfo.set({ version: on ? '2.0.0' : VERSION }, 1);
  }
  if (kind === 'leak' && !on) {
    leak.length = 0;
    (globalThis as { gc?: () => void }).gc?.(); // run.ts starts services with --expose-gc
  }
  if (kind === 'pool' && pool) {
    // Connection-pool exhaustion: hold every connection in a long query. Off: cancel them (they
    // are tagged with this process's id; another lab may share the database).
    if (on) for (let i = 0; i < 4; i++) void pool.query(HOLD).catch(() => undefined);
    else void cancelHolds();
  }
}

const HOLD = `SELECT pg_sleep(90) /* lab hold ${process.pid} */`;
async function cancelHolds(): Promise<void> {
  const { Client } = require('pg') as typeof import('pg');
  const admin = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  try {
    await admin.connect();
    await admin.query('SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()', [HOLD]);
  } catch {
    // best effort: the holds end by themselves after 90 s
  } finally {
    await admin.end().catch(() => undefined);
  }
}

const server = http.createServer((req, res) => {
  if (req.url === '/metrics') {
    void registry.metrics().then((m) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(m));
    return;
  }
  if (req.url?.startsWith('/fault')) {
    const u = new URL(req.url, 'http://x');
    setFault(u.searchParams.get('kind') ?? '', u.searchParams.get('on') === '1');
    res.writeHead(200).end('ok');
    return;
  }
  const end = duration.startTimer();
  const span = trace.getActiveSpan();
  void context.with(context.active(), () =>
    work().then(
      (code) => {
        requests.inc({ code: String(code) });
        end();
        res.writeHead(code).end('ok');
      },
      (err: Error) => {
        requests.inc({ code: '500' });
        end();
        span?.recordException(err);
        span?.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        void log('error', `request failed: ${err.message}`);
        res.writeHead(500).end('error');
      },
    ),
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => {
  server.close();
  void provider.shutdown().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
