/**
 * The records' queues (recordApi): the buffer that holds accepted records until their batch starts, its
 * dead-letter queue for batches that could not be started, and the queue that keeps execution-end events
 * the status function could not handle after every retry.
 */
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import { bufferMessageLimitBytes, flushAttempts } from "../functions/records/contract";
import { messageRetentionSeconds, type BridgeConfig } from "./config";

export interface RecordQueues {
  bufferQueue: sqs.Queue;
  bufferDeadLetterQueue: sqs.Queue;
  failedEventQueue: sqs.Queue;
}

/**
 * Lambda's advice for a queue a function consumes: a visibility timeout of six times the function's
 * timeout plus the batching window (Lambda Developer Guide, "Using Lambda with Amazon SQS"), so that a
 * batch is not handed out again while it is being flushed, throttled invocations included.
 */
export function bufferVisibilityTimeoutSeconds(config: BridgeConfig): number {
  return 6 * config.monitorTimeoutSeconds + config.recordBatchWindowSeconds;
}

/** The queues, encrypted (SQS managed keys) and keeping messages 14 days. */
export function createRecordQueues(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): RecordQueues {
  const opts = { parent };
  const bufferDeadLetterQueue = new sqs.Queue(
    `${name}-records-dlq`,
    {
      name: `${config.recordQueueName}-dlq`,
      messageRetentionSeconds,
      maxMessageSize: bufferMessageLimitBytes,
      sqsManagedSseEnabled: true,
    },
    opts,
  );
  const bufferQueue = new sqs.Queue(
    `${name}-records`,
    {
      name: config.recordQueueName,
      visibilityTimeoutSeconds: bufferVisibilityTimeoutSeconds(config),
      messageRetentionSeconds,
      // A record may be as large as SQS allows a message to be (1 MiB, not the 256 KiB default).
      maxMessageSize: bufferMessageLimitBytes,
      sqsManagedSseEnabled: true,
      redrivePolicy: bufferDeadLetterQueue.arn.apply((deadLetterTargetArn) =>
        JSON.stringify({
          deadLetterTargetArn,
          // The flush function dead-letters a batch itself at its flushAttempts-th receive, marking its records
          // Failed; the redrive is the backstop for a function that dies on those receives.
          maxReceiveCount: flushAttempts + 2,
        }),
      ),
    },
    opts,
  );
  const failedEventQueue = new sqs.Queue(
    `${name}-records-status-dlq`,
    { name: `${config.recordQueueName}-status-dlq`, messageRetentionSeconds, sqsManagedSseEnabled: true },
    opts,
  );
  return { bufferQueue, bufferDeadLetterQueue, failedEventQueue };
}
