/**
 * A seeded pseudo-random source, so that a scenario with `--seed N` injects the same throttling and mints
 * the same tokens on every run.
 */

/** Returns numbers in [0, 1) from a 32-bit seed (mulberry32: small, fast, good enough for simulation). */
export function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** A string of `length` characters from `alphabet` (default: letters and digits). */
export function randomString(random: () => number, length: number, alphabet = alphanumeric): string {
  let text = "";
  for (let i = 0; i < length; i += 1) text += alphabet[Math.floor(random() * alphabet.length)];
  return text;
}
