// @ts-check
'use strict';
/**
 * A tiny "checkout" service for the demo stack that can be made to misbehave. It serves
 * Prometheus metrics (text exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/) from a simulated stream of
 * 20 requests/s and, when told where, writes what a real service would leave behind: log
 * lines pushed to Loki (LOKI_URL) and traces sent to an OTLP/HTTP endpoint (OTLP_TRACES_URL,
 * e.g. Tempo's http://tempo:4318/v1/traces), so the annotator finds evidence in all three.
 *
 *   GET  /metrics                 the metrics
 *   POST /misbehave?mode=errors   35% of requests fail   (fires CheckoutErrorRateHigh)
 *   POST /misbehave?mode=slow     p99 latency 2.8 s      (fires CheckoutLatencyHigh)
 *   POST /behave                  back to normal          (the alerts resolve)
 *   GET  /-/healthy
 *
 * Plain Node 20+, no dependencies: `node deploy/demo/server.js`. Environment: PORT (8081),
 * HOST (0.0.0.0), DEMO_MODE=ok|errors|slow (start mode), DEMO_BREAK_AFTER_S and
 * DEMO_BREAK_FOR_S (misbehave once, on its own, after that many seconds and for that long,
 * so `docker compose up` alone leads to an annotated alert), DEMO_BREAK_MODE (errors),
 * LOKI_URL, OTLP_TRACES_URL.
 */
const { randomBytes } = require('node:crypto');
const http = require('node:http');

const MODES = {
  ok: { errorRatio: 0.002, p99: 0.18 },
  errors: { errorRatio: 0.35, p99: 0.25 },
  slow: { errorRatio: 0.004, p99: 2.8 },
};
const RATE = 20; // simulated requests per second

/** @typedef {keyof typeof MODES} Mode */
/** @param {string | undefined} m @returns {m is Mode} */
const isMode = (m) => m === 'ok' || m === 'errors' || m === 'slow';
/** @type {Mode} */
let mode = isMode(process.env.DEMO_MODE) ? process.env.DEMO_MODE : 'ok';
let ok = 0;
let failed = 0;
let last = Date.now();

/** Counts the requests simulated since the last call; returns how many failed. */
function advance() {
  const now = Date.now();
  const n = (RATE * (now - last)) / 1000;
  last = now;
  const bad = n * MODES[mode].errorRatio;
  failed += bad;
  ok += n - bad;
  return bad;
}

const LOKI_URL = process.env.LOKI_URL?.replace(/\/+$/, '');
const OTLP_TRACES_URL = process.env.OTLP_TRACES_URL;
/** @type {[string, string][]} */
let pendingLines = [];
let lastSendError = 0;

/** @param {string} what @param {unknown} err */
function sendFailed(what, err) {
  // One line a minute at most: the collector may simply not be up yet.
  if (Date.now() - lastSendError < 60_000) return;
  lastSendError = Date.now();
  process.stdout.write(`${JSON.stringify({ level: 'warn', msg: `${what} failed`, err: String(err) })}\n`);
}

/** @param {string} level @param {string} msg @param {Record<string, string | number>} [extra] */
function log(level, msg, extra = {}) {
  const ts = new Date();
  // logfmt, as many services write it
  const fields = Object.entries(extra).map(([k, v]) => `${k}=${typeof v === 'number' || /^[\w.:/-]+$/.test(v) ? v : JSON.stringify(v)}`);
  const line = [`ts=${ts.toISOString()}`, `level=${level}`, `msg=${JSON.stringify(msg)}`, ...fields].join(' ');
  process.stdout.write(`${line}\n`);
  // Loki wants nanosecond timestamps as strings (https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs).
  if (LOKI_URL) pendingLines.push([`${BigInt(ts.getTime()) * 1_000_000n + BigInt(pendingLines.length)}`, line]);
}

async function flushLogs() {
  if (!LOKI_URL || pendingLines.length === 0) return;
  const values = pendingLines;
  pendingLines = [];
  try {
    const res = await fetch(`${LOKI_URL}/loki/api/v1/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ streams: [{ stream: { service_name: 'checkout', job: 'demo' }, values }] }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) sendFailed('loki push', `HTTP ${res.status}`);
  } catch (err) {
    sendFailed('loki push', err);
  }
}

/** @param {number} bytes */
const hex = (bytes) => randomBytes(bytes).toString('hex');

/** One request as a trace: checkout (server) → payments (server), failing or slow by mode. */
async function sendTrace() {
  if (!OTLP_TRACES_URL) return;
  const m = MODES[mode];
  const fails = Math.random() < m.errorRatio * 4;
  const slow = mode === 'slow';
  const endNs = BigInt(Date.now()) * 1_000_000n;
  const payDur = BigInt(Math.round((slow ? 2600 : 40 + Math.random() * 30) * 1e6));
  const totalDur = payDur + 12_000_000n;
  const traceId = hex(16);
  const rootId = hex(8);
  const str = (/** @type {string} */ key, /** @type {string} */ value) => ({ key, value: { stringValue: value } });
  const resource = (/** @type {string} */ name) => ({ attributes: [str('service.name', name)] });
  const span = (/** @type {Record<string, unknown>} */ s) => ({ traceId, kind: 2, ...s });
  // OTLP/HTTP JSON with hex ids (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
  const body = {
    resourceSpans: [
      {
        resource: resource('checkout'),
        scopeSpans: [{ scope: { name: 'demo' }, spans: [span({
          spanId: rootId, name: 'POST /checkout',
          startTimeUnixNano: String(endNs - totalDur), endTimeUnixNano: String(endNs),
          attributes: [str('http.route', '/checkout')], status: fails ? { code: 2, message: 'payment failed' } : { code: 1 },
        })] }],
      },
      {
        resource: resource('payments'),
        scopeSpans: [{ scope: { name: 'demo' }, spans: [span({
          spanId: hex(8), parentSpanId: rootId, name: 'POST /charge',
          startTimeUnixNano: String(endNs - totalDur + 6_000_000n), endTimeUnixNano: String(endNs - 6_000_000n),
          attributes: [str('peer.service', 'payment-provider')], status: fails ? { code: 2, message: 'upstream timeout after 2000ms' } : { code: 1 },
        })] }],
      },
    ],
  };
  try {
    const res = await fetch(OTLP_TRACES_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) sendFailed('trace export', `HTTP ${res.status}`);
  } catch (err) {
    sendFailed('trace export', err);
  }
}

/** Every second: what the simulated requests left behind. */
function tick() {
  const bad = advance();
  for (let i = 0; i < Math.min(Math.round(bad), 10); i++) {
    log('error', 'payment provider call failed', { err: 'upstream timeout after 2000ms', provider: 'payments', order_id: `o-${hex(4)}` });
  }
  if (mode === 'slow' && Math.random() < 0.5) log('warn', 'slow query on orders table', { duration_ms: 2400 + Math.round(Math.random() * 600) });
  if (Math.random() < 0.05) log('warn', 'cache miss ratio above 20%', { cache: 'catalog' });
  void flushLogs();
  void sendTrace();
}
setInterval(tick, 1000).unref();

const breakAfter = Number(process.env.DEMO_BREAK_AFTER_S ?? '');
if (breakAfter > 0) {
  const breakMode = isMode(process.env.DEMO_BREAK_MODE) ? process.env.DEMO_BREAK_MODE : 'errors';
  setTimeout(() => {
    advance();
    mode = breakMode;
    log('info', 'demo misbehaving on schedule', { mode });
    const breakFor = Number(process.env.DEMO_BREAK_FOR_S ?? '300');
    setTimeout(() => {
      advance();
      mode = 'ok';
      log('info', 'demo back to normal on schedule');
    }, breakFor * 1000).unref();
  }, breakAfter * 1000).unref();
}

function metrics() {
  advance();
  const m = MODES[mode];
  return [
    '# HELP demo_checkout_requests_total Simulated checkout requests by status code.',
    '# TYPE demo_checkout_requests_total counter',
    `demo_checkout_requests_total{service="checkout",code="200"} ${Math.floor(ok)}`,
    `demo_checkout_requests_total{service="checkout",code="500"} ${Math.floor(failed)}`,
    '# HELP demo_checkout_error_ratio Share of failing checkout requests.',
    '# TYPE demo_checkout_error_ratio gauge',
    `demo_checkout_error_ratio{service="checkout"} ${m.errorRatio}`,
    '# HELP demo_checkout_latency_p99_seconds p99 latency of checkout requests.',
    '# TYPE demo_checkout_latency_p99_seconds gauge',
    `demo_checkout_latency_p99_seconds{service="checkout"} ${m.p99}`,
    '# HELP demo_mode_info The current demo mode.',
    '# TYPE demo_mode_info gauge',
    `demo_mode_info{mode="${mode}"} 1`,
    '',
  ].join('\n');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (req.method === 'GET' && url.pathname === '/metrics') {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(metrics());
  } else if (req.method === 'POST' && url.pathname === '/misbehave') {
    const want = url.searchParams.get('mode') ?? 'errors';
    if (want !== 'errors' && want !== 'slow') {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('mode must be errors or slow\n');
      return;
    }
    advance();
    mode = want;
    log('info', 'demo misbehaving on request', { mode });
    res.end(`mode=${mode}\n`);
  } else if (req.method === 'POST' && url.pathname === '/behave') {
    advance();
    mode = 'ok';
    log('info', 'demo back to normal on request');
    res.end('mode=ok\n');
  } else if (req.method === 'GET' && url.pathname === '/-/healthy') {
    res.end('ok\n');
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(Number(process.env.PORT ?? 8081), process.env.HOST ?? '0.0.0.0', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'demo listening', port: typeof addr === 'object' && addr ? addr.port : null, mode })}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
