import { createHash } from 'node:crypto';
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type Logger as SlackLogger,
  type WebAPICallResult,
} from '@slack/web-api';
import type { Logger } from 'pino';
import { fenceAwareFetch, fenceError } from '../clients/fence';
import { classifyStatus, OutboundError, parseRetryAfter, type FailureReason } from '../clients/http';

/**
 * Every Slack Web API call of the service goes through Slack's own client, `@slack/web-api`
 * (the publisher in slack.ts, the interactions, the chart upload). The client does the
 * transport: form-encoded arguments, the bearer token, pagination cursors, the upload flow.
 * What stays ours: the retry classification (one table, pinned by test/publish-slack.test.ts),
 * the in-place Retry-After wait (retry.ts), idempotency (state.ts) and the job's abort signal.
 * The client's own retries are off (`retries: 0`) and a 429 is rejected at once
 * (`rejectRateLimitedCalls`), so a job never sleeps inside the client where nothing is logged
 * and the shutdown deadline cannot reach it.
 */

const TARGET = 'slack';

const RETRYABLE_SERVER = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
const AUTH = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'missing_scope',
  'no_permission',
  'not_allowed_token_type',
]);

/** Error code → outcome: the table test in test/publish-slack.test.ts pins it down. */
export function classifySlackError(code: string): FailureReason {
  if (code === 'ratelimited' || code === 'rate_limited') return 'rate_limited';
  if (RETRYABLE_SERVER.has(code)) return 'server';
  if (AUTH.has(code) || /auth|token|scope/.test(code)) return 'auth';
  return 'client';
}

/** What the operator should do, in the log line of a permanent error. */
const HINTS: Record<string, string> = {
  invalid_auth: 'SLACK_BOT_TOKEN is not valid',
  not_authed: 'SLACK_BOT_TOKEN is missing',
  token_revoked: 'SLACK_BOT_TOKEN was revoked',
  missing_scope: 'the bot token lacks a scope this call needs (chat:write; channels:history/groups:history for the lookup)',
  channel_not_found: 'SLACK_CHANNEL names no channel the bot can see (use the channel id, C…)',
  not_in_channel: 'invite the bot to SLACK_CHANNEL',
  is_archived: 'SLACK_CHANNEL is archived',
  msg_too_long: 'the message is too long (a bug in the limits here)',
  invalid_blocks: 'Slack rejected the Block Kit layout (a bug here)',
  message_not_found: 'the message to update was deleted',
  cant_update_message: 'the message was not posted by this bot',
};

/** An `ok:false` answer of the Web API; `code` is Slack's error string (never anything we sent). */
export class SlackApiError extends OutboundError {
  constructor(
    readonly code: string,
    method: string,
    status: number,
    retryAfterMs: number | undefined,
  ) {
    const hint = HINTS[code];
    super(TARGET, classifySlackError(code), `${method} answered ok:false error=${code}${hint ? ` (${hint})` : ''}`, status, retryAfterMs);
    this.name = 'SlackApiError';
  }
}

/** Slack's error codes are snake_case words; anything else in `error` is a body that was not JSON. */
const ERROR_CODE = /^[a-z0-9_.]{1,100}$/;

/**
 * The client's errors → ours, as httpRequest classifies a plain HTTP answer. The messages
 * are built here from codes and statuses only: no token, no request body, no URL query.
 */
export function toOutboundError(err: unknown, method: string): OutboundError {
  if (err instanceof OutboundError) return err;
  if (err instanceof WebAPIPlatformError) {
    const code: unknown = err.data.error;
    if (typeof code !== 'string' || !ERROR_CODE.test(code)) {
      // The client reads a body that is not JSON as {ok:false, error: <the body>}.
      return new OutboundError(TARGET, 'bad_response', `${method} answered 200 with a body that is not a Web API answer`, 200);
    }
    const retryAfter = err.data.response_metadata?.retryAfter;
    return new SlackApiError(code, method, 200, typeof retryAfter === 'number' ? retryAfter * 1000 : undefined);
  }
  if (err instanceof WebAPIRateLimitedError) {
    return new OutboundError(
      TARGET,
      'rate_limited',
      `${method} answered 429 (Retry-After ${err.retryAfter} s)`,
      429,
      err.retryAfter * 1000,
    );
  }
  if (err instanceof WebAPIHTTPError) {
    const reason = classifyStatus(err.statusCode) ?? 'bad_response';
    // A short excerpt of the peer's own error text helps the operator; it is Slack's words, not our request.
    const body: unknown = err.body;
    const excerpt = typeof body === 'string' ? body.replace(/\s+/g, ' ').slice(0, 200) : '';
    return new OutboundError(
      TARGET,
      reason,
      `${method} answered ${err.statusCode}${excerpt ? `: ${excerpt}` : ''}`,
      err.statusCode,
      parseRetryAfter(err.headers['retry-after']),
    );
  }
  if (err instanceof WebAPIRequestError) {
    const original = err.original as Error & { cause?: { code?: string } };
    const fenced = fenceError(original);
    if (fenced instanceof OutboundError) return fenced;
    // A DOMException from another realm (jest) arrives re-wrapped as Error(String(exception)).
    if (original.name === 'TimeoutError' || /^TimeoutError\b/.test(original.message))
      return new OutboundError(TARGET, 'timeout', `${method} timed out`);
    if (original.name === 'AbortError' || /^AbortError\b/.test(original.message))
      return new OutboundError(TARGET, 'aborted', `${method} aborted`);
    return new OutboundError(TARGET, 'network', `${method} failed (${original.cause?.code ?? original.name})`);
  }
  // A 429 whose Retry-After is not a number of seconds: the client throws a plain Error.
  if (err instanceof Error && /^Retry header did not contain a valid timeout/.test(err.message)) {
    return new OutboundError(TARGET, 'rate_limited', `${method} answered 429 without a usable Retry-After`, 429);
  }
  return new OutboundError(TARGET, 'network', `${method} failed (${err instanceof Error ? err.name : 'error'})`);
}

const TOKEN_PATTERN = /xox[a-z]-[A-Za-z0-9-]+/g;

/**
 * The client's logger, onto ours at debug level (its warnings are about our arguments, e.g. a
 * missing `text`, and repeat per call). Every line is scrubbed of the token and of anything
 * shaped like a Slack token before it is written.
 */
function clientLogger(token: string, log: Logger | undefined): SlackLogger {
  let level = LogLevel.WARN;
  const write =
    (lvl: LogLevel) =>
    (...msg: unknown[]) => {
      if (!log) return;
      const order = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];
      if (order.indexOf(lvl) < order.indexOf(level)) return;
      const text = msg
        .map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.name : JSON.stringify(m)))
        .join(' ')
        .split(token)
        .join('[redacted]')
        .replace(TOKEN_PATTERN, '[redacted]');
      log.debug({ target: TARGET, clientLevel: lvl }, `slack client: ${text.slice(0, 500)}`);
    };
  return {
    debug: write(LogLevel.DEBUG),
    info: write(LogLevel.INFO),
    warn: write(LogLevel.WARN),
    error: write(LogLevel.ERROR),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export interface SlackWebApiOptions {
  token: string;
  /** SLACK_API_URL: Slack's, a proxy's, or a fake's in tests. */
  apiUrl: string;
  timeoutMs?: number;
  log?: Logger;
}

/** One WebClient per token, URL and timeout, shared by every caller in the process (its queue, its keep-alive). */
const clients = new Map<string, WebClient>();

function sharedClient(opts: SlackWebApiOptions): WebClient {
  const timeout = opts.timeoutMs ?? 10_000;
  const key = `${opts.apiUrl}\n${createHash('sha256').update(opts.token).digest('hex')}\n${timeout}`;
  let client = clients.get(key);
  if (!client) {
    client = new WebClient(opts.token, {
      slackApiUrl: opts.apiUrl.endsWith('/') ? opts.apiUrl : `${opts.apiUrl}/`,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout,
      // A method name is never a URL: the token goes to SLACK_API_URL only.
      allowAbsoluteUrls: false,
      logger: clientLogger(opts.token, opts.log),
      // A fenced call (withFence, src/clients/fence.ts) is checked again right before it is written.
      fetch: fenceAwareFetch,
    });
    clients.set(key, client);
  }
  return client;
}

export type SlackAnswer = WebAPICallResult & Record<string, unknown>;

/**
 * The Web API for this service: `call(method, args, signal)` answers Slack's result or throws
 * an OutboundError classified as above. The WebClient takes no per-call signal, so the job's
 * signal ends the wait (the request itself ends at the client's timeout); a post whose answer
 * was not waited for is what the publisher's intent and history lookup are for.
 */
export class SlackWebApi {
  readonly client: WebClient;
  constructor(opts: SlackWebApiOptions) {
    this.client = sharedClient(opts);
  }

  async call(method: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<SlackAnswer> {
    if (signal?.aborted) throw new OutboundError(TARGET, 'aborted', `${method} aborted`);
    const request = this.client.apiCall(method, args) as Promise<SlackAnswer>;
    if (!signal) return request.catch((err: unknown) => Promise.reject(toOutboundError(err, method)));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new OutboundError(TARGET, 'aborted', `${method} aborted`));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([request, aborted]);
    } catch (err) {
      throw toOutboundError(err, method);
    } finally {
      signal.removeEventListener('abort', onAbort!);
      // The losing request still settles; nobody waits for it.
      request.catch(() => undefined);
    }
  }
}
