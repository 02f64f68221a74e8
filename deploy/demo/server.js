// @ts-check
'use strict';
/**
 * A tiny "checkout" service for the demo stack that can be made to misbehave. It serves
 * Prometheus metrics (text exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/) from a simulated request
 * stream of 20 req/s, and prints a JSON log line per simulated failure on stdout.
 *
 *   GET  /metrics                 the metrics
 *   POST /misbehave?mode=errors   35% of requests fail   (fires CheckoutErrorRateHigh)
 *   POST /misbehave?mode=slow     p99 latency 2.8 s      (fires CheckoutLatencyHigh)
 *   POST /behave                  back to normal          (the alerts resolve)
 *   GET  /-/healthy
 *
 * Plain Node, no dependencies: `node deploy/demo/server.js` (PORT, default 8081;
 * DEMO_MODE=ok|errors|slow for the starting mode).
 */
const http = require('node:http');

const MODES = {
  ok: { errorRatio: 0.002, p99: 0.18 },
  errors: { errorRatio: 0.35, p99: 0.25 },
  slow: { errorRatio: 0.004, p99: 2.8 },
};
const RATE = 20; // simulated requests per second

/** @type {keyof typeof MODES} */
let mode = /** @type {keyof typeof MODES} */ (process.env.DEMO_MODE in MODES ? process.env.DEMO_MODE : 'ok');
let ok = 0;
let failed = 0;
let last = Date.now();

function advance() {
  const now = Date.now();
  const n = (RATE * (now - last)) / 1000;
  last = now;
  const bad = n * MODES[mode].errorRatio;
  failed += bad;
  ok += n - bad;
  if (bad >= 1 || (bad > 0 && Math.random() < bad)) {
    process.stdout.write(
      `${JSON.stringify({ ts: new Date(now).toISOString(), level: 'error', service: 'checkout', msg: 'payment provider call failed', err: 'upstream timeout after 2000ms', mode })}\n`,
    );
  }
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
    res.end(`mode=${mode}\n`);
  } else if (req.method === 'POST' && url.pathname === '/behave') {
    advance();
    mode = 'ok';
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
