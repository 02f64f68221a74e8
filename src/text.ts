/**
 * Small text and timing helpers shared by narrate, publish and the annotation record, so
 * that the record, the Slack thread and the PagerDuty event clip and word things alike.
 */

/** Cuts `s` to at most `max` characters, marking the cut with an ellipsis. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** `clip` after folding whitespace (newlines included) into single spaces: one line of text. */
export function clipOneLine(s: string, max: number): string {
  return clip(s.replace(/\s+/g, ' ').trim(), max);
}

/** Resolves after `ms`, or at once when the signal aborts; leaves no listener behind. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * How long an alert fired, in the words both the record and the Slack message use (they
 * used to round differently, so one message said "1 min" and "under 1 min"): minutes,
 * rounded to the nearest, then hours.
 */
export function formatDuration(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (min < 1) return 'under 1 min';
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return `${h} h ${min % 60} min`;
}

/** JavaScript's `\s` (whitespace and line terminators), by char code, for scanners that avoid a regex per character. */
export function isSpace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
