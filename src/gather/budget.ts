/** Helpers every source shares: a bounded fan-out of requests and one time budget per source. */

/** Runs `fn` over `items`, at most `limit` at a time, keeping each outcome (like Promise.allSettled). */
export async function settleLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
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
