/**
 * The callback queue the Callback step sends its token to, and its dead-letter queue.
 */
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import { messageRetentionSeconds, type BridgeConfig } from "./config";

export interface CallbackQueues {
  callbackQueue: sqs.Queue;
  deadLetterQueue: sqs.Queue;
}

/** The callback queue and its dead-letter queue, both encrypted and keeping messages 14 days. */
export function createCallbackQueues(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): CallbackQueues {
  // A dead letter's retention counts from its first enqueue: keep it the longest SQS allows.
  const deadLetterQueue = new sqs.Queue(
    `${name}-callbacks-dlq`,
    {
      name: `${config.callbackQueueName}-dlq`,
      messageRetentionSeconds,
      sqsManagedSseEnabled: true,
    },
    { parent },
  );
  const callbackQueue = new sqs.Queue(
    `${name}-callbacks`,
    {
      name: config.callbackQueueName,
      visibilityTimeoutSeconds: config.callbackVisibilityTimeoutSeconds,
      messageRetentionSeconds,
      sqsManagedSseEnabled: true,
      redrivePolicy: deadLetterQueue.arn.apply((deadLetterTargetArn) =>
        JSON.stringify({
          deadLetterTargetArn,
          // Every poll of a running job is a receive: the count covers the longest wait (poll-schedule.ts).
          maxReceiveCount: config.callbackMaxReceiveCount,
        }),
      ),
    },
    { parent },
  );
  return { callbackQueue, deadLetterQueue };
}
