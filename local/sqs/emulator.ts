/**
 * The `local-aws-sqs` emulator (the queues and their messages) loaded to run on simulated time.
 *
 * The emulator reads the time through the global `setTimeout`, `setInterval`, their `clear*` and
 * `Date.now()` (visibility timeouts, delays, retention, the receive wait, timestamps), and has no option to
 * change them. Rather than replace those globals for the whole process, we load the emulator's single
 * bundled file ourselves with those names bound, as function parameters, to the clock's versions: only the
 * emulator sees simulated time, and each server gets its own instance and clock.
 *
 * Two defects are fixed by exact, checked substitutions in the emulator's source (loading fails loudly,
 * naming the patch, if an upgrade changed the text):
 * - It counted ChangeMessageVisibility as a receive (ApproximateReceiveCount + 1), so a redrive policy
 *   moved a message to the dead-letter queue after half the receives AWS allows.
 * - ReceiveMessage first looked at the queue 10 ms after the call and a short poll always waited 40 ms: on
 *   a frozen clock it never answered, and at high speed the microseconds of wall time the call takes
 *   became seconds of delay. Patched, it looks at once, and answers at once when it is a short poll or found
 *   messages (as SQS does); a long poll that finds nothing still waits in simulated time.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { compileFunction } from "node:vm";
import type * as LocalAwsSqs from "local-aws-sqs";
import type { ClockGlobals, SimClock, SimTimer } from "../time/clock";

/** Exact substitutions in the emulator's bundled source; each must match exactly once. */
const sourcePatches: readonly { why: string; find: string; replace: string }[] = [
  {
    why: "ChangeMessageVisibility must not count as a receive",
    find: "let n=Number(t.record.attributes.ApproximateReceiveCount)+1;",
    replace: "let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);",
  },
  {
    why: "ReceiveMessage must look at the queue at once and a short poll must answer at once",
    // `c` is the scan interval (a SimTimer, whose callback is the scan), `n` the wait deadline, `t` the
    // wait in seconds, `r` the messages taken, `o` resolves the receive.
    find: "c.unref(),yield a,r.map(y=>y.record)",
    replace:
      "c.unref(),c.callback(),(t>0&&!r.length)||(clearInterval(c),clearTimeout(n),o()),yield a,r.map(y=>y.record)",
  },
];

let emulatorSource: { filename: string; text: string } | undefined;

/**
 * Loads a fresh instance of the emulator whose timers and `Date` are the clock's, and a function that
 * cancels every timer it still has pending.
 */
export function loadEmulator(clock: SimClock): { emulator: typeof LocalAwsSqs; cancelTimers: () => void } {
  if (!emulatorSource) {
    const filename = require.resolve("local-aws-sqs");
    let text = readFileSync(filename, "utf8");
    for (const patch of sourcePatches) {
      const occurrences = text.split(patch.find).length - 1;
      if (occurrences !== 1) {
        throw new Error(
          `local-aws-sqs at ${filename} no longer matches the patch "${patch.why}" ` +
            `(found ${occurrences} times): check the installed version against package-lock.json`,
        );
      }
      text = text.replace(patch.find, patch.replace);
    }
    emulatorSource = { filename, text };
  }
  const { filename, text } = emulatorSource;
  const timeNames = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] as const;
  const wrapper = compileFunction(
    text,
    ["exports", "require", "module", "__filename", "__dirname", ...timeNames],
    { filename },
  );
  const module = { exports: {} as typeof LocalAwsSqs };
  const pending = new Set<SimTimer>();
  const forget = (timer: SimTimer | undefined | null): void => {
    if (timer) pending.delete(timer);
    clock.clearTimeout(timer);
  };
  const globals: ClockGlobals = {
    ...clock.globals(),
    setTimeout: (callback, delayMs, ...args) => {
      const timer = clock.setTimeout(() => {
        pending.delete(timer);
        callback(...args);
      }, delayMs);
      pending.add(timer);
      return timer;
    },
    setInterval: (callback, delayMs, ...args) => {
      const timer = clock.setInterval(callback, delayMs, ...args);
      pending.add(timer);
      return timer;
    },
    clearTimeout: forget,
    clearInterval: forget,
  };
  wrapper(
    module.exports,
    createRequire(filename),
    module,
    filename,
    filename.replace(/[\\/][^\\/]*$/, ""),
    ...timeNames.map((name) => globals[name]),
  );
  return {
    emulator: module.exports,
    cancelTimers: () => {
      for (const timer of pending) clock.clearTimeout(timer);
      pending.clear();
    },
  };
}
