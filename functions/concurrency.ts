/**
 * Bounded concurrency and a fixed client-side request rate, for the bursts of Batch calls one execution
 * needs (up to 10,000 SubmitJob or TerminateJob calls).
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

/**
 * Hands out call slots `1000 / perSecond` ms apart. Its rate is fixed: throttling never lowers it (AWS
 * throttles calls of every caller sharing an account quota, so slowing one caller down does not cure it),
 * and a caller that gives up takes no slot, so a warm container's next invocation finds it as new.
 */
export interface Pacer {
  readonly perSecond: number;
  /**
   * Waits for the next free slot and takes it; resolves false at once, taking nothing, when that slot
   * would come after `deadline` (epoch ms).
   */
  take(deadline?: number): Promise<boolean>;
}

/** A pacer of `perSecond` calls a second on `clock`. */
export function createPacer(perSecond: number, clock: Clock): Pacer {
  const intervalMs = 1000 / perSecond;
  let nextSlot = -Infinity;
  return {
    perSecond,
    async take(deadline = Infinity) {
      const now = clock.now();
      const slot = Math.max(now, nextSlot);
      if (slot > deadline) return false;
      nextSlot = slot + intervalMs;
      if (slot > now) await clock.sleep(slot - now);
      return true;
    },
  };
}
