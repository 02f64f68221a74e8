import { OutboundError } from '../clients/http';
import { sleep } from '../text';

/**
 * Retry-After for the publishers. Slack and PagerDuty answer 429 with a short Retry-After
 * (usually seconds); waiting it out in place is cheaper than failing the whole job, which
 * would repeat dedup and gather. A longer wait, or a second 429, goes back to the job's
 * backoff with the error's `retryAfterMs` for the worker to honour.
 */

const MAX_INLINE_RETRY_AFTER_MS = 10_000;

export async function honourRetryAfter<T>(fn: () => Promise<T>, signal: AbortSignal, maxWaitMs = MAX_INLINE_RETRY_AFTER_MS): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof OutboundError) || err.reason !== 'rate_limited' || err.retryAfterMs === undefined || err.retryAfterMs > maxWaitMs)
      throw err;
    await sleep(err.retryAfterMs, signal);
    if (signal.aborted) throw new OutboundError(err.target, 'aborted', 'aborted while waiting for Retry-After');
    return fn();
  }
}
