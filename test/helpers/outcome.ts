import { OutboundError, type FailureReason } from '../../src/clients/http';

export type Outcome = { ok: true } | { ok: false; reason: FailureReason; retryable: boolean; retryAfterMs?: number };

/** What a publish call ended in, as a value a status table can compare; other errors are rethrown. */
export async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    if (!(err instanceof OutboundError)) throw err;
    return {
      ok: false,
      reason: err.reason,
      retryable: err.retryable,
      ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
    };
  }
}
