/** Helpers every source shares: a bounded fan-out of requests and one time budget per source. */

/** Runs `fn` over `items`, at most `limit` at a time, keeping each outcome (like Promise.allSettled). */
export async function settleLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i]!) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Milliseconds left before `deadline`; a spent budget still gives a request 1 ms to fail cleanly as a timeout. */
export function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

export function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/**
 * `http://user:pass@host/` is how many people configure basic auth, but fetch refuses URLs
 * with credentials: move them into an Authorization header (never into logs: errors print
 * redactUrl of the clean URL).
 */
export function splitCredentials(raw: string): { url: string; headers: Record<string, string> } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: raw.replace(/\/+$/, ''), headers: {} };
  const token = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  u.username = '';
  u.password = '';
  return { url: u.toString().replace(/\/+$/, ''), headers: { Authorization: `Basic ${token}` } };
}
