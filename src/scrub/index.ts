/** The PII/secret scrubber (docs/architecture.md, "scrub"): sessions for jobs, a stream for the CLI. */
export type { Scrubber } from './types';
export { createScrubber } from './scrubber';
export { scrubStream } from './stream';
