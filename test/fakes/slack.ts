import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * A fake Slack that answers like the real one:
 * - Web API (https://docs.slack.dev/apis/web-api/): `POST /api/chat.postMessage` and
 *   `/api/chat.update`, bearer token, JSON body; errors are HTTP 200 with `ok:false` and an
 *   error code; rate limits are HTTP 429 with `Retry-After` (forced with `failNext`).
 * - Incoming webhooks (`POST /services/T…/B…/…`): 200 "ok", or 4xx with a plain-text code.
 * It enforces the Block Kit limits, so a test fails when our trimming does not.
 */

export interface SlackMessageRecord {
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown[];
  threadTs?: string;
  /** How many times chat.update changed it. */
  updates: number;
  /** Date.now() when it was posted. */
  at: number;
}

export const FAKE_SLACK_TOKEN = 'xoxb-fake-0000000000-token';
export const FAKE_WEBHOOK_PATH = '/services/T0000/B0000/fakewebhooksecret';

interface Channel {
  id: string;
  name: string;
  member: boolean;
}

type Json = Record<string, unknown>;

function blocksProblem(blocks: unknown): string | undefined {
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks) || blocks.length > 50) return 'invalid_blocks';
  let total = 0;
  for (const b of blocks as Json[]) {
    const text = (b.text as Json | undefined)?.text;
    const len = typeof text === 'string' ? text.length : 0;
    total += len;
    if (b.type === 'header' && (len === 0 || len > 150 || (b.text as Json).type !== 'plain_text')) return 'invalid_blocks';
    if (b.type === 'section') {
      const fields = (b.fields as Json[] | undefined) ?? [];
      if (len > 3000 || fields.length > 10) return 'invalid_blocks';
      for (const f of fields) {
        const fl = String(f.text ?? '').length;
        if (fl > 2000) return 'invalid_blocks';
        total += fl;
      }
      if (len === 0 && fields.length === 0) return 'invalid_blocks';
    }
    if (b.type === 'context') {
      const els = (b.elements as Json[] | undefined) ?? [];
      if (els.length === 0 || els.length > 10) return 'invalid_blocks';
      for (const e of els) total += String(e.text ?? '').length;
    }
  }
  // Slack truncates (and for some clients rejects) messages much beyond ~13k characters.
  return total > 13_200 ? 'msg_too_long' : undefined;
}

export class FakeSlack extends FakeHttpServer {
  readonly messages: SlackMessageRecord[] = [];
  readonly webhookMessages: Json[] = [];
  readonly channels: Channel[] = [
    { id: 'C0ALERTS', name: 'alerts', member: true },
    { id: 'C0PRIVATE', name: 'private', member: false },
  ];
  /** chat.postEphemeral messages (seen only by `user`). */
  readonly ephemerals: { channel: string; user: string; text: string }[] = [];
  /** Modals opened with views.open. */
  readonly views: Json[] = [];
  private readonly usedTriggers = new Set<string>();
  private seq = 0;

  constructor() {
    super((req) => this.answer(req));
  }

  /** Messages posted at the top level of a channel (not thread replies). */
  topLevel(): SlackMessageRecord[] {
    return this.messages.filter((m) => !m.threadTs);
  }

  replies(ts: string): SlackMessageRecord[] {
    return this.messages.filter((m) => m.threadTs === ts);
  }

  /** Every request body the fake received, as one string (for "publishes neither" checks). */
  allBodies(): string {
    return this.requests.map((r) => r.body).join('\n');
  }

  /** Forget the messages, as if they were deleted in Slack. */
  deleteAll(): void {
    this.messages.length = 0;
  }

  private ok(body: Json): FakeReply {
    return { status: 200, body: { ok: true, ...body } };
  }

  private err(error: string): FakeReply {
    return { status: 200, body: { ok: false, error } };
  }

  private channel(ref: unknown, byNameToo: boolean): Channel | undefined {
    if (typeof ref !== 'string') return undefined;
    return this.channels.find((c) => c.id === ref || (byNameToo && (`#${c.name}` === ref || c.name === ref)));
  }

  private answer(req: RecordedRequest): FakeReply {
    if (req.path === FAKE_WEBHOOK_PATH) return this.webhook(req);
    if (req.path.startsWith('/services/')) return { status: 404, body: 'no_service' };
    if (req.method !== 'POST') return { status: 405, body: '' };
    const auth = req.headers.authorization;
    if (!auth) return this.err('not_authed');
    if (auth !== `Bearer ${FAKE_SLACK_TOKEN}`) return this.err('invalid_auth');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return this.err('invalid_arguments');
    const body = (req.json ?? {}) as Json;
    switch (req.path) {
      case '/api/chat.postMessage':
        return this.postMessage(body);
      case '/api/chat.update':
        return this.update(body);
      case '/api/chat.postEphemeral':
        return this.postEphemeral(body);
      case '/api/views.open':
        return this.viewsOpen(body);
      default:
        return { status: 404, body: { ok: false, error: 'unknown_method' } };
    }
  }

  private postMessage(body: Json): FakeReply {
    const ch = this.channel(body.channel, true);
    if (!ch) return this.err('channel_not_found');
    if (!ch.member) return this.err('not_in_channel');
    if (!body.text && !body.blocks) return this.err('no_text');
    const problem = blocksProblem(body.blocks);
    if (problem) return this.err(problem);
    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    if (threadTs && !this.messages.some((m) => m.ts === threadTs && m.channel === ch.id)) return this.err('thread_not_found');
    const ts = `1795300000.${String(++this.seq).padStart(6, '0')}`;
    this.messages.push({
      channel: ch.id,
      ts,
      updates: 0,
      at: Date.now(),
      ...(typeof body.text === 'string' ? { text: body.text } : {}),
      ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
      ...(threadTs ? { threadTs } : {}),
    });
    return this.ok({ channel: ch.id, ts, message: { text: body.text, ts } });
  }

  /** chat.update wants the channel id, not its name (docs/architecture.md, "Slack"). */
  private update(body: Json): FakeReply {
    const ch = this.channel(body.channel, false);
    if (!ch) return this.err('channel_not_found');
    const msg = this.messages.find((m) => m.channel === ch.id && m.ts === body.ts);
    if (!msg) return this.err('message_not_found');
    const problem = blocksProblem(body.blocks);
    if (problem) return this.err(problem);
    if (typeof body.text === 'string') msg.text = body.text;
    if (Array.isArray(body.blocks)) msg.blocks = body.blocks;
    msg.updates++;
    return this.ok({ channel: ch.id, ts: msg.ts, text: body.text });
  }

  /** chat.postEphemeral: only the named user sees it; it is not a message of the channel. */
  private postEphemeral(body: Json): FakeReply {
    const ch = this.channel(body.channel, true);
    if (!ch) return this.err('channel_not_found');
    if (!ch.member) return this.err('not_in_channel');
    if (typeof body.user !== 'string' || !/^[UW][A-Z0-9]+$/.test(body.user)) return this.err('user_not_in_channel');
    if (!body.text && !body.blocks) return this.err('no_text');
    this.ephemerals.push({ channel: ch.id, user: body.user, text: String(body.text ?? '') });
    return this.ok({ message_ts: `1795300000.${String(++this.seq).padStart(6, '0')}` });
  }

  /** views.open: a trigger id is single-use (and expires after 3 s at Slack). */
  private viewsOpen(body: Json): FakeReply {
    const trigger = body.trigger_id;
    if (typeof trigger !== 'string' || !trigger) return this.err('invalid_arguments');
    if (this.usedTriggers.has(trigger)) return this.err('expired_trigger_id');
    const view = body.view as Json | undefined;
    if (!view || view.type !== 'modal' || !Array.isArray(view.blocks)) return this.err('invalid_arguments');
    if (typeof view.private_metadata === 'string' && view.private_metadata.length > 3000) return this.err('invalid_arguments');
    this.usedTriggers.add(trigger);
    this.views.push(view);
    return this.ok({ view: { id: `V${this.seq++}`, ...view } });
  }

  private webhook(req: RecordedRequest): FakeReply {
    const body = req.json as Json | undefined;
    if (!body || (!body.text && !body.blocks)) return { status: 400, body: 'invalid_payload' };
    const problem = blocksProblem(body.blocks);
    if (problem) return { status: 400, body: problem };
    this.webhookMessages.push(body);
    return { status: 200, headers: { 'Content-Type': 'text/html' }, body: 'ok' };
  }
}
