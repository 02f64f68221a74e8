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

  /** Counts towards the circuit breaker: the model (or the way to it) misbehaved. */
  get countsAsFailure(): boolean {
    return this.reason !== 'aborted' && this.reason !== 'circuit_open' && this.reason !== 'busy' && this.reason !== 'capped';
  }
}
