/**
 * SageMaker's part for executions started through its API (the records flush starts one per batch): each
 * execution's steps run in order as the pipeline definition says, the Lambda step by invoking its function
 * and the Callback step by sending the callback message and waiting for the step's answer, and when the
 * execution ends its status-change event is published, as SageMaker sends it to EventBridge.
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { PipelineDefinition } from "../../infra/pipeline-definition";
import type { PipelineExecution, PipelineExecutionStatus, SageMakerServer } from "../sagemaker/server";
import { executionStatusChangeEvent } from "../sagemaker/status-events";
import type { SimClock } from "../time/clock";
import type { Track } from "./event-sources";
import type { LambdaService } from "./lambda";
import {
  lambdaStepOutputs,
  resolveArguments,
  resolveParameters,
  type ExecutionScope,
  type ParameterValue,
  type PipelineStep,
} from "./pipeline-interpreter";

/** SageMaker gives up on a Lambda step after 10 minutes. */
const lambdaStepLimitSeconds = 600;

export interface PipelineRunsDeps {
  clock: SimClock;
  sageMakerServer: SageMakerServer;
  lambda: LambdaService;
  sqs: SQSClient;
  definition: PipelineDefinition;
  identity: { region: string; accountId: string };
  /** Where status-change events go (the rules' event delivery). */
  publish(event: unknown): void;
  track: Track;
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
      scope = {
        executionArn,
        executionId: executionArn.slice(executionArn.lastIndexOf("/") + 1),
        pipelineName: execution.pipelineName,
        parameters: resolveParameters(definition, given),
        stepOutputs: {},
      };
    } catch (error) {
      this.end(executionArn, "Failed", (error as Error).message);
      return;
    }
    for (const step of definition.Steps) {
      const status = sageMakerServer.execution(executionArn)?.status;
      if (status === "Stopping" || status === "Stopped") {
        this.end(executionArn, "Stopped", "Pipeline execution stopped before the step started.");
        return;
      }
      const failure =
        step.Type === "Lambda" ? await this.lambdaStep(step, scope) : await this.callbackStep(step, scope);
      if (failure !== undefined) return;
    }
    this.end(executionArn, "Succeeded");
  }

  /** Runs a Lambda step; resolves to the status the execution ended with, or undefined to go on. */
  private async lambdaStep(
    step: Extract<PipelineStep, { Type: "Lambda" }>,
    scope: ExecutionScope,
  ): Promise<PipelineExecutionStatus | undefined> {
    const { sageMakerServer, lambda, clock } = this.deps;
    sageMakerServer.startStep(scope.executionArn, step.Name, "Lambda");
    let reason: string | undefined;
    try {
      const args = resolveArguments(step.Arguments, scope, step.Name);
      const startedAt = clock.now();
      const result = await lambda.invoke(step.FunctionArn, args);
      if ((clock.now() - startedAt) / 1000 > lambdaStepLimitSeconds) {
        reason = `Step ${step.Name} timed out: a Lambda step ends after ${lambdaStepLimitSeconds / 60} minutes.`;
      } else if (!result.ok) {
        reason = `Step ${step.Name} failed: ${result.message}`;
      } else {
        const outputs = lambdaStepOutputs(step, result.value);
        if (outputs.ok) scope.stepOutputs[step.Name] = outputs.outputs;
        else reason = outputs.reason;
      }
    } catch (error) {
      reason = (error as Error).message;
    }
    sageMakerServer.endStep(
      scope.executionArn,
      step.Name,
      reason === undefined ? "Succeeded" : "Failed",
      reason,
    );
    if (reason === undefined) return undefined;
    this.end(scope.executionArn, "Failed", reason);
    return "Failed";
  }

  /** Runs a Callback step: the token, the callback message, the wait for the step's answer. */
  private async callbackStep(
    step: Extract<PipelineStep, { Type: "Callback" }>,
    scope: ExecutionScope,
  ): Promise<PipelineExecutionStatus | undefined> {
    const { sageMakerServer, sqs } = this.deps;
    const executionArn = scope.executionArn;
    sageMakerServer.startStep(executionArn, step.Name, "Callback");
    const args = resolveArguments(step.Arguments, scope, step.Name);
    const { token, answer } = sageMakerServer.startCallbackStep(executionArn, step.Name);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: step.SqsQueueUrl,
        MessageBody: JSON.stringify({
          token,
          pipelineExecutionArn: executionArn,
          arguments: args,
          status: "Executing",
        }),
      }),
    );
    const accepted = await answer;
    // The server has ended the step, and the execution with a failure or a stop.
    const status = sageMakerServer.execution(executionArn)?.status;
    if (status === "Stopped" || status === "Failed") {
      this.announce(executionArn, status);
      return status;
    }
    if (accepted.outcome === "failure") {
      this.end(executionArn, "Failed", accepted.failureReason ?? "");
      return "Failed";
    }
    scope.stepOutputs[step.Name] = Object.fromEntries(
      (accepted.outputParameters ?? []).map((o) => [o.Name ?? "", o.Value ?? ""]),
    );
    return undefined;
  }

  private end(executionArn: string, status: "Succeeded" | "Failed" | "Stopped", reason?: string): void {
    this.deps.sageMakerServer.setExecutionStatus(executionArn, status, reason);
    this.announce(executionArn, status);
  }

  /** The execution's status-change event, published as SageMaker sends it. */
  private announce(executionArn: string, status: "Succeeded" | "Failed" | "Stopped"): void {
    this.ends[status] += 1;
    const execution = this.deps.sageMakerServer.execution(executionArn)!;
    this.deps.publish(
      executionStatusChangeEvent(execution, "Executing", this.deps.identity, this.deps.clock.now()),
    );
  }
}
