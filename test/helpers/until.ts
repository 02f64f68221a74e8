/**
 * Polls `probe` until it answers something other than `undefined` or `false`, and returns
 * that; throws after `timeoutMs`, with `context()` (e.g. a process's output) in the message.
 * Boolean checks and "find the record" probes both fit.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  context?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context ? `\n${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
