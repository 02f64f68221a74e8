/**
 * Run as its own Node process by test/telemetry.test.ts (jest's module sandbox hides
 * `require` from OpenTelemetry's instrumentations and cannot run the exporter's dynamic
 * imports). It does what the service does for one alert, in the order the CLI does:
 * modules imported, then telemetry started, a webhook request serialising its span
 * context, the worker's root span linked to it, stage spans, a Redis command, a log line,
 * and a flush on shutdown right before the process exits. Prints one JSON result line.
 */
// Imported BEFORE telemetry starts, as the CLI's hoisted imports do: initTelemetry must
// still patch them.
import express from 'express';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createLogger } from '../../src/logger';
import { currentTraceId, withSpan } from '../../src/spans';
import { currentTraceparent, initTelemetry, logMixin, startAlertSpan } from '../../src/telemetry';

async function main(): Promise<void> {
  const telemetry = initTelemetry({ endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'annotator-under-test' });
  const log = createLogger({ mixin: logMixin, destination: pino.destination({ dest: 2, sync: true }) });

  const app = express();
  app.post('/webhook/alertmanager', (_req, res) => {
    res.json({ traceparent: currentTraceparent() ?? null });
  });
  app.get('/-/healthy', (_req, res) => {
    res.send('ok');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const addr = server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const { traceparent } = (await (await fetch(`${base}/webhook/alertmanager`, { method: 'POST' })).json()) as {
    traceparent: string | null;
  };
  await fetch(`${base}/-/healthy`);
  await new Promise<void>((r) => server.close(() => r()));

  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const traceId = await startAlertSpan(
    {
      traceparent: traceparent ?? undefined,
      fingerprint: 'ca1e646dc11e4a70',
      alertname: 'CheckoutLatencyHigh',
      groupKey: '{}:{alertname="CheckoutLatencyHigh"}',
    },
    async () => {
      await withSpan('dedup', { 'alert.count': 1 }, async () => {
        await redis.ping();
        log.info('dedup done');
      });
      await withSpan('llm.call', { 'llm.provider': 'ollama' }, async () => {
        throw new Error('model timed out');
      }).catch(() => undefined);
      return currentTraceId();
    },
  );
  redis.disconnect();
  // Straight from the last span to shutdown and exit: what a `replay` run does.
  await telemetry.shutdown();
  process.stdout.write(`${JSON.stringify({ traceparent, traceId })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
