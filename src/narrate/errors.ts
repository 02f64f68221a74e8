import type { FailureReason } from '../clients/http';

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
  | 'busy';

export class NarrationError extends Error {
  constructor(
    readonly reason: NarrationFailure,
    message: string,
    /** When the model could be worth asking again (an open breaker's remaining cool-down, Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'NarrationError';
  }

  /** Counts towards the circuit breaker: the model (or the way to it) misbehaved. */
  get countsAsFailure(): boolean {
    return this.reason !== 'aborted' && this.reason !== 'circuit_open' && this.reason !== 'busy';
  }
}
