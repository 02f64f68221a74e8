/**
 * One outbound HTTP helper for every integration, and the one retry classifier they share
 * (after Alertmanager's notify/util.go Retrier): 2xx ok, 429 and 5xx retryable (honouring
 * Retry-After), every other status permanent. Errors carry a typed reason, never a URL
 * with credentials or a query string, and never the request body.
 */

import { fenceAwareFetch, fenceError } from './fence';

export type FailureReason = 'timeout' | 'network' | 'aborted' | 'rate_limited' | 'server' | 'auth' | 'client' | 'bad_response';

export class OutboundError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly target: string,
    readonly reason: FailureReason,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** The socket error's code when the request failed before any answer (ECONNREFUSED, ENOTFOUND…). */
    readonly socketCode?: string,
  ) {
    super(`${target}: ${message}`);
    this.name = 'OutboundError';
    this.retryable = reason !== 'auth' && reason !== 'client' && reason !== 'aborted' && reason !== 'bad_response';
  }
}

/** Status → outcome. Per-target differences are passed as data (`extraRetryable`). */
export function classifyStatus(status: number, extraRetryable: readonly number[] = []): FailureReason | null {
  if (status >= 200 && status < 300) return null;
  if (status === 429) return 'rate_limited';
  if (status >= 500 || extraRetryable.includes(status)) return 'server';
  if (status === 401 || status === 403) return 'auth';
  return 'client';
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Scheme, host and path only: no userinfo, no query (tokens live there), no fragment. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    // Slack incoming webhooks and similar carry the secret in the path itself.
    const path = /hooks\.slack\.com|\/services\//.test(raw) ? '/…' : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * `http://user:pass@host/` is how many people configure basic auth, but fetch refuses URLs
 * with credentials: move them into an Authorization header (never into logs: errors print
 * redactUrl of the clean URL).
 */
export function splitCredentials(raw: string): { url: string; headers: Record<string, string> } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: raw.replace(/\/+$/, ''), headers: {} };
  const token = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  u.username = '';
  u.password = '';
  return { url: u.toString().replace(/\/+$/, ''), headers: { Authorization: `Basic ${token}` } };
}

export interface HttpRequest {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else is JSON-encoded with a JSON Content-Type. */
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
  extraRetryable?: readonly number[];
  /**
   * Most bytes of the answer's body to read: past it the body is dropped unread (the call
   * fails as a bad response) instead of growing in memory. Unset: read it all.
   */
  maxBodyBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Sends one request and classifies the result. Resolves only on 2xx; any other outcome
 * throws an OutboundError. `target` names the integration in errors and metrics.
 */
export async function httpRequest(target: string, req: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  let body: string | undefined;
  if (req.body !== undefined) {
    if (typeof req.body === 'string') body = req.body;
    else {
      body = JSON.stringify(req.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json';
      }
    }
  }
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  const where = `${req.method ?? 'GET'} ${redactUrl(req.url)}`;
  let res: Response;
  try {
    res = await fenceAwareFetch(req.url, { method: req.method ?? 'GET', headers, body, signal });
  } catch (err) {
    // Refused by the caller's fence (a lapsed group lock) before a byte was written.
    const fenced = fenceError(err);
    if (fenced) throw fenced;
    if (req.signal?.aborted) throw new OutboundError(target, 'aborted', `${where} aborted`);
    if (timeout.aborted) throw new OutboundError(target, 'timeout', `${where} timed out after ${req.timeoutMs} ms`);
    const code = (err as { cause?: { code?: string } }).cause?.code ?? 'error';
    throw new OutboundError(target, 'network', `${where} failed (${code})`, undefined, undefined, code);
  }
  let text: string | undefined;
  try {
    text = await readBody(res, req.maxBodyBytes);
  } catch {
    if (req.signal?.aborted) throw new OutboundError(target, 'aborted', `${where} aborted`);
    throw new OutboundError(target, timeout.aborted ? 'timeout' : 'network', `${where} body not received`, res.status);
  }
  if (text === undefined) {
    throw new OutboundError(target, 'bad_response', `${where} answered ${res.status} with more than ${req.maxBodyBytes} bytes`, res.status);
  }
  const reason = classifyStatus(res.status, req.extraRetryable);
  if (reason) {
    // A short excerpt of the peer's own error text helps the operator; it is the
    // peer's words about our request, never our request body.
    const excerpt = text.replace(/\s+/g, ' ').slice(0, 200);
    throw new OutboundError(
      target,
      reason,
      `${where} answered ${res.status}${excerpt ? `: ${excerpt}` : ''}`,
      res.status,
      parseRetryAfter(res.headers.get('retry-after')),
    );
  }
  return { status: res.status, headers: res.headers, text };
}

/** The body as text (UTF-8, as Response.text() reads it), or undefined once it passes `maxBytes` (the rest is not read). */
async function readBody(res: Response, maxBytes: number | undefined): Promise<string | undefined> {
  if (maxBytes === undefined || !res.body) return res.text();
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body.cancel();
    return undefined;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Parses a 2xx body as JSON and validates it; a malformed answer is a permanent error. */
export function parseJsonBody<T>(
  target: string,
  res: HttpResponse,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } },
): T {
  let raw: unknown;
  try {
    raw = JSON.parse(res.text);
  } catch {
    throw new OutboundError(target, 'bad_response', `answered ${res.status} with a body that is not JSON`, res.status);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new OutboundError(target, 'bad_response', `answered with an unexpected shape`, res.status);
  }
  return parsed.data;
}
