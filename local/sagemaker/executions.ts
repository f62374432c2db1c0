/**
 * The pipeline executions SageMaker holds here: each execution's status and the step it runs (the runner
 * starts and ends each step), the callback tokens of its Callback steps, the answers with their simulated
 * times, and stop requests. An answer is accepted as AWS accepts it: for a known token, once per token (a
 * repeat with the same ClientRequestToken gets the first answer's response), while the execution has not
 * ended. Every status change after the start is announced as the EventBridge event SageMaker sends.
 *
 * A stop (StopPipelineExecution) makes an executing execution Stopping; it becomes Stopped when the step
 * it runs ends. A Lambda step cannot be stopped: it runs to its end, then the execution stops and no later
 * step starts. A Callback step ends when its token is answered (the runner sends it the `Stopping`
 * message). With no step running, the execution stops at once.
 */
import type { OutputParameter, Parameter } from "@aws-sdk/client-sagemaker";
import type { SimClock } from "../time/clock";
import { randomString } from "../time/random";
import { sageMakerLimits, SageMakerError, type StepAnswerRequest } from "./requests";
import {
  pipelineExecutionStatusChangeEvent,
  type PipelineExecutionStatus,
  type PipelineExecutionStatusChangeEvent,
} from "./status-events";

export type { PipelineExecutionStatus } from "./status-events";

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
  /** Its type as the definition names it: Lambda, Callback, Training, ... */
  stepType: string;
  status: StepStatus;
  /** Simulated ms. */
  startedAt: number;
  endedAt?: number;
  failureReason?: string;
  /** A Lambda step's outputs, a Callback step's on success (ListPipelineExecutionSteps' Metadata). */
  outputParameters?: OutputParameter[];
}

/** A pipeline execution as the server holds it. */
export interface PipelineExecution {
  executionArn: string;
  pipelineArn: string;
  pipelineName: string;
  /** As given, else `execution-<creation time in epoch ms>`, as SageMaker names it. */
  displayName: string;
  status: PipelineExecutionStatus;
  failureReason?: string;
  parameters: Parameter[];
  /** Simulated ms. */
  createdAt: number;
  lastModifiedAt: number;
  /** When it ended (Succeeded, Failed or Stopped), in simulated ms. */
  endedAt?: number;
  /** When StopPipelineExecution was first called, in simulated ms. */
  stopRequestedAt?: number;
  /** The step running now, if any (its type as the definition names it: Lambda, Callback, Training, ...). */
  runningStep?: { name: string; type: string };
  steps: CallbackStep[];
  /** Every step started, in order, with how it ended (ListPipelineExecutionSteps). */
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
  private readonly statusListeners = new Set<(event: PipelineExecutionStatusChangeEvent) => void>();
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
      displayName: input.displayName ?? `execution-${now}`,
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

  /** Changes an execution's status and announces the change (nothing happens for the same status). */
  setStatus(execution: PipelineExecution, status: PipelineExecutionStatus, failureReason?: string): void {
    const previous = execution.status;
    const now = this.clock.now();
    execution.status = status;
    if (failureReason !== undefined) execution.failureReason = failureReason;
    execution.lastModifiedAt = now;
    if (status === previous) return;
    if (terminalStatuses.includes(status)) {
      execution.endedAt = now;
      execution.runningStep = undefined;
    }
    const event = pipelineExecutionStatusChangeEvent(
      {
        pipelineArn: execution.pipelineArn,
        pipelineExecutionArn: execution.executionArn,
        pipelineExecutionDisplayName: execution.displayName,
        currentPipelineExecutionStatus: status,
        previousPipelineExecutionStatus: previous,
        executionStartTime: new Date(execution.createdAt).toISOString(),
        ...(execution.endedAt !== undefined
          ? { executionEndTime: new Date(execution.endedAt).toISOString() }
          : {}),
      },
      this.identity,
      now,
    );
    for (const listener of this.statusListeners) listener(event);
  }

  /**
   * StopPipelineExecution: an executing execution is Stopping until the step it runs ends (at once when it
   * runs none); a stopping one stays so; an ended one cannot be stopped.
   */
  stop(execution: PipelineExecution): void {
    if (execution.status === "Executing") {
      this.setStatus(execution, "Stopping");
      execution.stopRequestedAt = this.clock.now();
      for (const listener of this.stopListeners) listener(execution);
      if (!execution.runningStep) this.setStatus(execution, "Stopped");
    } else if (execution.status !== "Stopping") {
      throw new SageMakerError(
        "ConflictException",
        `Pipeline execution is ${execution.status} and cannot be stopped`,
      );
    }
  }

  /** A Lambda step starts: it runs to its end, even if the execution is stopped meanwhile. */
  startLambdaStep(executionArn: string, stepName: string): void {
    this.startStep(executionArn, stepName, "Lambda");
  }

  /**
   * A step the runner plays starts (a Lambda step, or a step of another type that SageMaker runs itself,
   * such as a Training step); `endStep` ends it.
   */
  startStep(executionArn: string, stepName: string, type: string): void {
    if (type === "Callback")
      throw new Error(`step ${stepName}: a Callback step starts with startCallbackStep`);
    const execution = this.runnable(executionArn, stepName);
    execution.runningStep = { name: stepName, type };
    this.recordStepStart(execution, stepName, type);
  }

  /**
   * The Lambda step ended, failing with `failureReason` or not, with the outputs it returned. A stopping
   * execution stops now; a failed step fails the execution. Returns the execution's status.
   */
  endLambdaStep(
    executionArn: string,
    failureReason?: string,
    outputParameters?: OutputParameter[],
  ): PipelineExecutionStatus {
    const execution = this.executions.get(executionArn);
    if (execution?.runningStep?.type !== "Lambda") {
      throw new Error(`endLambdaStep: execution ${executionArn} runs no Lambda step`);
    }
    const run = execution.stepRuns.at(-1);
    if (failureReason === undefined && outputParameters && run) run.outputParameters = outputParameters;
    return this.endStep(executionArn, failureReason);
  }

  /**
   * The running step (not a Callback step, which ends with its answer) ended, failing with `failureReason`
   * or not. A stopping execution stops now; a failed step fails the execution. Returns the status.
   */
  endStep(executionArn: string, failureReason?: string): PipelineExecutionStatus {
    const execution = this.executions.get(executionArn);
    if (!execution?.runningStep || execution.runningStep.type === "Callback") {
      throw new Error(`endStep: execution ${executionArn} runs no step that ends this way`);
    }
    this.recordStepEnd(
      execution,
      execution.runningStep.name,
      execution.status === "Stopping" ? "Stopped" : failureReason !== undefined ? "Failed" : "Succeeded",
      failureReason,
    );
    execution.runningStep = undefined;
    if (execution.status === "Stopping") this.setStatus(execution, "Stopped");
    else if (failureReason !== undefined) this.setStatus(execution, "Failed", failureReason);
    return execution.status;
  }

  private recordStepStart(execution: PipelineExecution, stepName: string, stepType: string): void {
    execution.stepRuns.push({ stepName, stepType, status: "Executing", startedAt: this.clock.now() });
  }

  /** The step's run ends, with its reason when it did not succeed. */
  private recordStepEnd(
    execution: PipelineExecution,
    stepName: string,
    status: StepStatus,
    failureReason: string | undefined,
  ): void {
    const run = [...execution.stepRuns]
      .reverse()
      .find((r) => r.stepName === stepName && r.endedAt === undefined);
    if (!run) return;
    run.status = status;
    run.endedAt = this.clock.now();
    if (failureReason !== undefined) run.failureReason = failureReason;
  }

  /** The execution, which must be executing to start a step. */
  private runnable(executionArn: string, stepName: string): PipelineExecution {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new Error(`step ${stepName}: no execution ${executionArn}`);
    if (execution.status !== "Executing" || execution.runningStep) {
      throw new Error(
        `step ${stepName} cannot start: execution ${executionArn} is ${execution.status}` +
          (execution.runningStep ? ` and runs ${execution.runningStep.name}` : ""),
      );
    }
    return execution;
  }

  /** Starts a Callback step: mints its token and returns it with a promise of the step's first answer. */
  startCallbackStep(executionArn: string, stepName: string): { token: string; answer: Promise<StepAnswer> } {
    const execution = this.runnable(executionArn, stepName);
    execution.runningStep = { name: stepName, type: "Callback" };
    this.recordStepStart(execution, stepName, "Callback");
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

  /** Called with the event of every status change after an execution's start; returns unsubscribe. */
  onStatusChange(listener: (event: PipelineExecutionStatusChangeEvent) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The answer's effect: the step is done; a failure fails the execution; a stopping execution stops. */
  private accept(step: CallbackStep, answer: StepAnswer): void {
    step.answer = answer;
    const execution = this.executions.get(step.executionArn)!;
    if (execution.runningStep?.name === step.stepName) execution.runningStep = undefined;
    // A step's answer ends it: a stopping execution's step is Stopped, whatever the answer.
    this.recordStepEnd(
      execution,
      step.stepName,
      execution.status === "Stopping" ? "Stopped" : answer.outcome === "failure" ? "Failed" : "Succeeded",
      answer.failureReason,
    );
    const run = [...execution.stepRuns].reverse().find((r) => r.stepName === step.stepName);
    if (run?.status === "Succeeded") run.outputParameters = answer.outputParameters;
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
