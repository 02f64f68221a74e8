/** What the receiver gets back once the queue holds a notification. */
export interface EnqueueResult {
  /** Derived from the notification: an identical re-delivery gets the same id and is not added again. */
  jobId: string;
  /** A job with this id was already in the queue (waiting, active, retrying or just completed): nothing was added. */
  duplicate: boolean;
}

/** The queue refused the notification for what it is (it cannot be serialised), not for an outage: retrying cannot help. */
export class UnstorablePayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnstorablePayloadError';
  }
}
