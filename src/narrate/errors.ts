import type { FailureReason } from '../clients/http';
import type { LlmUsage } from '../model/narration';

/**
 * Why a model narration failed. The pipeline falls back to the template note for every
 * one of them; the worker schedules a delayed narration retry unless the job was aborted.
 */
export type NarrationFailure =
  | FailureReason
  /** The answer was not JSON or did not match the narration schema, twice. */
  | 'invalid'
  /** The answer cited ids or named services that the findings do not contain, twice. */
  | 'ungrounded'
  /** The circuit breaker is open: the model failed repeatedly and is being skipped. */
  | 'circuit_open'
  /** No concurrency slot came free within the wait. */
  | 'busy'
  /** LLM_MAX_CALLS_PER_HOUR was reached: the note goes out deterministic, and is not retried. */
  | 'capped';

export class NarrationError extends Error {
  constructor(
    readonly reason: NarrationFailure,
    message: string,
    /** When the model could be worth asking again (an open breaker's remaining cool-down, Retry-After). */
    readonly retryAfterMs?: number,
    /** What the calls made before the failure cost. */
    public llm?: LlmUsage,
  ) {
    super(message);
    this.name = 'NarrationError';
  }

  /**
   * The request may have reached the model and cost it work: a timeout, an answer that was
   * rejected, a 500. Only a narration whose request never got that far (no slot, an open
   * breaker, the call cap, a refused connection, a 429 or a 502/503/504 from the server or a
   * proxy in front of it) is worth asking again: one model call per group, ever.
   */
  get reachedModel(): boolean {
    if (this.reason === 'busy' || this.reason === 'circuit_open' || this.reason === 'capped' || this.reason === 'aborted') return false;
    if (this.reason === 'rate_limited' || this.unsent) return false;
    return true;
  }

  /** Set when the connection failed before the request was sent (ECONNREFUSED and the like), or a gateway answered 502/503/504. */
  unsent = false;

  /** Counts towards the circuit breaker: the model (or the way to it) misbehaved. */
  get countsAsFailure(): boolean {
    return this.reason !== 'aborted' && this.reason !== 'circuit_open' && this.reason !== 'busy' && this.reason !== 'capped';
  }
}
