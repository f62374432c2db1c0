/**
 * Bounded concurrency and a client-side request rate, for the bursts of Batch calls one execution needs
 * (up to 10,000 SubmitJob or TerminateJob calls).
 */
import type { Clock } from "./clock";

/**
 * Runs `work` on every item with at most `limit` calls in flight; results keep the items' order. The
 * first error stops new calls from starting and is rethrown once the calls in flight have settled.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** Spaces calls `1000 / perSecond` ms apart: `await acquire()` before each call. */
export function createRateLimiter(perSecond: number, clock: Clock): () => Promise<void> {
  const intervalMs = 1000 / perSecond;
  let nextSlot = 0;
  return async () => {
    const now = clock.now();
    const slot = Math.max(now, nextSlot);
    nextSlot = slot + intervalMs;
    if (slot > now) await clock.sleep(slot - now);
  };
}
