/** How many messages local queues hold, as the runner reads them to know when a run has drained. */
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";

/**
 * Messages on the queues, visible, in flight or delayed (one GetQueueAttributes each, counted in
 * `bookkeeping` so that the run's figures can leave them out).
 */
export async function countQueueMessages(
  sqs: SQSClient,
  queueUrls: readonly string[],
  bookkeeping: Record<string, number> = {},
): Promise<number> {
  let total = 0;
  for (const queueUrl of queueUrls) {
    bookkeeping.GetQueueAttributes = (bookkeeping.GetQueueAttributes ?? 0) + 1;
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          "ApproximateNumberOfMessages",
          "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed",
        ],
      }),
    );
    total +=
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0);
  }
  return total;
}
