import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics';
import type { EnqueueResult } from '../queue/producer';
import { checkAuth, type AuthConfig } from './auth';
import { describeIssues, webhookPayloadSchema, type WebhookPayload } from './schema';

export interface ReceiverDeps {
  /** Resolves only once Redis holds the job; rejects when the queue cannot be written. */
  enqueue(payload: WebhookPayload, traceparent?: string): Promise<EnqueueResult>;
  /** Is Redis reachable? Must answer within a second or two. */
  ready(): Promise<boolean>;
  metrics: Metrics;
  log: Logger;
  auth: AuthConfig;
  maxBodyBytes: number;
  /** The current request span's W3C traceparent, for the job (telemetry provides it). */
  traceparent?: () => string | undefined;
}

export const WEBHOOK_PATH = '/webhook/alertmanager';

/**
 * The HTTP surface: the webhook, health, readiness and metrics. Answers 200 only after a
 * durable enqueue; 4xx (which Alertmanager never retries) only for requests that can never
 * succeed; 503 when Redis cannot take the job, so Alertmanager retries.
 */
export function createApp(deps: ReceiverDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const reply = (res: Response, code: number, body: Record<string, unknown>) => {
    deps.metrics.webhookRequests.inc({ code: String(code) });
    res.status(code).json(body);
  };

  // Auth first, so an unauthenticated client cannot make us read and parse 5 MiB.
  app.post(WEBHOOK_PATH, (req, res, next) => {
    if (checkAuth(req.get('authorization'), deps.auth)) return next();
    res.set('WWW-Authenticate', deps.auth.bearerToken ? 'Bearer' : 'Basic realm="alert-annotator"');
    reply(res, 401, { error: 'unauthorized', message: 'missing or wrong credentials' });
  });

  // Any content type: some proxies drop or rewrite it; the body must be JSON either way.
  app.post(WEBHOOK_PATH, express.raw({ type: () => true, limit: deps.maxBodyBytes }), async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      return reply(res, 400, { error: 'invalid_json', message: `body is not valid JSON: ${(err as Error).message}` });
    }
    const parsed = webhookPayloadSchema.safeParse(body);
    if (!parsed.success) {
      return reply(res, 400, {
        error: 'invalid_payload',
        message: 'body is not an Alertmanager webhook payload (version 4)',
        issues: describeIssues(parsed.error),
      });
    }
    const payload = parsed.data;
    try {
      const result = await deps.enqueue(payload, deps.traceparent?.());
      for (const a of payload.alerts) deps.metrics.alertsReceived.inc({ status: a.status });
      deps.log.info(
        { jobId: result.jobId, groupKey: payload.groupKey, alerts: payload.alerts.length, duplicate: !result.added },
        result.added ? 'notification queued' : 'identical notification already queued',
      );
      reply(res, 200, { status: 'queued', jobId: result.jobId, duplicate: !result.added });
    } catch (err) {
      deps.log.error({ groupKey: payload.groupKey, err: (err as Error).message }, 'queue unavailable; asking Alertmanager to retry');
      res.set('Retry-After', '5');
      reply(res, 503, { error: 'queue_unavailable', message: 'the job queue cannot be written right now; retry' });
    }
  });

  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('OK');
  });

  app.get('/-/ready', async (_req, res) => {
    const ok = await deps.ready().catch(() => false);
    res.status(ok ? 200 : 503).type('text/plain').send(ok ? 'ready' : 'redis unreachable');
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });

  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    const isWebhook = req.path === WEBHOOK_PATH;
    if (err.type === 'entity.too.large') {
      const body = { error: 'payload_too_large', message: `body exceeds ${deps.maxBodyBytes} bytes (WEBHOOK_MAX_BODY_BYTES)` };
      return isWebhook ? reply(res, 413, body) : res.status(413).json(body);
    }
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.log.error({ err: err.message, path: req.path }, 'unhandled error in request');
    const body = { error: status === 500 ? 'internal' : 'bad_request', message: status === 500 ? 'internal error' : (err.message ?? 'bad request') };
    if (isWebhook) reply(res, status, body);
    else res.status(status).json(body);
  };
  app.use(onError);
  return app;
}
