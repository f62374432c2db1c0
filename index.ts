/**
 * sagemaker-batch-bridge: run AWS Batch (Fargate) jobs as a step of a SageMaker pipeline.
 * Reads and validates the stack config, builds the bridge, exports what an operator needs.
 */
import { BatchBridge } from "./infra/bridge";
import { loadConfig } from "./infra/config";

const config = loadConfig();
const bridge = new BatchBridge("batch-bridge", { config });

export const pipelineName = bridge.pipelineName;
export const pipelineArn = bridge.pipelineArn;
export const callbackQueueUrl = bridge.callbackQueueUrl;
export const deadLetterQueueUrl = bridge.deadLetterQueueUrl;
export const jobQueueArn = bridge.jobQueueArn;
export const jobDefinitionArn = bridge.jobDefinitionArn;
export const submitFunctionName = bridge.submitFunctionName;
export const monitorFunctionName = bridge.monitorFunctionName;
export const dataBucketName = bridge.dataBucketName;
export const startExecutionCommand = bridge.startExecutionCommand;
// Only with completionEvents: statusTableName, eventFunctionName (an export left undefined would make
// Pulumi warn on every update).
Object.assign(module.exports, bridge.completionEvents);
