/**
 * sagemaker-batch-bridge: run AWS Batch (Fargate) jobs as a step of a SageMaker pipeline.
 * Reads the stack config, builds the bridge (which checks it), exports what an operator needs.
 */
import { BatchBridge } from "./infra/bridge";
import { stackSettings } from "./infra/config";

const bridge = new BatchBridge("batch-bridge", { config: stackSettings() });

export const pipelineName = bridge.pipelineName;
export const pipelineArn = bridge.pipelineArn;
export const callbackQueueUrl = bridge.callbackQueueUrl;
export const deadLetterQueueUrl = bridge.deadLetterQueueUrl;
export const jobQueueArn = bridge.jobQueueArn;
export const jobDefinitionArn = bridge.jobDefinitionArn;
export const submitFunctionName = bridge.submitFunctionName;
export const submitFunctionArn = bridge.submitFunctionArn;
export const pipelineRolePolicy = bridge.pipelineRolePolicy;
export const monitorFunctionName = bridge.monitorFunctionName;
export const cleanupFunctionName = bridge.cleanupFunctionName;
export const cleanupDeadLetterQueueUrl = bridge.cleanupDeadLetterQueueUrl;
export const dataBucketName = bridge.dataBucketName;
export const statusTableName = bridge.statusTableName;
export const startExecutionCommand = bridge.startExecutionCommand;
export const dashboardName = bridge.dashboardName;
// Only with completionEvents: eventFunctionName (an export left undefined would make Pulumi warn on every
// update).
Object.assign(module.exports, bridge.completionEvents);
// Only with recordApi: the records API's endpoint, key id and command, table and queues.
Object.assign(module.exports, bridge.recordApi);
