/** Helpers every source shares: a bounded fan-out of requests and one time budget per source. */
export { DeadlinePassedError, settleLimited } from '../clients/limit';

/** Milliseconds left before `deadline`; a spent budget still gives a request 1 ms to fail cleanly as a timeout. */
export function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

export function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
