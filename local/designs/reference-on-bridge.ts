/**
 * The reference design as the runner runs it: on the bridge's Batch resources, data bucket and region, with
 * its own pipeline, callback queue (no dead-letter queue), submit and monitor functions.
 */
import { BatchClient } from "@aws-sdk/client-batch";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import type { DesignRequest, LambdaFunctionSpec, PreparedDesign, QueueDeclaration } from "./design";
import { referenceDesign } from "./reference-design";

/**
 * The reference design on the bridge's Batch resources, data bucket and region: its own pipeline, callback
 * queue (no dead-letter queue), submit and monitor functions.
 */
export function referenceDesignOn(
  bridge: PreparedDesign,
  scenario: Pick<DesignRequest, "shards">,
): PreparedDesign {
  const { region, accountId } = bridge;
  const pipelineName = "batch-bridge-reference";
  const reference = referenceDesign({
    jobQueue: `arn:aws:batch:${region}:${accountId}:job-queue/${bridge.batch.jobQueues[0]}`,
    jobDefinition: Object.keys(bridge.batch.jobDefinitions)[0],
    jobNamePrefix: "reference",
  });
  const queueName = `${pipelineName}-callbacks`;
  const queue: QueueDeclaration = {
    name: queueName,
    url: `https://sqs.${region}.amazonaws.com/${accountId}/${queueName}`,
    arn: `arn:aws:sqs:${region}:${accountId}:${queueName}`,
    attributes: { VisibilityTimeout: String(reference.queue.visibilityTimeoutSeconds) },
  };
  const functionArn = (name: string) => `arn:aws:lambda:${region}:${accountId}:function:${name}`;
  const defaults = Object.fromEntries(bridge.definition.Parameters.map((p) => [p.Name, p.DefaultValue]));
  const definition = reference.pipelineDefinition({
    submitFunctionArn: functionArn(`${pipelineName}-submit`),
    callbackQueueUrl: queue.url,
    inputUri: String(defaults.InputUri),
    outputUri: String(defaults.OutputUri),
    shardCount: scenario.shards,
  });

  return {
    ...bridge,
    design: "reference",
    pipelineName,
    definition,
    mode: "jobs",
    configOverrides: Object.fromEntries(
      Object.entries(bridge.configOverrides).filter(([key]) => key !== "submitMode"),
    ),
    queues: [queue],
    deadLetterQueueNames: [],
    tables: [],
    subscriptions: [
      {
        queueUrl: queue.url,
        queueArn: queue.arn,
        functionArn: functionArn(`${pipelineName}-monitor`),
        batchSize: reference.queue.batchSize,
        reportBatchItemFailures: reference.queue.reportBatchItemFailures,
      },
    ],
    rules: [],
    functions: (env) => {
      // The reference's functions build their clients with the SDK's defaults (standard retries).
      const handlers = () =>
        reference.makeHandlers({
          batch: new BatchClient({ region, endpoint: env.AWS_ENDPOINT_URL_BATCH }),
          sagemaker: new SageMakerClient({ region, endpoint: env.AWS_ENDPOINT_URL_SAGEMAKER }),
        });
      const spec = (role: "submit" | "monitor"): LambdaFunctionSpec => ({
        name: `reference-${role}`,
        functionName: `${pipelineName}-${role}`,
        arn: functionArn(`${pipelineName}-${role}`),
        // The reference declares no timeout: Lambda's maximum (the Lambda step still ends at 10 minutes).
        timeoutSeconds: 900,
        memoryMiB: 128,
        load: () => {
          const made = handlers();
          return role === "submit" ? (event) => made.submit(event) : (event) => made.monitor(event as never);
        },
      });
      return [spec("submit"), spec("monitor")];
    },
  };
}
