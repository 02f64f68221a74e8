import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ACTIONS, buttonValueSchema, REASON_VIEW, slackUserId, type InteractionJobData } from '../model/interaction';
import type { ReceiverDeps } from './deps';
import { BodyTooLarge, readBody } from './webhook';

export const INTERACTIONS_PATH = '/slack/interactions';

/** Slack refuses requests older than this itself; so do we (replays). */
export const MAX_SKEW_S = 5 * 60;

/** Slack's payloads are small; a modal with a long reason is a few KB. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * Slack's request signature (https://docs.slack.dev/authentication/verifying-requests-from-slack):
 * `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret, compared in
 * constant time; a timestamp more than five minutes away is refused.
 */
export function verifySlackSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: Buffer,
  nowS = Math.floor(Date.now() / 1000),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowS - Number(timestamp)) > MAX_SKEW_S) return false;
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const actionSchema = z.looseObject({ action_id: z.string(), value: z.string().optional() });
const payloadSchema = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('block_actions'),
    user: z.looseObject({ id: slackUserId }),
    trigger_id: z.string().optional(),
    channel: z.looseObject({ id: z.string() }).optional(),
    container: z.looseObject({ channel_id: z.string().optional(), message_ts: z.string().optional() }).optional(),
    message: z.looseObject({ ts: z.string(), blocks: z.array(z.unknown()).optional() }).optional(),
    actions: z.array(actionSchema).min(1),
  }),
  z.looseObject({
    type: z.literal('view_submission'),
    user: z.looseObject({ id: slackUserId }),
    view: z.looseObject({
      callback_id: z.string(),
      private_metadata: z.string(),
      state: z.looseObject({ values: z.record(z.string(), z.record(z.string(), z.looseObject({ value: z.string().nullish() }))) }),
    }),
  }),
]);

const KNOWN: ReadonlySet<string> = new Set(Object.values(ACTIONS));

/** The reason modal carries the clicked card in private_metadata (we wrote it in views.open). */
const reasonMetadataSchema = z.object({ value: buttonValueSchema, channel: z.string().optional(), messageTs: z.string().optional() });

/** Slack's form body to the job's data; undefined for interactions we do not handle. */
export function toJob(form: string, now = new Date()): InteractionJobData | undefined {
  const raw = new URLSearchParams(form).get('payload');
  if (!raw) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const p = parsed.data;
  const receivedAt = now.toISOString();
  if (p.type === 'view_submission') {
    if (p.view.callback_id !== REASON_VIEW) return undefined;
    const meta = reasonMetadataSchema.safeParse(safeJson(p.view.private_metadata));
    if (!meta.success) return undefined;
    const reason = Object.values(p.view.state.values)
      .flatMap((block) => Object.values(block).map((v) => v.value ?? ''))
      .join(' ')
      .trim()
      .slice(0, 3000);
    return {
      kind: 'reason',
      action: ACTIONS.wrong,
      value: meta.data.value,
      user: p.user.id,
      ...(meta.data.channel ? { channel: meta.data.channel } : {}),
      ...(meta.data.messageTs ? { messageTs: meta.data.messageTs } : {}),
      ...(reason ? { reason } : {}),
      receivedAt,
    };
  }
  const action = p.actions[0]!;
  if (!KNOWN.has(action.action_id)) return undefined;
  const value = buttonValueSchema.safeParse(safeJson(action.value ?? ''));
  if (!value.success) return undefined;
  const channel = p.channel?.id ?? p.container?.channel_id;
  const messageTs = p.message?.ts ?? p.container?.message_ts;
  return {
    kind: 'action',
    action: action.action_id as InteractionJobData['action'],
    value: value.data,
    user: p.user.id,
    ...(channel ? { channel } : {}),
    ...(messageTs ? { messageTs } : {}),
    ...(p.message?.blocks ? { blocks: p.message.blocks } : {}),
    ...(p.trigger_id ? { triggerId: p.trigger_id } : {}),
    receivedAt,
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, code: number, body?: Record<string, unknown>): void {
  const text = body ? JSON.stringify(body) : '';
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * POST /slack/interactions. The raw body is read and its signature checked before anything
 * parses it; then the click becomes a job and Slack gets its 200 at once (it wants one
 * within 3 s). The work, and what the user sees of it, happens in the worker.
 */
export function interactionsHandler(
  deps: Pick<ReceiverDeps, 'log' | 'metrics'>,
  secret: string | undefined,
  enqueue: (data: InteractionJobData) => Promise<unknown>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      return send(res, err instanceof BodyTooLarge ? 413 : 400, { error: 'bad_request' });
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const signed =
      secret !== undefined &&
      verifySlackSignature(secret, { timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') }, raw);
    if (!signed) {
      deps.log.warn({ path: INTERACTIONS_PATH }, 'slack interaction refused: missing, wrong or stale signature');
      return send(res, 401, { error: 'unauthorized', message: 'bad or missing Slack signature' });
    }
    const job = toJob(raw.toString('utf8'));
    if (!job) return send(res, 200);
    try {
      await enqueue(job);
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'slack interaction could not be queued');
      return send(res, 503, { error: 'queue_unavailable' });
    }
    // An empty 200 acknowledges a click, and closes the modal of a view_submission.
    send(res, 200);
  };
}
