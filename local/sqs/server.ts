/**
 * SQS on loopback: the `local-aws-sqs` emulator, run on simulated time (see emulator.ts), behind a thin
 * front of ours that counts calls by operation, makes what was due before a request visible to it, and
 * fixes one request shape (checked against @aws-sdk/client-sqs 3.1169, which speaks AWS JSON 1.0):
 * ReceiveMessage ignored `MessageSystemAttributeNames` (the SDK's current name for `AttributeNames`), so
 * no ApproximateReceiveCount or SentTimestamp came back. The front copies it to `AttributeNames`.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { CallCounter, listenOnLoopback, readBody, sendJson, type RunningServer } from "../http";
import type { SimClock } from "../time/clock";
import { loadEmulator } from "./emulator";
import type { RequestListener } from "../in-process-http";

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
  /** The listener its socket calls (for an in-process transport). */
  requestListener: RequestListener;
  region: string;
  accountId: string;
  /** Calls received so far, by operation (`SendMessage`, `ReceiveMessage`, ...). */
  calls(): Record<string, number>;
  /**
   * The messages a receive on the queue (by URL or name) would find now (visible and not delayed), read
   * from the emulator's state without a request; undefined for a queue it does not hold.
   */
  visibleMessages(queueUrlOrName: string): number | undefined;
}

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

  const requestListener: RequestListener = (request, response) => {
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
  };
  const listening = await listenOnLoopback(requestListener);
  // Queue URLs carry the port, which is known only now.
  service.PORT = listening.port;

  return {
    endpoint: listening.endpoint,
    requestListener,
    stop: async () => {
      await listening.stop();
      // Retention and visibility timers must not outlive the server on a clock that goes on.
      cancelTimers();
    },
    region,
    accountId,
    calls: () => calls.toJSON(),
    visibleMessages: (queueUrlOrName) => {
      // What was due before now counts, as for a request (a message sent with no delay is visible).
      options.clock.fireDueTimers();
      const name = queueUrlOrName.slice(queueUrlOrName.lastIndexOf("/") + 1);
      const queue = service.Queues.find((q) => q.QueueName === name);
      if (!queue) return undefined;
      // The emulator counts every message not delayed, in flight included, as ApproximateNumberOfMessages.
      const attributes = queue.getAttributes([
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
      ]) as Record<string, string>;
      return (
        Number(attributes.ApproximateNumberOfMessages) -
        Number(attributes.ApproximateNumberOfMessagesNotVisible)
      );
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
