/**
 * Partial success (`minSuccessRatio`): a step succeeds once every shard has finished and at least that
 * share of them succeeded, and fails as soon as too many have failed for the share to be reached.
 */

/** The ratio when nothing sets one: every shard must succeed. */
export const defaultMinSuccessRatio = 1;

/** What a ratio may be, for messages: 0 < r <= 1. */
export const minSuccessRatioAllowed = "a number greater than 0 and at most 1, e.g. 0.9";

/** The ratio in `value` (a number, or a decimal string as a step argument or output carries it). */
export function parseMinSuccessRatio(value: unknown): number | undefined {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) return undefined;
  const ratio = Number(text);
  return ratio > 0 && ratio <= 1 ? ratio : undefined;
}

/** The fewest shards that must succeed: ceil(ratio x shards), never below 1. */
export function requiredSuccesses(shardCount: number, ratio: number): number {
  // 0.9 x 20 is 18.000000000000004 in floating point: round away such noise before the ceiling.
  return Math.max(1, Math.ceil(Math.round(ratio * shardCount * 1e9) / 1e9));
}

/** The most shards that may fail with the step still succeeding. */
export function toleratedFailures(shardCount: number, ratio: number): number {
  return shardCount - requiredSuccesses(shardCount, ratio);
}

/**
 * The FailedShards output: the failed shards' indexes joined by commas ("3,7,12"), then " and N more" for
 * those that are not named (not known, or beyond the `limit` characters of a step output value).
 */
export function failedShardList(named: readonly number[], failed: number, limit: number): string {
  const sorted = [...named].sort((a, b) => a - b);
  const render = (count: number) => {
    const rest = failed - count;
    return sorted.slice(0, count).join(",") + (rest > 0 ? `${count > 0 ? " and " : ""}${rest} more` : "");
  };
  let count = Math.min(sorted.length, failed);
  while (count > 0 && render(count).length > limit) count -= 1;
  return render(count);
}
