/**
 * SageMaker Pipelines on loopback for the operations around a Callback step, speaking the AWS JSON 1.1
 * protocol of @aws-sdk/client-sagemaker: `POST /` with `X-Amz-Target: SageMaker.<Operation>`; errors are
 * `{"__type", "Message"}` with the code also in `x-amzn-errortype`; timestamps are epoch seconds.
 *
 * It keeps what the runner needs: executions, the callback tokens of their Callback steps (the runner
 * registers one when a step starts), the answers with their simulated times, and stop requests. Answers
 * are checked as AWS checks them (field limits, unknown token, one answer per token, ClientRequestToken
 * idempotency), and every call is counted, rejected ones too.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OutputParameter, Parameter } from "@aws-sdk/client-sagemaker";
import type { SimClock } from "../time/clock";
import {
  CallCounter,
  listenOnLoopback,
  parseJsonObject,
  readBody,
  sendJson,
  type RunningServer,
} from "../http";
import { randomString, seededRandom } from "../time/random";

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
}

export interface SageMakerServerOptions {
  clock: SimClock;
  /** Region and account in ARNs (defaults us-east-1, 123456789012). */
  region?: string;
  accountId?: string;
  /** Pipelines that exist; when given, StartPipelineExecution of any other is ResourceNotFound. */
  pipelines?: string[];
  /** Seed for execution IDs and callback tokens (default: a random one). */
  seed?: number;
}

/** A running local SageMaker. */
export interface SageMakerServer extends RunningServer {
  /** Starts an execution directly (not counted as a call), as `npm start` does for its one execution. */
  startExecution(input: {
    pipelineName: string;
    parameters?: Parameter[];
    displayName?: string;
  }): PipelineExecution;
  /** Called for every execution started, through the API or `startExecution`; returns unsubscribe. */
  onExecutionStarted(listener: (execution: PipelineExecution) => void): () => void;
  /**
   * Starts a Callback step: mints its token and returns it with a promise of the step's first accepted
   * answer.
   */
  startCallbackStep(executionArn: string, stepName: string): { token: string; answer: Promise<StepAnswer> };
  /** Called when StopPipelineExecution moves an execution to Stopping; returns unsubscribe. */
  onStopRequested(listener: (execution: PipelineExecution) => void): () => void;
  /** Sets an execution's status, e.g. Succeeded once its last step has succeeded. */
  setExecutionStatus(executionArn: string, status: PipelineExecutionStatus, failureReason?: string): void;
  /** A copy of one execution, or undefined. */
  execution(executionArn: string): PipelineExecution | undefined;
  /** Copies of every execution, oldest first. */
  executions(): PipelineExecution[];
  /** Calls received, by operation, including rejected ones. */
  calls(): Record<string, number>;
  /** Rejected calls by operation and error code, e.g. `{SendPipelineExecutionStepSuccess: {ConflictException: 1}}`. */
  rejectedCalls(): Record<string, Record<string, number>>;
}

/** Limits of SendPipelineExecutionStep{Success,Failure} and the other operations (SageMaker API reference). */
export const sageMakerLimits = {
  callbackTokenLength: 10,
  outputParameters: 50,
  outputNameLength: 256,
  outputValueLength: 1024,
  failureReasonLength: 256,
  clientRequestTokenLength: { min: 32, max: 128 },
  pipelineParameters: 200,
  displayNameLength: 82,
} as const;

const jsonContentType = "application/x-amz-json-1.1";
const terminalStatuses: readonly PipelineExecutionStatus[] = ["Stopped", "Failed", "Succeeded"];

/** An error SageMaker answers with its code; all of these are 400s. */
class SageMakerError extends Error {
  constructor(
    readonly code: "ValidationException" | "ResourceNotFound" | "ConflictException",
    message: string,
  ) {
    super(message);
  }
}

/** Starts the SageMaker server on 127.0.0.1 and a free port. */
export async function startSageMakerServer(options: SageMakerServerOptions): Promise<SageMakerServer> {
  const { clock } = options;
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "123456789012";
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  const knownPipelines = options.pipelines && new Set(options.pipelines);
  const executions = new Map<string, PipelineExecution>();
  const steps = new Map<string, CallbackStep>();
  const answerWaiters = new Map<string, (answer: StepAnswer) => void>();
  const startTokens = new Map<string, string>();
  const startedListeners = new Set<(execution: PipelineExecution) => void>();
  const stopListeners = new Set<(execution: PipelineExecution) => void>();
  const calls = new CallCounter();
  const rejected = new Map<string, CallCounter>();

  const pipelineArn = (name: string): string =>
    `arn:aws:sagemaker:${region}:${accountId}:pipeline/${name.toLowerCase()}`;

  const requireExecution = (arn: unknown): PipelineExecution => {
    const text = requireString(arn, "pipelineExecutionArn");
    const execution = executions.get(text);
    if (!execution) throw new SageMakerError("ResourceNotFound", `Pipeline execution ${text} does not exist`);
    return execution;
  };

  const setStatus = (
    execution: PipelineExecution,
    status: PipelineExecutionStatus,
    failureReason?: string,
  ): void => {
    execution.status = status;
    if (failureReason !== undefined) execution.failureReason = failureReason;
    execution.lastModifiedAt = clock.now();
  };

  const startExecution = (input: {
    pipelineName: string;
    parameters?: Parameter[];
    displayName?: string;
  }): PipelineExecution => {
    const name = input.pipelineName.startsWith("arn:")
      ? input.pipelineName.split("/").at(-1)!
      : input.pipelineName;
    if (knownPipelines && !knownPipelines.has(name)) {
      throw new SageMakerError("ResourceNotFound", `Pipeline ${name} does not exist`);
    }
    const now = clock.now();
    const executionArn = `${pipelineArn(name)}/execution/${randomString(random, 12, "abcdefghijklmnopqrstuvwxyz0123456789")}`;
    const execution: PipelineExecution = {
      executionArn,
      pipelineArn: pipelineArn(name),
      pipelineName: name,
      displayName: input.displayName,
      status: "Executing",
      parameters: (input.parameters ?? []).map((p) => ({ ...p })),
      createdAt: now,
      lastModifiedAt: now,
      steps: [],
    };
    executions.set(executionArn, execution);
    for (const listener of startedListeners) listener(execution);
    return execution;
  };

  /** The answer's effect: the step is done; a failure fails the execution; a stopping execution stops. */
  const acceptAnswer = (step: CallbackStep, answer: StepAnswer): void => {
    step.answer = answer;
    const execution = executions.get(step.executionArn)!;
    if (execution.status === "Stopping") setStatus(execution, "Stopped");
    else if (answer.outcome === "failure") setStatus(execution, "Failed", answer.failureReason ?? "");
    else execution.lastModifiedAt = answer.answeredAt;
    answerWaiters.get(step.token)?.(answer);
    answerWaiters.delete(step.token);
  };

  const sendStepAnswer = (input: Record<string, unknown>, outcome: "success" | "failure"): unknown => {
    const token = requireString(input.CallbackToken, "callbackToken");
    if (token.length !== sageMakerLimits.callbackTokenLength || !/^[a-zA-Z0-9]+$/.test(token)) {
      throw validation(
        "callbackToken",
        `have length ${sageMakerLimits.callbackTokenLength} and match ^[a-zA-Z0-9]+$`,
      );
    }
    const clientRequestToken = optionalClientRequestToken(input.ClientRequestToken);
    let outputParameters: OutputParameter[] | undefined;
    let failureReason: string | undefined;
    if (outcome === "success") {
      outputParameters = checkOutputParameters(input.OutputParameters);
    } else if (input.FailureReason !== undefined) {
      failureReason = requireString(input.FailureReason, "failureReason", true);
      if (failureReason.length > sageMakerLimits.failureReasonLength) {
        throw validation(
          "failureReason",
          `have length less than or equal to ${sageMakerLimits.failureReasonLength}`,
        );
      }
    }
    const step = steps.get(token);
    if (!step) throw new SageMakerError("ResourceNotFound", `Callback token ${token} does not exist`);
    const execution = executions.get(step.executionArn)!;
    const response = { PipelineExecutionArn: step.executionArn };
    if (step.answer) {
      const same =
        clientRequestToken !== undefined &&
        clientRequestToken === step.answer.clientRequestToken &&
        outcome === step.answer.outcome &&
        JSON.stringify(outputParameters) === JSON.stringify(step.answer.outputParameters) &&
        failureReason === step.answer.failureReason;
      if (same) return response;
      throw new SageMakerError("ConflictException", `Callback token ${token} has already been answered`);
    }
    if (terminalStatuses.includes(execution.status)) {
      throw new SageMakerError("ConflictException", `Pipeline execution is ${execution.status}`);
    }
    acceptAnswer(step, {
      outcome,
      outputParameters,
      failureReason,
      clientRequestToken,
      answeredAt: clock.now(),
    });
    return response;
  };

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    SendPipelineExecutionStepSuccess: (input) => sendStepAnswer(input, "success"),
    SendPipelineExecutionStepFailure: (input) => sendStepAnswer(input, "failure"),
    StartPipelineExecution: (input) => {
      const pipelineName = requireString(input.PipelineName, "pipelineName");
      const clientRequestToken = requireClientRequestToken(input.ClientRequestToken);
      const earlier = startTokens.get(clientRequestToken);
      if (earlier) return { PipelineExecutionArn: earlier };
      const parameters = checkParameters(input.PipelineParameters);
      const displayName = input.PipelineExecutionDisplayName;
      if (displayName !== undefined) {
        const text = requireString(displayName, "pipelineExecutionDisplayName");
        if (text.length > sageMakerLimits.displayNameLength) {
          throw validation(
            "pipelineExecutionDisplayName",
            `have length less than or equal to ${sageMakerLimits.displayNameLength}`,
          );
        }
      }
      const execution = startExecution({
        pipelineName,
        parameters,
        displayName: displayName as string | undefined,
      });
      startTokens.set(clientRequestToken, execution.executionArn);
      return { PipelineExecutionArn: execution.executionArn };
    },
    StopPipelineExecution: (input) => {
      const execution = requireExecution(input.PipelineExecutionArn);
      requireClientRequestToken(input.ClientRequestToken);
      if (execution.status === "Executing") {
        setStatus(execution, "Stopping");
        execution.stopRequestedAt = clock.now();
        for (const listener of stopListeners) listener(execution);
      } else if (execution.status !== "Stopping") {
        throw new SageMakerError(
          "ConflictException",
          `Pipeline execution is ${execution.status} and cannot be stopped`,
        );
      }
      return { PipelineExecutionArn: execution.executionArn };
    },
    DescribePipelineExecution: (input) => {
      const execution = requireExecution(input.PipelineExecutionArn);
      return {
        PipelineArn: execution.pipelineArn,
        PipelineExecutionArn: execution.executionArn,
        PipelineExecutionDisplayName: execution.displayName,
        PipelineExecutionStatus: execution.status,
        FailureReason: execution.failureReason,
        CreationTime: execution.createdAt / 1000,
        LastModifiedTime: execution.lastModifiedAt / 1000,
      };
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request);
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("SageMaker.") ? target.slice("SageMaker.".length) : target;
    calls.add(operation || "Unknown");
    const reject = (status: number, code: string, message: string): void => {
      const counter = rejected.get(operation || "Unknown") ?? new CallCounter();
      counter.add(code);
      rejected.set(operation || "Unknown", counter);
      sendJson(response, status, { __type: code, Message: message }, jsonContentType, {
        "x-amzn-errortype": code,
      });
    };
    const run = operations[operation];
    if (!run) {
      reject(400, "UnknownOperationException", `${target} is not an operation here`);
      return;
    }
    let input: Record<string, unknown>;
    try {
      input = parseJsonObject(body);
    } catch (error) {
      reject(400, "SerializationException", String(error));
      return;
    }
    try {
      sendJson(response, 200, run(input), jsonContentType);
    } catch (error) {
      if (error instanceof SageMakerError) reject(400, error.code, error.message);
      else reject(500, "InternalFailure", String(error));
    }
  };

  const listening = await listenOnLoopback((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        sendJson(response, 500, { __type: "InternalFailure", Message: String(error) }, jsonContentType);
      }
    });
  });

  const copy = (execution: PipelineExecution): PipelineExecution => structuredClone(execution);

  return {
    endpoint: listening.endpoint,
    stop: listening.stop,
    startExecution: (input) => copy(startExecution(input)),
    onExecutionStarted: (listener) => {
      startedListeners.add(listener);
      return () => startedListeners.delete(listener);
    },
    startCallbackStep: (executionArn, stepName) => {
      const execution = executions.get(executionArn);
      if (!execution) throw new Error(`startCallbackStep: no execution ${executionArn}`);
      let token = randomString(random, sageMakerLimits.callbackTokenLength);
      while (steps.has(token)) token = randomString(random, sageMakerLimits.callbackTokenLength);
      const step: CallbackStep = { executionArn, stepName, token, startedAt: clock.now() };
      execution.steps.push(step);
      steps.set(token, step);
      const answer = new Promise<StepAnswer>((resolve) => answerWaiters.set(token, resolve));
      return { token, answer };
    },
    onStopRequested: (listener) => {
      stopListeners.add(listener);
      return () => stopListeners.delete(listener);
    },
    setExecutionStatus: (executionArn, status, failureReason) => {
      const execution = executions.get(executionArn);
      if (!execution) throw new Error(`setExecutionStatus: no execution ${executionArn}`);
      setStatus(execution, status, failureReason);
    },
    execution: (executionArn) => {
      const execution = executions.get(executionArn);
      return execution && copy(execution);
    },
    executions: () => [...executions.values()].map(copy),
    calls: () => calls.toJSON(),
    rejectedCalls: () =>
      Object.fromEntries([...rejected.entries()].map(([op, counter]) => [op, counter.toJSON()])),
  };
}

/** AWS's wording for a constraint violation, naming the field. */
function validation(field: string, constraint: string): SageMakerError {
  return new SageMakerError(
    "ValidationException",
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must ${constraint}`,
  );
}

function requireString(value: unknown, field: string, allowEmpty = false): string {
  if (typeof value !== "string" || (!allowEmpty && value.length === 0)) {
    throw validation(field, "not be null");
  }
  return value;
}

function optionalClientRequestToken(value: unknown): string | undefined {
  return value === undefined ? undefined : requireClientRequestToken(value);
}

function requireClientRequestToken(value: unknown): string {
  const token = requireString(value, "clientRequestToken");
  const { min, max } = sageMakerLimits.clientRequestTokenLength;
  if (token.length < min || token.length > max) {
    throw validation("clientRequestToken", `have length between ${min} and ${max}`);
  }
  return token;
}

function checkOutputParameters(value: unknown): OutputParameter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw validation("outputParameters", "be a list");
  if (value.length > sageMakerLimits.outputParameters) {
    throw validation(
      "outputParameters",
      `have length less than or equal to ${sageMakerLimits.outputParameters}`,
    );
  }
  return value.map((item: unknown, i) => {
    const parameter = (item ?? {}) as Record<string, unknown>;
    const name = requireString(parameter.Name, `outputParameters.${i + 1}.member.name`);
    const text = requireString(parameter.Value, `outputParameters.${i + 1}.member.value`, true);
    if (name.length > sageMakerLimits.outputNameLength) {
      throw validation(
        `outputParameters.${i + 1}.member.name`,
        `have length less than or equal to ${sageMakerLimits.outputNameLength}`,
      );
    }
    if (text.length > sageMakerLimits.outputValueLength) {
      throw validation(
        `outputParameters.${i + 1}.member.value`,
        `have length less than or equal to ${sageMakerLimits.outputValueLength}`,
      );
    }
    return { Name: name, Value: text };
  });
}

function checkParameters(value: unknown): Parameter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw validation("pipelineParameters", "be a list");
  if (value.length > sageMakerLimits.pipelineParameters) {
    throw validation(
      "pipelineParameters",
      `have length less than or equal to ${sageMakerLimits.pipelineParameters}`,
    );
  }
  return value.map((item: unknown, i) => {
    const parameter = (item ?? {}) as Record<string, unknown>;
    return {
      Name: requireString(parameter.Name, `pipelineParameters.${i + 1}.member.name`),
      Value: requireString(parameter.Value, `pipelineParameters.${i + 1}.member.value`, true),
    };
  });
}
