import express, { type Request, type RequestHandler, type Response } from 'express';
import { describeIssues } from '../model/alert';
import { changeEventInputSchema, type ChangeEventInput } from '../model/context';
import { checkAuth } from './auth';
import type { ReceiverDeps } from './deps';

/**
 * POST /events/change (issue 12 item 3): a deploy, config change, flag flip or infrastructure
 * change pushed by CI/CD or a GitOps controller, with the webhook's credentials. Validated,
 * stamped with the time it was received when it has none, and stored (Loki, one JSON line
 * under {job="alert-annotator-changes"}) for the change source to read back.
 */
export const CHANGE_EVENTS_PATH = '/events/change';
const MAX_CHANGE_BYTES = 16 * 1024;

export function changeEventHandlers(deps: ReceiverDeps): RequestHandler[] {
  const auth: RequestHandler = (req, res, next) => {
    if (!checkAuth(req.headers.authorization, deps.auth)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'unauthorized', message: 'missing or wrong credentials' });
      return;
    }
    next();
  };
  const store = async (req: Request, res: Response): Promise<void> => {
    const parsed = changeEventInputSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid_change', issues: describeIssues(parsed.error) });
      return;
    }
    if (!deps.storeChange) {
      res.status(503).json({ error: 'not_configured', message: 'change events are stored in Loki; set LOKI_URL' });
      return;
    }
    const event: ChangeEventInput & { time: string } = {
      ...parsed.data,
      time: new Date(parsed.data.time ? Date.parse(parsed.data.time) : Date.now()).toISOString(),
    };
    try {
      await deps.storeChange(event);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'change event not stored');
      res.status(503).json({ error: 'store_failed', message: 'the change event could not be stored; retry' });
      return;
    }
    deps.log.info({ service: event.service, kind: event.kind }, 'change event stored');
    res.status(202).json({ status: 'stored', time: event.time });
  };
  return [
    auth,
    express.json({ limit: MAX_CHANGE_BYTES, type: () => true }),
    (req, res, next) => {
      store(req, res).catch(next);
    },
  ];
}
