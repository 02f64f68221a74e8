/**
 * A scrubber session: one per job, so the same value gets the same placeholder
 * (`<EMAIL_1>`, `<TOKEN_2>`) everywhere in that job and correlation survives.
 */
export interface Scrubber {
  /** Replaces PII and secrets in one string. */
  scrub(text: string): string;
  /** Scrubs every string inside a JSON-like value (keys included), returning a copy. */
  scrubValue<T>(value: T): T;
}
