/**
 * SQS on loopback: the `local-aws-sqs` emulator, run on simulated time, behind a thin adapter of ours.
 *
 * Simulated time: the emulator reads the time through the global `setTimeout`, `setInterval`, their
 * `clear*` and `Date.now()` (visibility timeouts, delays, retention, the receive wait, timestamps), and has
 * no option to change them. Rather than replace those globals for the whole process, we load the
 * emulator's single bundled file ourselves with those names bound, as function parameters, to the clock's
 * versions: only the emulator sees simulated time, and each server gets its own instance and clock.
 *
 * What the adapter fixes (checked against @aws-sdk/client-sqs 3.1169, which speaks AWS JSON 1.0):
 * - The emulator counted ChangeMessageVisibility as a receive (ApproximateReceiveCount + 1), so a redrive
 *   policy moved a message to the dead-letter queue after half the receives AWS allows.
 * - ReceiveMessage first looked at the queue 10 ms after the call and a short poll always waited 40 ms:
 *   on a frozen clock it never answered, and at high speed the microseconds of wall time the call takes
 *   became seconds of delay. It now looks at once, and answers at once when it is a short poll or found
 *   messages (as SQS does); a long poll that finds nothing still waits in simulated time.
 *   Both are exact, checked substitutions in the emulator's source: loading fails loudly, naming the
 *   patch, if an upgrade changed the text.
 * - ReceiveMessage ignored `MessageSystemAttributeNames` (the SDK's current name for `AttributeNames`), so
 *   no ApproximateReceiveCount or SentTimestamp came back. The adapter copies it to `AttributeNames`.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { Readable } from "node:stream";
import { compileFunction } from "node:vm";
import type * as LocalAwsSqs from "local-aws-sqs";
import type { ClockGlobals, SimClock, SimTimer } from "../time/clock";
import { CallCounter, listenOnLoopback, readBody, sendJson, type RunningServer } from "../http";

export interface SqsServerOptions {
  /** The simulated clock the queues keep time by. */
  clock: SimClock;
  /** Region in queue ARNs (default us-east-1). */
  region?: string;
  /** Account in queue URLs and ARNs (default 123456789012). */
  accountId?: string;
}

/** A running SQS emulator. */
export interface SqsServer extends RunningServer {
  region: string;
  accountId: string;
  /** Calls received so far, by operation (`SendMessage`, `ReceiveMessage`, ...). */
  calls(): Record<string, number>;
}

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

const jsonContentType = "application/x-amz-json-1.0";

/** Starts the emulator on 127.0.0.1 and a free port. */
export async function startSqs(options: SqsServerOptions): Promise<SqsServer> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "123456789012";
  const { emulator, cancelTimers } = loadEmulator(options.clock);
  const { service, requestHandler } = emulator.createRequestHandler({
    port: 0,
    hostname: "127.0.0.1",
    region,
    accountId,
  });
  const calls = new CallCounter();

  const listening = await listenOnLoopback((request, response) => {
    void (async () => {
      try {
        const body = await readBody(request);
        const json = request.headers["content-type"] === jsonContentType;
        const operation = json
          ? String(request.headers["x-amz-target"] ?? "").replace(/^AmazonSQS\./, "")
          : (new URLSearchParams(body.toString("utf8")).get("Action") ?? "");
        calls.add(operation || "Unknown");
        const forwarded = json && operation === "ReceiveMessage" ? withAttributeNames(body) : body;
        // A message sent just before must be receivable now, not once its zero-delay timer has run.
        options.clock.fireDueTimers();
        await requestHandler(replayRequest(request, forwarded), response);
      } catch (error) {
        if (!response.headersSent) {
          sendJson(response, 500, { __type: "InternalError", message: String(error) }, jsonContentType);
        }
      }
    })();
  });
  // Queue URLs carry the port, which is known only now.
  service.PORT = listening.port;

  return {
    endpoint: listening.endpoint,
    stop: async () => {
      await listening.stop();
      // Retention and visibility timers must not outlive the server on a clock that goes on.
      cancelTimers();
    },
    region,
    accountId,
    calls: () => calls.toJSON(),
  };
}

let emulatorSource: { filename: string; text: string } | undefined;

/**
 * Loads a fresh instance of the emulator whose timers and `Date` are the clock's, and a function that
 * cancels every timer it still has pending.
 */
function loadEmulator(clock: SimClock): { emulator: typeof LocalAwsSqs; cancelTimers: () => void } {
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

/** ReceiveMessage with `MessageSystemAttributeNames` also sent as `AttributeNames`, which the emulator reads. */
function withAttributeNames(body: Buffer): Buffer {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  } catch {
    return body;
  }
  const systemNames = input.MessageSystemAttributeNames;
  if (!Array.isArray(systemNames)) return body;
  const legacyNames = Array.isArray(input.AttributeNames) ? (input.AttributeNames as unknown[]) : [];
  input.AttributeNames = [...new Set([...legacyNames, ...systemNames])];
  return Buffer.from(JSON.stringify(input), "utf8");
}

/** The request again, with its body replaced, for the emulator's handler (which reads the stream). */
function replayRequest(original: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from(body.length > 0 ? [body] : []);
  return Object.assign(replay, {
    headers: original.headers,
    method: original.method,
    url: original.url,
  }) as unknown as IncomingMessage;
}
