import type { Scrubber } from './types';

export type { Scrubber } from './types';

/**
 * Placeholder session until the scrubber lands: masks nothing. Replaced by the real
 * PII/secret scrubber (issue 4); the export's name and shape stay.
 */
export function createScrubber(): Scrubber {
  return {
    scrub: (text) => text,
    scrubValue: (value) => structuredClone(value),
  };
}
