/** A bounded fan-out of requests, shared by the sources and the Loki dedup check. */

/** Refused before it was sent: the caller's deadline had passed. */
export class DeadlinePassedError extends Error {
  constructor() {
    super('deadline passed; not sent');
    this.name = 'DeadlinePassedError';
  }
}

/**
 * Runs `fn` over `items`, at most `limit` at a time, keeping each outcome (like
 * Promise.allSettled). Once `deadline` (epoch ms) has passed, the items not yet started are
 * not started at all: they are rejected with DeadlinePassedError.
 */
export async function settleLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  deadline = Infinity,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      if (Date.now() >= deadline) {
        out[i] = { status: 'rejected', reason: new DeadlinePassedError() };
        continue;
      }
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
