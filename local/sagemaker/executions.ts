/**
 * The pipeline executions SageMaker holds here: each execution's status, the callback tokens of its
 * Callback steps (the runner registers one when a step starts), the answers with their simulated times,
 * and stop requests. An answer is accepted as AWS accepts it: for a known token, once per token (a repeat
 * with the same ClientRequestToken gets the first answer's response), while the execution has not ended.
 */
import type { OutputParameter, Parameter } from "@aws-sdk/client-sagemaker";
import type { SimClock } from "../time/clock";
import { randomString } from "../time/random";
import { sageMakerLimits, SageMakerError, type StepAnswerRequest } from "./requests";

export type PipelineExecutionStatus = "Executing" | "Stopping" | "Stopped" | "Failed" | "Succeeded";

/** A Callback step's answer, as accepted. */
export interface StepAnswer {
  outcome: "success" | "failure";
  /** Success: the output parameters sent. */
  outputParameters?: OutputParameter[];
  /** Failure: the reason sent. */
  failureReason?: string;
  clientRequestToken?: string;
  /** Simulated ms. */
  answeredAt: number;
}

/** A Callback step of an execution. */
export interface CallbackStep {
  executionArn: string;
  stepName: string;
  /** The token put in the callback message. */
  token: string;
  /** Simulated ms. */
  startedAt: number;
  answer?: StepAnswer;
}

/** A step's status, as ListPipelineExecutionSteps shows it. */
export type StepStatus = "Executing" | "Stopping" | "Stopped" | "Failed" | "Succeeded";

/** A step of an execution that has started, with how it ended. */
export interface StepRun {
  stepName: string;
  stepType: "Lambda" | "Callback";
  status: StepStatus;
  /** Simulated ms. */
  startedAt: number;
  endedAt?: number;
  failureReason?: string;
}

/** A pipeline execution as the server holds it. */
export interface PipelineExecution {
  executionArn: string;
  pipelineArn: string;
  pipelineName: string;
  displayName?: string;
  status: PipelineExecutionStatus;
  failureReason?: string;
  parameters: Parameter[];
  /** Simulated ms. */
  createdAt: number;
  lastModifiedAt: number;
  /** When StopPipelineExecution was first called, in simulated ms. */
  stopRequestedAt?: number;
  steps: CallbackStep[];
  /** Every step started, in order (the runner reports them; a Callback step ends with its answer). */
  stepRuns: StepRun[];
}

/** What starts an execution. */
export interface ExecutionStart {
  /** The pipeline's name or ARN. */
  pipelineName: string;
  parameters?: Parameter[];
  displayName?: string;
}

const terminalStatuses: readonly PipelineExecutionStatus[] = ["Stopped", "Failed", "Succeeded"];

/** The executions of one account and region. */
export class PipelineExecutions {
  private readonly executions = new Map<string, PipelineExecution>();
  private readonly steps = new Map<string, CallbackStep>();
  private readonly answerWaiters = new Map<string, (answer: StepAnswer) => void>();
  private readonly startTokens = new Map<string, string>();
  private readonly startedListeners = new Set<(execution: PipelineExecution) => void>();
  private readonly stopListeners = new Set<(execution: PipelineExecution) => void>();
  private readonly knownPipelines: Set<string> | undefined;

  constructor(
    private readonly clock: SimClock,
    private readonly identity: { region: string; accountId: string; pipelines?: string[] },
    private readonly random: () => number,
  ) {
    this.knownPipelines = identity.pipelines && new Set(identity.pipelines);
  }

  /** The execution, or undefined. */
  find(executionArn: string): PipelineExecution | undefined {
    return this.executions.get(executionArn);
  }

  /** The execution; ResourceNotFound when there is none. */
  require(executionArn: string): PipelineExecution {
    const execution = this.executions.get(executionArn);
    if (!execution) {
      throw new SageMakerError("ResourceNotFound", `Pipeline execution ${executionArn} does not exist`);
    }
    return execution;
  }

  /** Every execution, oldest first. */
  all(): PipelineExecution[] {
    return [...this.executions.values()];
  }

  /** Starts an execution; ResourceNotFound for a pipeline that does not exist. */
  start(input: ExecutionStart): PipelineExecution {
    const name = input.pipelineName.startsWith("arn:")
      ? input.pipelineName.split("/").at(-1)!
      : input.pipelineName;
    if (this.knownPipelines && !this.knownPipelines.has(name)) {
      throw new SageMakerError("ResourceNotFound", `Pipeline ${name} does not exist`);
    }
    const now = this.clock.now();
    const executionArn = `${this.pipelineArn(name)}/execution/${randomString(this.random, 12, "abcdefghijklmnopqrstuvwxyz0123456789")}`;
    const execution: PipelineExecution = {
      executionArn,
      pipelineArn: this.pipelineArn(name),
      pipelineName: name,
      displayName: input.displayName,
      status: "Executing",
      parameters: (input.parameters ?? []).map((p) => ({ ...p })),
      createdAt: now,
      lastModifiedAt: now,
      steps: [],
      stepRuns: [],
    };
    this.executions.set(executionArn, execution);
    for (const listener of this.startedListeners) listener(execution);
    return execution;
  }

  /** The execution StartPipelineExecution started with this ClientRequestToken, if one did. */
  startedWith(clientRequestToken: string): string | undefined {
    return this.startTokens.get(clientRequestToken);
  }

  /** Remembers which execution a ClientRequestToken started, so a repeat gets the same one. */
  rememberStart(clientRequestToken: string, executionArn: string): void {
    this.startTokens.set(clientRequestToken, executionArn);
  }

  setStatus(execution: PipelineExecution, status: PipelineExecutionStatus, failureReason?: string): void {
    execution.status = status;
    if (failureReason !== undefined) execution.failureReason = failureReason;
    execution.lastModifiedAt = this.clock.now();
  }

  /** StopPipelineExecution: an executing execution is Stopping until its step is answered. */
  stop(execution: PipelineExecution): void {
    if (execution.status === "Executing") {
      this.setStatus(execution, "Stopping");
      execution.stopRequestedAt = this.clock.now();
      for (const listener of this.stopListeners) listener(execution);
    } else if (execution.status !== "Stopping") {
      throw new SageMakerError(
        "ConflictException",
        `Pipeline execution is ${execution.status} and cannot be stopped`,
      );
    }
  }

  /** A step has started (Executing). */
  startStep(execution: PipelineExecution, stepName: string, stepType: StepRun["stepType"]): void {
    execution.stepRuns.push({ stepName, stepType, status: "Executing", startedAt: this.clock.now() });
  }

  /** A step has ended, with its reason when it failed or was stopped. */
  endStep(execution: PipelineExecution, stepName: string, status: StepStatus, failureReason?: string): void {
    const run = [...execution.stepRuns]
      .reverse()
      .find((r) => r.stepName === stepName && r.endedAt === undefined);
    if (!run) return;
    run.status = status;
    run.endedAt = this.clock.now();
    if (failureReason !== undefined) run.failureReason = failureReason;
  }

  /** Starts a Callback step: mints its token and returns it with a promise of the step's first answer. */
  startCallbackStep(executionArn: string, stepName: string): { token: string; answer: Promise<StepAnswer> } {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new Error(`startCallbackStep: no execution ${executionArn}`);
    let token = randomString(this.random, sageMakerLimits.callbackTokenLength);
    while (this.steps.has(token)) token = randomString(this.random, sageMakerLimits.callbackTokenLength);
    const step: CallbackStep = { executionArn, stepName, token, startedAt: this.clock.now() };
    execution.steps.push(step);
    this.steps.set(token, step);
    const answer = new Promise<StepAnswer>((resolve) => this.answerWaiters.set(token, resolve));
    return { token, answer };
  }

  /** SendPipelineExecutionStep{Success,Failure}: the step's execution ARN once the answer is accepted. */
  answer(request: StepAnswerRequest): string {
    const { token, outcome, clientRequestToken, outputParameters, failureReason } = request;
    const step = this.steps.get(token);
    if (!step) throw new SageMakerError("ResourceNotFound", `Callback token ${token} does not exist`);
    const execution = this.executions.get(step.executionArn)!;
    if (step.answer) {
      const same =
        clientRequestToken !== undefined &&
        clientRequestToken === step.answer.clientRequestToken &&
        outcome === step.answer.outcome &&
        JSON.stringify(outputParameters) === JSON.stringify(step.answer.outputParameters) &&
        failureReason === step.answer.failureReason;
      if (same) return step.executionArn;
      throw new SageMakerError("ConflictException", `Callback token ${token} has already been answered`);
    }
    if (terminalStatuses.includes(execution.status)) {
      throw new SageMakerError("ConflictException", `Pipeline execution is ${execution.status}`);
    }
    this.accept(step, {
      outcome,
      outputParameters,
      failureReason,
      clientRequestToken,
      answeredAt: this.clock.now(),
    });
    return step.executionArn;
  }

  /** Called for every execution started; returns unsubscribe. */
  onExecutionStarted(listener: (execution: PipelineExecution) => void): () => void {
    this.startedListeners.add(listener);
    return () => this.startedListeners.delete(listener);
  }

  /** Called when a stop moves an execution to Stopping; returns unsubscribe. */
  onStopRequested(listener: (execution: PipelineExecution) => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** The answer's effect: the step is done; a failure fails the execution; a stopping execution stops. */
  private accept(step: CallbackStep, answer: StepAnswer): void {
    step.answer = answer;
    const execution = this.executions.get(step.executionArn)!;
    // A step's answer ends it: a stopping execution's step is Stopped, whatever the answer.
    this.endStep(
      execution,
      step.stepName,
      execution.status === "Stopping" ? "Stopped" : answer.outcome === "failure" ? "Failed" : "Succeeded",
      answer.failureReason,
    );
    if (execution.status === "Stopping") this.setStatus(execution, "Stopped");
    else if (answer.outcome === "failure") this.setStatus(execution, "Failed", answer.failureReason ?? "");
    else execution.lastModifiedAt = answer.answeredAt;
    this.answerWaiters.get(step.token)?.(answer);
    this.answerWaiters.delete(step.token);
  }

  private pipelineArn(name: string): string {
    return `arn:aws:sagemaker:${this.identity.region}:${this.identity.accountId}:pipeline/${name.toLowerCase()}`;
  }
}
