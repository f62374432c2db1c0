/**
 * SageMaker's part for executions started through its API (the records flush starts one per batch): each
 * execution's steps run in order as the pipeline definition says, the Lambda step by invoking its function
 * and the Callback step by sending the callback message and waiting for the step's answer. The server
 * announces every status change as SageMaker's EventBridge event.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { PipelineDefinition } from "../../infra/pipeline-definition";
import type { PipelineExecution, PipelineExecutionStatus, SageMakerServer } from "../sagemaker/server";
import type { TransformJobs } from "../sagemaker/transform-jobs";
import type { SimClock } from "../time/clock";
import type { Track } from "./event-sources";
import type { LambdaService } from "./lambda";
import {
  callbackStepOutputs,
  executionScope,
  lambdaStepLimitSeconds,
  lambdaStepOutputs,
  lambdaStepTimedOut,
  resolveArguments,
  resolveParameters,
  type DefinitionStep,
  type ExecutionScope,
  type ParameterValue,
  type PipelineStep,
} from "./pipeline-interpreter";
import { runTransformStep } from "./transform-step";

export interface PipelineRunsDeps {
  clock: SimClock;
  sageMakerServer: SageMakerServer;
  lambda: LambdaService;
  sqs: SQSClient;
  definition: PipelineDefinition;
  track: Track;
  /** The local SageMaker's transform jobs, which Transform steps run on. */
  transformJobs?: TransformJobs;
}

/** Runs every execution started, each to its end. */
export class PipelineRuns {
  private active = 0;
  private readonly ends: Record<"Succeeded" | "Failed" | "Stopped", number> = {
    Succeeded: 0,
    Failed: 0,
    Stopped: 0,
  };

  constructor(private readonly deps: PipelineRunsDeps) {}

  /** Executions still running. */
  get running(): number {
    return this.active;
  }

  /** Executions ended, by status. */
  outcomes(): Record<"Succeeded" | "Failed" | "Stopped", number> {
    return { ...this.ends };
  }

  /** Runs an execution's steps (call it for every execution started). */
  start(execution: PipelineExecution): void {
    this.active += 1;
    this.deps.track(
      this.run(execution).finally(() => {
        this.active -= 1;
        const status = this.deps.sageMakerServer.execution(execution.executionArn)?.status;
        if (status === "Succeeded" || status === "Failed" || status === "Stopped") this.ends[status] += 1;
      }),
    );
  }

  private async run(execution: PipelineExecution): Promise<void> {
    const { definition, sageMakerServer } = this.deps;
    const executionArn = execution.executionArn;
    let scope: ExecutionScope;
    try {
      const given: Record<string, ParameterValue> = Object.fromEntries(
        execution.parameters.map((p) => [p.Name ?? "", p.Value ?? ""]),
      );
      scope = executionScope(executionArn, execution.pipelineName, resolveParameters(definition, given));
    } catch (error) {
      sageMakerServer.setExecutionStatus(executionArn, "Failed", (error as Error).message);
      return;
    }
    for (const step of definition.Steps) {
      // A stopped execution starts no further step.
      if (sageMakerServer.execution(executionArn)?.status !== "Executing") return;
      if (step.Type === "Transform" && this.deps.transformJobs) {
        const { status } = await runTransformStep(
          { sageMakerServer, transformJobs: this.deps.transformJobs },
          step as unknown as DefinitionStep,
          scope,
        );
        if (status !== "Executing") return;
        continue;
      }
      if (step.Type !== "Lambda" && step.Type !== "Callback") {
        const { Name, Type } = step as { Name: string; Type: string };
        sageMakerServer.setExecutionStatus(
          executionArn,
          "Failed",
          `Step ${Name}: ${Type} steps are not run here.`,
        );
        return;
      }
      const ended =
        step.Type === "Lambda" ? await this.lambdaStep(step, scope) : await this.callbackStep(step, scope);
      if (ended !== undefined) return;
    }
    sageMakerServer.setExecutionStatus(executionArn, "Succeeded");
  }

  /** Runs a Lambda step; resolves to the status the execution ended with, or undefined to go on. */
  private async lambdaStep(
    step: Extract<PipelineStep, { Type: "Lambda" }>,
    scope: ExecutionScope,
  ): Promise<PipelineExecutionStatus | undefined> {
    const { sageMakerServer, lambda, clock } = this.deps;
    sageMakerServer.startLambdaStep(scope.executionArn, step.Name);
    let reason: string | undefined;
    let outputs: Record<string, ParameterValue> | undefined;
    try {
      const args = resolveArguments(step.Arguments, scope, step.Name);
      const startedAt = clock.now();
      const result = await lambda.invoke(step.FunctionArn, args);
      if ((clock.now() - startedAt) / 1000 > lambdaStepLimitSeconds) {
        reason = lambdaStepTimedOut(step.Name);
      } else if (!result.ok) {
        reason = `Step ${step.Name} failed: ${result.message}`;
      } else {
        const read = lambdaStepOutputs(step, result.value);
        if (read.ok) scope.stepOutputs[step.Name] = outputs = read.outputs;
        else reason = read.reason;
      }
    } catch (error) {
      reason = (error as Error).message;
    }
    // A failed step fails the execution; a stop requested meanwhile stops it now.
    const status = sageMakerServer.endLambdaStep(
      scope.executionArn,
      reason,
      outputs && Object.entries(outputs).map(([Name, value]) => ({ Name, Value: String(value) })),
    );
    return status === "Executing" ? undefined : status;
  }

  /** Runs a Callback step: the token, the callback message, the wait for the step's answer. */
  private async callbackStep(
    step: Extract<PipelineStep, { Type: "Callback" }>,
    scope: ExecutionScope,
  ): Promise<PipelineExecutionStatus | undefined> {
    const { sageMakerServer, sqs } = this.deps;
    const executionArn = scope.executionArn;
    const args = resolveArguments(step.Arguments, scope, step.Name);
    const { token, answer } = sageMakerServer.startCallbackStep(executionArn, step.Name);
    const send = (status: "Executing" | "Stopping") =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: step.SqsQueueUrl,
          MessageBody: JSON.stringify({ token, pipelineExecutionArn: executionArn, arguments: args, status }),
        }),
      );
    await send("Executing");
    // A stop while the step waits: SageMaker sends the step's queue an extra message with status Stopping,
    // and the execution stops once the step is answered (SageMaker Developer Guide, "Callback step").
    const stopping = () => this.deps.track(send("Stopping").then(() => undefined));
    if (sageMakerServer.execution(executionArn)?.status === "Stopping") stopping();
    const unsubscribe = sageMakerServer.onStopRequested((execution) => {
      if (execution.executionArn === executionArn) stopping();
    });
    const accepted = await answer.finally(unsubscribe);
    // The answer has ended the step, and the execution with a failure or a stop.
    const status = sageMakerServer.execution(executionArn)?.status;
    if (status !== undefined && status !== "Executing") return status;
    if (accepted.outcome === "failure") return "Failed";
    scope.stepOutputs[step.Name] = callbackStepOutputs(accepted);
    return undefined;
  }
}
