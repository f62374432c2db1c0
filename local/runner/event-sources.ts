/**
 * What Lambda does for a function subscribed to a queue (an event source mapping) and for one that is the
 * target of an EventBridge rule, so that the runner can do it for the functions it loads.
 *
 * SQS (Lambda developer guide, "Using Lambda with Amazon SQS"): receive up to `batchSize` messages (which
 * hides them for the queue's visibility timeout and counts a receive), invoke the function with them, then
 * delete what succeeded. A thrown error deletes nothing: the whole batch comes back once its visibility
 * ends. With `ReportBatchItemFailures` the function returns `{batchItemFailures: [{itemIdentifier}]}` and
 * every other message is deleted; a response naming a message that was not in the batch fails the whole
 * batch. At most `maximumConcurrency` batches are in flight. With a batching window (or a batch size over
 * 10, which needs one), Lambda gathers messages, 10 a receive, and invokes when it holds `batchSize`, when
 * the window has passed since the first, or when the batch reaches the 6 MB invocation limit (Lambda
 * Developer Guide, "Batching behavior").
 *
 * EventBridge routes every event of an AWS service (Batch's job state changes, SageMaker's pipeline
 * execution status changes) to each enabled rule on the default bus whose pattern matches, and delivers it
 * to each of the rule's targets, late and at least once: services deliver their events to EventBridge "at
 * least once" (EventBridge user guide, "Event delivery from AWS services"), SageMaker "may send multiple
 * events ... for each state change", and a target can get one twice (`duplicateDeliveries`). To a Lambda
 * function it is an asynchronous invocation: a failed one is retried twice, after about one and two minutes
 * (Lambda's defaults), then dropped. To an SQS queue it is a message whose body is the event's JSON, which
 * the queue's own event source mapping then delivers.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { SimClock, SimTimer } from "../time/clock";
import type { EventRuleTarget, QueueSubscription } from "../designs/design";
import type { LambdaService } from "./lambda";

/** SQS returns at most 10 messages per receive and deletes at most 10 per DeleteMessageBatch. */
const sqsBatchLimit = 10;
/** A synchronous invocation's payload, which a gathered batch stays within (6 MB). */
const invocationPayloadLimitBytes = 6_291_456;
/** Lambda retries a failed asynchronous invocation (at most twice) after about these delays (seconds). */
export const asyncRetryDelaysSeconds = [60, 120];

/** Starts work the runner must wait for (and whose unexpected errors end the run). */
export type Track = (work: Promise<unknown>) => void;

/** Polls one queue for one function, as Lambda's event source mapping does. */
export class QueueEventSource {
  private batchesInFlight = 0;
  /** With a batching window: the batch being gathered, its size, and whether its window has passed. */
  private gathered: Message[] = [];
  private gatheredBytes = 0;
  private windowTimer: SimTimer | undefined;
  private windowPassed = false;

  constructor(
    readonly subscription: QueueSubscription,
    private readonly deps: {
      sqs: SQSClient;
      lambda: LambdaService;
      region: string;
      /** Hand every batch to two concurrent invocations (a message delivered twice). */
      duplicateDeliveries: boolean;
      track: Track;
      /** Needed for a batching window, which runs on it. */
      clock?: SimClock;
      /**
       * The messages a receive would find now, known without a request (the local server's state):
       * Lambda's pollers long-poll, so they receive a message as soon as it is visible and never at a
       * moment when none is; the runner receives only then.
       */
      visibleMessages?: (queueUrl: string) => number | undefined;
    },
  ) {}

  /** Batches being handled now. */
  get inFlight(): number {
    return this.batchesInFlight;
  }

  /** Messages received and held for a batch still being gathered. */
  get gathering(): number {
    return this.gathered.length;
  }

  /** True when Lambda gathers batches over a window rather than invoking with each receive. */
  private get batching(): boolean {
    return (
      (this.subscription.maximumBatchingWindowSeconds ?? 0) > 0 || this.subscription.batchSize > sqsBatchLimit
    );
  }

  /**
   * Receives one batch if there is room for one and starts its invocation(s). Resolves to true when it
   * received messages (so that the caller polls again), false when the queue had none.
   */
  async poll(): Promise<boolean> {
    const { subscription, deps } = this;
    if (
      subscription.maximumConcurrency !== undefined &&
      this.batchesInFlight >= subscription.maximumConcurrency
    ) {
      return false;
    }
    if (deps.visibleMessages?.(subscription.queueUrl) === 0) {
      // Nothing to receive; a gathered batch whose window has passed is handed over all the same.
      if (!this.batching || this.gathered.length === 0 || !this.windowPassed) return false;
      this.invokeGathered();
      return true;
    }
    const wanted = this.batching ? subscription.batchSize - this.gathered.length : subscription.batchSize;
    const { Messages = [] } = await deps.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: subscription.queueUrl,
        MaxNumberOfMessages: Math.min(wanted, sqsBatchLimit),
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
    );
    if (!this.batching) {
      if (Messages.length === 0) return false;
      this.invoke(Messages);
      return true;
    }
    for (const message of Messages) this.gather(message);
    if (this.gathered.length >= subscription.batchSize) this.invokeGathered();
    else if (Messages.length === 0 && this.gathered.length > 0 && this.windowPassed) this.invokeGathered();
    else return Messages.length > 0;
    return true;
  }

  private invoke(messages: readonly Message[]): void {
    const event: SQSEvent = { Records: messages.map((message) => this.record(message)) };
    for (let copy = 0; copy < (this.deps.duplicateDeliveries ? 2 : 1); copy++)
      this.deps.track(this.deliver(event));
  }

  /** Adds a message to the batch being gathered; the first starts the window, 6 MB hands the batch over. */
  private gather(message: Message): void {
    const bytes = Buffer.byteLength(message.Body ?? "");
    if (this.gathered.length > 0 && this.gatheredBytes + bytes > invocationPayloadLimitBytes)
      this.invokeGathered();
    if (this.gathered.length === 0) {
      const clock = this.deps.clock;
      if (!clock)
        throw new Error(`A batching window on ${this.subscription.queueUrl} needs the simulated clock.`);
      this.windowPassed = false;
      this.windowTimer = clock.setTimeout(
        () => {
          this.windowPassed = true;
        },
        (this.subscription.maximumBatchingWindowSeconds ?? 0) * 1000,
      );
    }
    this.gathered.push(message);
    this.gatheredBytes += bytes;
  }

  private invokeGathered(): void {
    const batch = this.gathered;
    this.gathered = [];
    this.gatheredBytes = 0;
    if (this.windowTimer) this.deps.clock?.clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.windowPassed = false;
    if (batch.length > 0) this.invoke(batch);
  }

  private async deliver(event: SQSEvent): Promise<void> {
    this.batchesInFlight += 1;
    try {
      const result = await this.deps.lambda.invoke(this.subscription.functionArn, event);
      if (!result.ok) return;
      const failed = this.subscription.reportBatchItemFailures
        ? failedRecords(result.value, event.Records)
        : new Set<string>();
      if (failed === "all") return;
      await this.delete(event.Records.filter((record) => !failed.has(record.messageId)));
    } finally {
      this.batchesInFlight -= 1;
    }
  }

  private async delete(records: SQSRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += sqsBatchLimit) {
      const entries = records
        .slice(start, start + sqsBatchLimit)
        .map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle }));
      // A message delivered twice may already be gone: SQS reports that per entry, not as an error.
      await this.deps.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: this.subscription.queueUrl, Entries: entries }),
      );
    }
  }

  /** A received message as Lambda puts it in the event. */
  private record(message: Message): SQSRecord {
    const attributes = (message.Attributes ?? {}) as Record<string, string>;
    return {
      messageId: message.MessageId ?? "",
      receiptHandle: message.ReceiptHandle ?? "",
      body: message.Body ?? "",
      attributes: {
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
        SentTimestamp: attributes.SentTimestamp ?? "",
        SenderId: attributes.SenderId ?? "",
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? "",
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
          name,
          {
            stringValue: value.StringValue,
            binaryValue: value.BinaryValue && Buffer.from(value.BinaryValue).toString("base64"),
            stringListValues: [],
            binaryListValues: [],
            dataType: value.DataType ?? "String",
          },
        ]),
      ),
      md5OfBody: message.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.subscription.queueArn,
      awsRegion: this.deps.region,
    };
  }
}

/**
 * The messages a ReportBatchItemFailures response names, or "all" when the response is not one Lambda
 * accepts (an identifier that is empty or not in the batch).
 */
export function failedRecords(response: unknown, records: readonly SQSRecord[]): Set<string> | "all" {
  if (response === undefined || response === null) return new Set();
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return "all";
  const ids = new Set(records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== "string" || !ids.has(id)) return "all";
    failed.add(id);
  }
  return failed;
}

/** What the runner counts of the events: by source, how many matched a rule; deliveries made. */
export interface EventCounts {
  /** Events that matched a rule (once per rule). */
  matched: number;
  /** Deliveries made (duplicates and Lambda's retries included). */
  delivered: number;
  /** Events that matched a rule, by source (`aws.batch`, `aws.sagemaker`). */
  matchedBySource: Record<string, number>;
  /** Of the deliveries, those to SQS queues. */
  deliveredToQueues: number;
}

/** An event as EventBridge sees it: its source is what the summary counts by. */
interface ServiceEvent {
  source?: unknown;
}

/** Routes events to the rules' targets after a delay, retrying failed Lambda invocations as Lambda does. */
export class EventDelivery {
  private pending = 0;
  private readonly counted: EventCounts = {
    matched: 0,
    delivered: 0,
    matchedBySource: {},
    deliveredToQueues: 0,
  };

  constructor(
    private readonly rules: readonly EventRuleTarget[],
    private readonly deps: {
      clock: SimClock;
      lambda: LambdaService;
      sqs: SQSClient;
      delayMs: number;
      /** Deliver every event twice (EventBridge delivers at least once). */
      duplicateDeliveries: boolean;
      track: Track;
    },
  ) {}

  /** Deliveries scheduled and not yet handed over (retries included). */
  get scheduled(): number {
    return this.pending;
  }

  /** What was routed so far. */
  counts(): EventCounts {
    return structuredClone(this.counted);
  }

  /** Routes one event: each rule it matches gets it, after the delay. */
  publish(event: ServiceEvent): void {
    for (const rule of this.rules) {
      if (!rule.matches(event)) continue;
      this.counted.matched += 1;
      const source = String(event.source);
      this.counted.matchedBySource[source] = (this.counted.matchedBySource[source] ?? 0) + 1;
      for (let copy = 0; copy < (this.deps.duplicateDeliveries ? 2 : 1); copy++) {
        this.schedule(rule, event, this.deps.delayMs, 0);
      }
    }
  }

  private schedule(rule: EventRuleTarget, event: unknown, delayMs: number, retry: number): void {
    this.pending += 1;
    this.deps.clock.setTimeout(() => {
      this.pending -= 1;
      this.deps.track(this.deliver(rule, event, retry));
    }, delayMs);
  }

  private async deliver(rule: EventRuleTarget, event: unknown, retry: number): Promise<void> {
    this.counted.delivered += 1;
    const { target } = rule;
    if (target.kind === "sqs") {
      this.counted.deliveredToQueues += 1;
      await this.deps.sqs.send(
        new SendMessageCommand({ QueueUrl: target.queueUrl, MessageBody: JSON.stringify(event) }),
      );
      return;
    }
    // Each delivery is its own copy of the event, as each invocation gets its own.
    const result = await this.deps.lambda.invoke(target.functionArn, structuredClone(event));
    if (!result.ok && retry < Math.min(target.retryAttempts, asyncRetryDelaysSeconds.length)) {
      this.schedule(rule, event, asyncRetryDelaysSeconds[retry] * 1000, retry + 1);
    }
  }
}
