import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReceiverDeps } from './deps';
import { checkAuth } from './auth';
import { describeIssues, webhookPayloadSchema } from '../model/alert';
import { UnstorablePayloadError } from '../model/queue';

export const WEBHOOK_PATH = '/webhook/alertmanager';

export class BodyTooLarge extends Error {}

/**
 * How much of a refused body is still read (and thrown away) after the 413: a client that
 * writes the whole request before it reads the answer gets a reset connection, and never
 * sees the 413, if we close while it is still sending. Past this we close anyway.
 */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/** Reads and discards the rest of a refused body, up to DRAIN_LIMIT. */
function drain(req: IncomingMessage, already: number): void {
  let drained = already;
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    drained += c.length;
    if (drained > DRAIN_LIMIT) req.socket.destroy();
  });
  req.resume();
}

/** Reads the body up to `limit` bytes; past it, stops keeping it (and says so). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    drain(req, 0);
    return Promise.reject(new BodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        drain(req, size);
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/**
 * Deeper than any Alertmanager payload (body → alerts → alert → labels is 4) with room for
 * fields newer versions add; a deeper body cannot be stored (serialising it overflows).
 */
export const MAX_JSON_DEPTH = 32;

/** True when the JSON text nests arrays/objects deeper than `max`; a scan of the bytes, no recursion. */
function nestsDeeper(raw: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function send(res: ServerResponse, code: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * POST /webhook/alertmanager as a plain node:http handler. It is the hot path, so it runs
 * without the framework (Express costs about 4x per request here, measured with
 * bench/ingest.ts); everything else is served by Express.
 * Auth comes first, so an unauthenticated client cannot make us read and parse 5 MiB;
 * 4xx (which Alertmanager never retries) only for requests that can never succeed; 200
 * only after a durable enqueue; 503 when Redis cannot take the job, so Alertmanager retries.
 */
export function webhookHandler(
  deps: ReceiverDeps,
  enqueue: NonNullable<ReceiverDeps['enqueue']>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const reply = (res: ServerResponse, code: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
    deps.metrics.webhookRequests.inc({ code: String(code) });
    send(res, code, body, headers);
  };
  return async (req, res) => {
    if (!checkAuth(req.headers.authorization, deps.auth)) {
      req.resume();
      return reply(
        res,
        401,
        { error: 'unauthorized', message: 'missing or wrong credentials' },
        {
          'WWW-Authenticate': deps.auth.bearerToken ? 'Bearer' : 'Basic realm="alert-annotator"',
        },
      );
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, deps.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        return reply(res, 413, { error: 'payload_too_large', message: `body exceeds ${deps.maxBodyBytes} bytes (WEBHOOK_MAX_BODY_BYTES)` });
      }
      return reply(res, 400, { error: 'bad_request', message: 'the request body could not be read' });
    }
    if (nestsDeeper(raw, MAX_JSON_DEPTH)) {
      return reply(res, 400, { error: 'nesting_too_deep', message: `body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels` });
    }
    let body: unknown;
    try {
      // Any content type: some proxies drop or rewrite it; the body must be JSON either way.
      body = JSON.parse(raw.toString('utf8'));
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
      const result = await enqueue(payload, deps.traceparent?.());
      for (const a of payload.alerts) deps.metrics.alertsReceived.inc({ status: a.status });
      const status = result.duplicate ? 'duplicate' : 'queued';
      deps.log.info({ jobId: result.jobId, groupKey: payload.groupKey, alerts: payload.alerts.length }, `notification ${status}`);
      reply(res, 200, { status, jobId: result.jobId });
    } catch (err) {
      if (err instanceof UnstorablePayloadError) {
        deps.log.warn({ groupKey: payload.groupKey, err: err.message }, 'notification refused: it cannot be stored');
        return reply(res, 400, { error: 'payload_unstorable', message: err.message });
      }
      deps.log.error({ groupKey: payload.groupKey, err: (err as Error).message }, 'queue unavailable; asking Alertmanager to retry');
      reply(res, 503, { error: 'queue_unavailable', message: 'the job queue cannot be written right now; retry' }, { 'Retry-After': '5' });
    }
  };
}
