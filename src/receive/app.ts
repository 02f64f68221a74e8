import { createServer, type Server } from 'node:http';
import express, { type ErrorRequestHandler, type Express } from 'express';
import type { ReceiverDeps } from './deps';
import { WEBHOOK_PATH, webhookHandler } from './webhook';
import { CHANGE_EVENTS_PATH, changeEventHandlers } from './changes';
import { INTERACTIONS_PATH, interactionsHandler } from './slack-interactions';

export type { ReceiverDeps } from './deps';

/** Everything but the webhook: health, readiness and metrics (the webhook is in webhook.ts). */
function createApp(deps: ReceiverDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('OK');
  });

  app.get('/-/ready', async (_req, res) => {
    const ok = await deps.ready().catch(() => false);
    res
      .status(ok ? 200 : 503)
      .type('text/plain')
      .send(ok ? 'ready' : 'redis unreachable');
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });

  app.post(CHANGE_EVENTS_PATH, ...changeEventHandlers(deps));

  app.use((req, res) => {
    const hint =
      req.path === WEBHOOK_PATH && !deps.enqueue ? { message: 'this process runs ROLE=worker; send webhooks to a receiver' } : {};
    res.status(404).json({ error: 'not_found', ...hint });
  });

  const onError: ErrorRequestHandler = (err: { status?: number; message?: string }, req, res, _next) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.log.error({ err: err.message, path: req.path }, 'unhandled error in request');
    res.status(status).json({
      error: status === 500 ? 'internal' : 'bad_request',
      message: status === 500 ? 'internal error' : (err.message ?? 'bad request'),
    });
  };
  app.use(onError);
  return app;
}

/**
 * The HTTP server: the webhook (the hot path) straight on node:http, everything else
 * through the Express app.
 */
export function createReceiverServer(deps: ReceiverDeps): Server {
  const app = createApp(deps);
  const webhook = deps.enqueue ? webhookHandler(deps, deps.enqueue) : undefined;
  const interactions = deps.enqueueInteraction ? interactionsHandler(deps, deps.slackSigningSecret, deps.enqueueInteraction) : undefined;
  return createServer((req, res) => {
    const path = req.url?.split('?', 1)[0];
    // Straight on node:http too: the signature covers the raw body, which no parser may touch first.
    if (interactions && req.method === 'POST' && path === INTERACTIONS_PATH) {
      interactions(req, res).catch((err: Error) => {
        deps.log.error({ err: err.message }, 'interactions handler failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (webhook && req.method === 'POST' && path === WEBHOOK_PATH) {
      webhook(req, res).catch((err: Error) => {
        deps.log.error({ err: err.message }, 'webhook handler failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    app(req, res);
  });
}
