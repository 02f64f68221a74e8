/** What the receiver gets back once the queue holds a notification. */
export interface EnqueueResult {
  /** Derived from the notification: an identical re-delivery gets the same id and is not added again. */
  jobId: string;
}
