import { randomUUID } from 'node:crypto';
import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * A fake Slack that answers like the real one:
 * - Web API (https://docs.slack.dev/apis/web-api/): `POST /api/<method>` with the token as
 *   `Authorization: Bearer` (or a `token` argument), arguments form-encoded
 *   (`application/x-www-form-urlencoded`, objects such as `blocks` and `metadata` as JSON
 *   strings: what @slack/web-api sends) or as a JSON body (`application/json`). Errors are
 *   HTTP 200 with `ok:false` and an error code; rate limits are HTTP 429 with `Retry-After`
 *   and outages HTTP 500 (forced with `failNext`).
 *   Methods: chat.postMessage (with `metadata`), chat.update, chat.postEphemeral, views.open,
 *   conversations.history (newest first, `oldest`/`latest`, `limit`, `cursor` pagination with
 *   `has_more` and `response_metadata.next_cursor`, metadata only with `include_all_metadata`).
 * - Scopes: the token has `scopes` (chat:write, channels:history, groups:history by default);
 *   a method whose scope is missing answers `missing_scope` with `needed` and `provided`.
 * - Incoming webhooks (`POST /services/T…/B…/…`): 200 "ok", or 4xx with a plain-text code.
 * - File uploads, Slack's current flow (https://docs.slack.dev/messaging/working-with-files#uploading_files):
 *   `files.getUploadURLExternal` (form-encoded filename + length; needs the `files:write`
 *   scope) answers an upload_url and a file_id; the bytes are POSTed there (raw, or as
 *   multipart as @slack/web-api sends them); `files.completeUploadExternal` shares the
 *   uploaded files into a channel or a message's thread. The upload URL checks the bytes
 *   are the length announced and a PNG with a sane header, so a test fails on a broken chart.
 * It enforces the Block Kit limits, so a test fails when our trimming does not.
 *
 * Counting (for the tests of "exactly one message per group", test/faults included):
 * - `topLevelPosts(channel?)`: how many chat.postMessage calls without `thread_ts` created a
 *   message (per channel id, or in all channels); deleting messages does not lower it.
 * - `topLevel()`: the top-level messages that exist now, with their `metadata`.
 * - over HTTP, for a test whose workers run in other processes:
 *   `GET /_fake/counts` answers `{ topLevelPosts: {<channel id>: n}, replies: n, updates: n }`.
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
  /** chat.postMessage's `metadata` (event_type, event_payload), as Slack stores it. */
  metadata?: { event_type: string; event_payload: Json };
}

/** A file shared with files.completeUploadExternal. */
export interface SlackUploadRecord {
  fileId: string;
  filename: string;
  title?: string;
  channel: string;
  threadTs?: string;
  initialComment?: string;
  bytes: Buffer;
  /** From the PNG's IHDR chunk. */
  width: number;
  height: number;
}

/** A started upload: announced by files.getUploadURLExternal, its bytes received or not yet. */
interface PendingUpload {
  fileId: string;
  filename: string;
  length: number;
  bytes?: Buffer;
  width?: number;
  height?: number;
  completed: boolean;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The PNG's size from its header (signature, then IHDR as the first chunk: length 13,
 * width and height as big-endian uint32), or why the bytes are not a sane PNG.
 */
export function pngHeader(bytes: Buffer): { width: number; height: number } | { problem: string } {
  if (bytes.length < 33 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return { problem: 'not a PNG (no signature)' };
  if (bytes.readUInt32BE(8) !== 13 || bytes.toString('latin1', 12, 16) !== 'IHDR') return { problem: 'no IHDR chunk first' };
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  if (width < 16 || height < 16 || width > 8000 || height > 8000) return { problem: `implausible size ${width}x${height}` };
  if (bytes.toString('latin1', bytes.length - 8, bytes.length - 4) !== 'IEND') return { problem: 'no IEND chunk last (truncated)' };
  return { width, height };
}

/** The first file part of a multipart/form-data body (binary-safe), or undefined. */
function multipartFile(raw: Buffer, contentType: string): Buffer | undefined {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  let at = raw.indexOf(delimiter);
  while (at >= 0) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return undefined;
    const next = raw.indexOf(delimiter, headEnd);
    if (next < 0) return undefined;
    const head = raw.toString('utf8', at, headEnd);
    // The part's body ends with the CRLF before the next delimiter.
    if (/filename=/i.test(head)) return raw.subarray(headEnd + 4, next - 2);
    at = next;
  }
  return undefined;
}

export const FAKE_SLACK_TOKEN = 'xoxb-fake-0000000000-token';
export const FAKE_WEBHOOK_PATH = '/services/T0000/B0000/fakewebhooksecret';

interface Channel {
  id: string;
  name: string;
  member: boolean;
  /** A private channel: its history needs groups:history instead of channels:history. */
  private?: boolean;
}

type Json = Record<string, unknown>;

/** The scopes a method needs (https://docs.slack.dev/reference/methods). */
const METHOD_SCOPE: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
};

/** Arguments Slack reads as JSON when they come form-encoded. */
const JSON_ARGS = new Set(['blocks', 'attachments', 'metadata', 'view', 'files']);
const BOOLEAN_ARGS = new Set([
  'unfurl_links',
  'unfurl_media',
  'link_names',
  'include_all_metadata',
  'inclusive',
  'mrkdwn',
  'reply_broadcast',
]);

/**
 * A request's arguments as Slack reads them: a JSON body, or form fields (the JSON-valued
 * ones parsed, booleans as booleans). `undefined`: neither content type, or JSON that does not parse.
 */
export function slackArgs(req: Pick<RecordedRequest, 'headers' | 'body' | 'json'>): Json | undefined {
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('application/json')) return req.json && typeof req.json === 'object' ? (req.json as Json) : undefined;
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined;
  const out: Json = {};
  for (const [k, v] of new URLSearchParams(req.body)) {
    if (JSON_ARGS.has(k)) {
      try {
        out[k] = JSON.parse(v);
      } catch {
        out[k] = v;
      }
    } else if (BOOLEAN_ARGS.has(k) && (v === 'true' || v === 'false')) out[k] = v === 'true';
    else out[k] = v;
  }
  return out;
}

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
  /** Files shared with files.completeUploadExternal. */
  readonly uploads: SlackUploadRecord[] = [];
  /**
   * The bot token's scopes; delete one to see what the service does without it (no
   * `files:write`: the upload methods answer missing_scope; no `channels:history` /
   * `groups:history`: conversations.history of a public / private channel does).
   */
  scopes = new Set(['chat:write', 'files:write', 'channels:history', 'groups:history']);
  private readonly pendingUploads = new Map<string, PendingUpload>();
  /** Bodies of every Web API call, by method, as Slack read them (form or JSON). */
  readonly calls: { method: string; args: Json }[] = [];
  /**
   * Runs after a top-level message is posted and before the answer is sent: a test kills
   * the worker here to leave the post's outcome unknown to it (the message exists in Slack).
   */
  onTopLevelPost: ((m: SlackMessageRecord) => void | Promise<void>) | undefined;
  private readonly posted = new Map<string, number>();
  private readonly usedTriggers = new Set<string>();
  private seq = 0;

  constructor() {
    super((req) => this.answer(req));
  }

  /** Messages posted at the top level of a channel (not thread replies) that exist now. */
  topLevel(): SlackMessageRecord[] {
    return this.messages.filter((m) => !m.threadTs);
  }

  /** How many top-level messages chat.postMessage created, in one channel (id) or in all. */
  topLevelPosts(channel?: string): number {
    if (channel !== undefined) return this.posted.get(channel) ?? 0;
    let n = 0;
    for (const v of this.posted.values()) n += v;
    return n;
  }

  /** The arguments of each call to `method`, in order. */
  argsOf(method: string): Json[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  replies(ts: string): SlackMessageRecord[] {
    return this.messages.filter((m) => m.threadTs === ts);
  }

  /**
   * Every request body the fake received, as one string (for "publishes neither" checks):
   * the raw bodies and, decoded, the arguments Slack read from them.
   */
  allBodies(): string {
    return [...this.requests.map((r) => r.body), ...this.calls.map((c) => JSON.stringify(c.args))].join('\n');
  }

  /** Forget the messages, as if they were deleted in Slack. */
  deleteAll(): void {
    this.messages.length = 0;
  }

  private ok(body: Json): FakeReply {
    return { status: 200, body: { ok: true, ...body } };
  }

  private err(error: string, extra: Json = {}): FakeReply {
    return { status: 200, body: { ok: false, error, ...extra } };
  }

  private scope(needed: string): FakeReply | undefined {
    if (this.scopes.has(needed)) return undefined;
    return this.err('missing_scope', { needed, provided: [...this.scopes].join(',') });
  }

  private channel(ref: unknown, byNameToo: boolean): Channel | undefined {
    if (typeof ref !== 'string') return undefined;
    return this.channels.find((c) => c.id === ref || (byNameToo && (`#${c.name}` === ref || c.name === ref)));
  }

  private answer(req: RecordedRequest): FakeReply | Promise<FakeReply> {
    if (req.path === FAKE_WEBHOOK_PATH) return this.webhook(req);
    if (req.path.startsWith('/services/')) return { status: 404, body: 'no_service' };
    if (req.method === 'GET' && req.path === '/_fake/counts') return { status: 200, body: this.counts() };
    if (req.method !== 'POST') return { status: 405, body: '' };
    // The upload URL is a capability (it carries its own secret): no token needed.
    if (req.path.startsWith('/upload/v1/')) return this.receiveUpload(req);
    const args = slackArgs(req);
    if (!args) return this.err('invalid_arguments');
    const method = req.path.replace(/^\/api\//, '');
    // The token: a bearer header, or (form-encoded only) a `token` argument.
    const auth = req.headers.authorization ?? (typeof args.token === 'string' ? `Bearer ${args.token}` : undefined);
    delete args.token;
    this.calls.push({ method, args });
    if (!auth) return this.err('not_authed');
    if (auth !== `Bearer ${FAKE_SLACK_TOKEN}`) return this.err('invalid_auth');
    const needed = METHOD_SCOPE[method];
    const missing = needed ? this.scope(needed) : undefined;
    if (missing) return missing;
    switch (method) {
      case 'chat.postMessage': {
        const before = this.messages.length;
        const reply = this.postMessage(args);
        const posted = this.messages.length > before ? this.messages[this.messages.length - 1] : undefined;
        if (!posted || posted.threadTs || !this.onTopLevelPost) return reply;
        return Promise.resolve(this.onTopLevelPost(posted)).then(() => reply);
      }
      case 'chat.update':
        return this.update(args);
      case 'chat.postEphemeral':
        return this.postEphemeral(args);
      case 'views.open':
        return this.viewsOpen(args);
      case 'conversations.history':
        return this.history(args);
      case 'files.getUploadURLExternal':
      case 'files.completeUploadExternal':
        return this.files(req);
      default:
        return { status: 404, body: { ok: false, error: 'unknown_method' } };
    }
  }

  private counts(): Json {
    return {
      topLevelPosts: Object.fromEntries(this.posted),
      replies: this.messages.filter((m) => m.threadTs).length,
      updates: this.messages.reduce((n, m) => n + m.updates, 0),
    };
  }

  /** `metadata` as chat.postMessage documents it: an event_type and an object event_payload. */
  private metadataOf(body: Json): { ok: true; value?: SlackMessageRecord['metadata'] } | { ok: false; error: string } {
    const raw = body.metadata;
    if (raw === undefined || raw === '') return { ok: true };
    if (!raw || typeof raw !== 'object') return { ok: false, error: 'invalid_metadata_format' };
    const { event_type, event_payload } = raw as Json;
    if (typeof event_type !== 'string' || !/^[A-Za-z0-9_]{1,255}$/.test(event_type)) return { ok: false, error: 'invalid_metadata_schema' };
    if (!event_payload || typeof event_payload !== 'object' || Array.isArray(event_payload))
      return { ok: false, error: 'invalid_metadata_schema' };
    return { ok: true, value: { event_type, event_payload: event_payload as Json } };
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
    const metadata = this.metadataOf(body);
    if (!metadata.ok) return this.err(metadata.error);
    const ts = this.nextTs();
    this.messages.push({
      channel: ch.id,
      ts,
      updates: 0,
      at: Date.now(),
      ...(typeof body.text === 'string' ? { text: body.text } : {}),
      ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
      ...(threadTs ? { threadTs } : {}),
      ...(metadata.value ? { metadata: metadata.value } : {}),
    });
    if (!threadTs) this.posted.set(ch.id, (this.posted.get(ch.id) ?? 0) + 1);
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
    const metadata = this.metadataOf(body);
    if (!metadata.ok) return this.err(metadata.error);
    if (typeof body.text === 'string') msg.text = body.text;
    if (Array.isArray(body.blocks)) msg.blocks = body.blocks;
    if (metadata.value) msg.metadata = metadata.value;
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
    return this.ok({ message_ts: this.nextTs() });
  }

  /**
   * Slack's ts is the post's time in seconds with six digits of sequence; this one is real
   * time too, so `oldest` works as at Slack, and strictly increasing.
   */
  private nextTs(): string {
    const seconds = Math.floor(Date.now() / 1000);
    return `${seconds}.${String(++this.seq).padStart(6, '0')}`;
  }

  /**
   * conversations.history (https://docs.slack.dev/reference/methods/conversations.history):
   * the channel's top-level messages, newest first, in pages of `limit` (default 100, at most
   * 999) between `oldest` and `latest`, with `has_more` and a cursor for the next page.
   */
  private history(body: Json): FakeReply {
    const ch = this.channel(body.channel, false);
    if (!ch) return this.err('channel_not_found');
    const missing = this.scope(ch.private ? 'groups:history' : 'channels:history');
    if (missing) return missing;
    if (!ch.member) return this.err('not_in_channel');
    const num = (v: unknown) => (v === undefined || v === '' ? undefined : Number(v));
    const oldest = num(body.oldest) ?? 0;
    const latest = num(body.latest) ?? Infinity;
    const inclusive = body.inclusive === true;
    const limit = Math.min(999, Math.max(1, num(body.limit) ?? 100));
    let offset = 0;
    if (typeof body.cursor === 'string' && body.cursor) {
      const m = /^next:(\d+)$/.exec(Buffer.from(body.cursor, 'base64').toString('utf8'));
      if (!m) return this.err('invalid_cursor');
      offset = Number(m[1]);
    }
    const inRange = (ts: number) => (inclusive ? ts >= oldest && ts <= latest : ts > oldest && ts < latest);
    const all = this.messages.filter((m) => m.channel === ch.id && !m.threadTs && inRange(Number(m.ts))).reverse();
    const page = all.slice(offset, offset + limit);
    const hasMore = offset + limit < all.length;
    const withMetadata = body.include_all_metadata === true;
    return this.ok({
      messages: page.map((m) => ({
        type: 'message',
        ts: m.ts,
        bot_id: 'B0FAKEBOT',
        ...(m.text !== undefined ? { text: m.text } : {}),
        ...(m.blocks ? { blocks: m.blocks } : {}),
        ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
        ...(this.messages.some((r) => r.threadTs === m.ts) ? { thread_ts: m.ts, reply_count: this.replies(m.ts).length } : {}),
      })),
      has_more: hasMore,
      pin_count: 0,
      response_metadata: { next_cursor: hasMore ? Buffer.from(`next:${offset + limit}`).toString('base64') : '' },
    });
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

  /** The two Web API steps of an upload; their arguments are form-encoded (completeUploadExternal also takes JSON). */
  private files(req: RecordedRequest): FakeReply {
    if (!this.scopes.has('files:write'))
      return { status: 200, body: { ok: false, error: 'missing_scope', needed: 'files:write', provided: [...this.scopes].join(',') } };
    const type = String(req.headers['content-type'] ?? '');
    let args: Json;
    if (type.startsWith('application/x-www-form-urlencoded')) args = Object.fromEntries(new URLSearchParams(req.body));
    else if (type.startsWith('application/json') && req.path === '/api/files.completeUploadExternal') args = (req.json ?? {}) as Json;
    else return this.err('invalid_arguments');
    return req.path === '/api/files.getUploadURLExternal' ? this.getUploadUrl(args) : this.completeUpload(args);
  }

  private getUploadUrl(args: Json): FakeReply {
    const filename = args.filename;
    const length = Number(args.length);
    if (typeof filename !== 'string' || !filename || !Number.isInteger(length) || length <= 0) return this.err('invalid_arguments');
    if (length > 1_000_000_000) return this.err('file_too_large');
    const fileId = `F0${String(++this.seq).padStart(9, '0')}`;
    this.pendingUploads.set(fileId, { fileId, filename, length, completed: false });
    return this.ok({ upload_url: `${this.url}/upload/v1/${fileId}-${randomUUID()}`, file_id: fileId });
  }

  /** The upload URL: 200 "OK - <bytes>" when it took the file, else a 4xx with a plain-text reason. */
  private receiveUpload(req: RecordedRequest): FakeReply {
    const fileId = /^\/upload\/v1\/(F0\d+)-/.exec(req.path)?.[1];
    const pending = fileId ? this.pendingUploads.get(fileId) : undefined;
    if (!pending || pending.completed) return { status: 404, body: 'upload URL not found' };
    const type = String(req.headers['content-type'] ?? '');
    const bytes = type.startsWith('multipart/form-data') ? multipartFile(req.raw, type) : req.raw;
    if (!bytes || bytes.length === 0) return { status: 400, body: 'no file data' };
    if (bytes.length !== pending.length) return { status: 400, body: `length ${bytes.length} is not the announced ${pending.length}` };
    const png = pngHeader(bytes);
    if ('problem' in png) return { status: 400, body: png.problem };
    Object.assign(pending, { bytes: Buffer.from(bytes), ...png });
    return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: `OK - ${bytes.length}` };
  }

  private completeUpload(args: Json): FakeReply {
    let files: unknown = args.files;
    if (typeof files === 'string') {
      try {
        files = JSON.parse(files);
      } catch {
        return this.err('invalid_arguments');
      }
    }
    if (!Array.isArray(files) || files.length === 0 || files.some((f) => typeof (f as Json)?.id !== 'string'))
      return this.err('invalid_arguments');
    const list = files as { id: string; title?: unknown }[];
    const pending = list.map((f) => this.pendingUploads.get(f.id));
    // An id never announced, already shared, or whose bytes never arrived.
    if (pending.some((p) => !p || p.completed || !p.bytes)) return this.err('file_not_found');
    const channelId = args.channel_id;
    const ch = typeof channelId === 'string' && channelId ? this.channel(channelId, false) : undefined;
    if (channelId !== undefined && !ch) return this.err('channel_not_found');
    if (ch && !ch.member) return this.err('not_in_channel');
    const threadTs = typeof args.thread_ts === 'string' && args.thread_ts ? args.thread_ts : undefined;
    if (threadTs && (!ch || !this.messages.some((m) => m.ts === threadTs && m.channel === ch.id && !m.threadTs)))
      return this.err('invalid_thread_ts');
    const out = pending.map((p, i) => {
      p!.completed = true;
      const title = typeof list[i]!.title === 'string' ? (list[i]!.title as string) : undefined;
      if (ch)
        this.uploads.push({
          fileId: p!.fileId,
          filename: p!.filename,
          channel: ch.id,
          bytes: p!.bytes!,
          width: p!.width!,
          height: p!.height!,
          ...(title ? { title } : {}),
          ...(threadTs ? { threadTs } : {}),
          ...(typeof args.initial_comment === 'string' ? { initialComment: args.initial_comment } : {}),
        });
      return { id: p!.fileId, title: title ?? p!.filename };
    });
    return this.ok({ files: out });
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
