/**
 * SageMaker Pipelines on loopback for the operations around a Callback step, speaking the AWS JSON 1.1
 * protocol of @aws-sdk/client-sagemaker: `POST /` with `X-Amz-Target: SageMaker.<Operation>`; errors are
 * `{"__type", "Message"}` with the code also in `x-amzn-errortype`; timestamps are epoch seconds.
 *
 * This front routes each call to its operation and answers errors as SageMaker does, counting every call,
 * rejected ones too. The executions (with their callback tokens and answers) are in executions.ts, the
 * request checks in requests.ts, the output shapes in views.ts.
 */
import type { OutputParameter } from "@aws-sdk/client-sagemaker";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CallCounter,
  listenOnLoopback,
  parseJsonObject,
  readBody,
  sendJson,
  type RunningServer,
} from "../http";
import type { RequestListener } from "../in-process-http";
import type { SimClock } from "../time/clock";
import { seededRandom } from "../time/random";
import {
  PipelineExecutions,
  type ExecutionStart,
  type PipelineExecution,
  type PipelineExecutionStatus,
  type StepAnswer,
} from "./executions";
import {
  checkDisplayName,
  checkParameters,
  checkStepAnswer,
  requireClientRequestToken,
  requireString,
  SageMakerError,
} from "./requests";
import type { PipelineExecutionStatusChangeEvent } from "./status-events";
import type { TransformJobs } from "./transform-jobs";
import {
  describedExecution,
  executionArnOutput,
  executionCopy,
  listedExecutions,
  listedParameters,
  listedSteps,
  page,
} from "./views";

export type {
  CallbackStep,
  PipelineExecution,
  PipelineExecutionStatus,
  StepAnswer,
  StepRun,
  StepStatus,
} from "./executions";
export type { PipelineExecutionStatusChangeEvent } from "./status-events";

export interface SageMakerServerOptions {
  clock: SimClock;
  /** Region and account in ARNs (defaults us-east-1, 123456789012). */
  region?: string;
  accountId?: string;
  /** Pipelines that exist; when given, StartPipelineExecution of any other is ResourceNotFound. */
  pipelines?: string[];
  /** Seed for execution IDs and callback tokens (default: a random one). */
  seed?: number;
  /** Pipelines' definitions (JSON text) by name, for DescribePipeline. */
  definitions?: Record<string, string>;
  /** Transform jobs (CreateTransformJob, DescribeTransformJob, StopTransformJob); absent: none served. */
  transformJobs?: TransformJobs;
}

/** A running local SageMaker. */
export interface SageMakerServer extends RunningServer {
  /** The listener its socket calls (for an in-process transport). */
  requestListener: RequestListener;
  /** Starts an execution directly (not counted as a call), as `npm start` does for its one execution. */
  startExecution(input: ExecutionStart): PipelineExecution;
  /** Called for every execution started, through the API or `startExecution`; returns unsubscribe. */
  onExecutionStarted(listener: (execution: PipelineExecution) => void): () => void;
  /** Starts a Lambda step: it runs to its end, even if the execution is stopped meanwhile. */
  startLambdaStep(executionArn: string, stepName: string): void;
  /**
   * Ends the running Lambda step (failed with `failureReason`, or not): a stopping execution becomes
   * Stopped, a failed step fails it. Returns the execution's status.
   */
  endLambdaStep(
    executionArn: string,
    failureReason?: string,
    outputParameters?: OutputParameter[],
  ): PipelineExecutionStatus;
  /** Starts a step of another type that the runner plays (Condition, Fail, Training, ...). */
  startStep(executionArn: string, stepName: string, type: string): void;
  /** Ends the step `startStep` started, as `endLambdaStep` ends a Lambda step. Returns the status. */
  endStep(executionArn: string, failureReason?: string): PipelineExecutionStatus;
  /**
   * Starts a Callback step: mints its token and returns it with a promise of the step's first accepted
   * answer.
   */
  startCallbackStep(executionArn: string, stepName: string): { token: string; answer: Promise<StepAnswer> };
  /** Called when StopPipelineExecution moves an execution to Stopping; returns unsubscribe. */
  onStopRequested(listener: (execution: PipelineExecution) => void): () => void;
  /**
   * Called with the EventBridge event of every status change after an execution's start (Stopping and
   * every end: Succeeded, Failed, Stopped); returns unsubscribe.
   */
  onStatusChange(listener: (event: PipelineExecutionStatusChangeEvent) => void): () => void;
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

const jsonContentType = "application/x-amz-json-1.1";

/** Starts the SageMaker server on 127.0.0.1 and a free port. */
export async function startSageMakerServer(options: SageMakerServerOptions): Promise<SageMakerServer> {
  const { clock } = options;
  const executions = new PipelineExecutions(
    clock,
    {
      region: options.region ?? "us-east-1",
      accountId: options.accountId ?? "123456789012",
      pipelines: options.pipelines,
    },
    seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31)),
  );
  const calls = new CallCounter();
  const rejected = new Map<string, CallCounter>();
  const operations = {
    ...operationsOn(executions, options.definitions ?? {}),
    ...(options.transformJobs ? transformOperations(options.transformJobs) : {}),
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

  const requestListener: RequestListener = (request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        sendJson(response, 500, { __type: "InternalFailure", Message: String(error) }, jsonContentType);
      }
    });
  };
  const listening = await listenOnLoopback(requestListener);

  return {
    endpoint: listening.endpoint,
    requestListener,
    stop: listening.stop,
    startExecution: (input) => executionCopy(executions.start(input)),
    onExecutionStarted: (listener) => executions.onExecutionStarted(listener),
    onStatusChange: (listener) => executions.onStatusChange(listener),
    startLambdaStep: (executionArn, stepName) => executions.startLambdaStep(executionArn, stepName),
    endLambdaStep: (executionArn, failureReason, outputParameters) =>
      executions.endLambdaStep(executionArn, failureReason, outputParameters),
    startStep: (executionArn, stepName, type) => executions.startStep(executionArn, stepName, type),
    endStep: (executionArn, failureReason) => executions.endStep(executionArn, failureReason),
    startCallbackStep: (executionArn, stepName) => executions.startCallbackStep(executionArn, stepName),
    onStopRequested: (listener) => executions.onStopRequested(listener),
    setExecutionStatus: (executionArn, status, failureReason) => {
      const execution = executions.find(executionArn);
      if (!execution) throw new Error(`setExecutionStatus: no execution ${executionArn}`);
      executions.setStatus(execution, status, failureReason);
    },
    execution: (executionArn) => {
      const execution = executions.find(executionArn);
      return execution && executionCopy(execution);
    },
    executions: () => executions.all().map(executionCopy),
    calls: () => calls.toJSON(),
    rejectedCalls: () =>
      Object.fromEntries([...rejected.entries()].map(([op, counter]) => [op, counter.toJSON()])),
  };
}

type Operation = (input: Record<string, unknown>) => unknown;

/** The transform job operations, on the jobs given. */
function transformOperations(jobs: TransformJobs): Record<string, Operation> {
  return {
    CreateTransformJob: (input) => jobs.create(input),
    DescribeTransformJob: (input) => {
      // `records` is local mode's own count, not a field of SageMaker's answer.
      const described: Partial<ReturnType<TransformJobs["describe"]>> = jobs.describe(
        requireString(input.TransformJobName, "transformJobName"),
      );
      delete described.records;
      return described;
    },
    StopTransformJob: (input) => {
      jobs.stop(requireString(input.TransformJobName, "transformJobName"));
      return {};
    },
  };
}

/** Each operation: its request checked, the executions acted on, the answer shaped. */
function operationsOn(
  executions: PipelineExecutions,
  definitions: Record<string, string>,
): Record<string, Operation> {
  const requireExecution = (arn: unknown): PipelineExecution =>
    executions.require(requireString(arn, "pipelineExecutionArn"));
  const pipelineNameOf = (input: unknown): string => {
    const given = requireString(input, "pipelineName");
    return given.startsWith("arn:") ? given.split("/").at(-1)! : given;
  };

  return {
    SendPipelineExecutionStepSuccess: (input) =>
      executionArnOutput(executions.answer(checkStepAnswer(input, "success"))),
    SendPipelineExecutionStepFailure: (input) =>
      executionArnOutput(executions.answer(checkStepAnswer(input, "failure"))),
    StartPipelineExecution: (input) => {
      const pipelineName = requireString(input.PipelineName, "pipelineName");
      const clientRequestToken = requireClientRequestToken(input.ClientRequestToken);
      const earlier = executions.startedWith(clientRequestToken);
      if (earlier) return executionArnOutput(earlier);
      const parameters = checkParameters(input.PipelineParameters);
      const displayName = checkDisplayName(input.PipelineExecutionDisplayName);
      const execution = executions.start({ pipelineName, parameters, displayName });
      executions.rememberStart(clientRequestToken, execution.executionArn);
      return executionArnOutput(execution.executionArn);
    },
    StopPipelineExecution: (input) => {
      const execution = requireExecution(input.PipelineExecutionArn);
      requireClientRequestToken(input.ClientRequestToken);
      executions.stop(execution);
      return executionArnOutput(execution.executionArn);
    },
    DescribePipeline: (input) => {
      const name = pipelineNameOf(input.PipelineName);
      const definition = definitions[name];
      if (definition === undefined)
        throw new SageMakerError("ResourceNotFound", `Pipeline ${name} does not exist`);
      return { PipelineName: name, PipelineDefinition: definition, PipelineStatus: "Active" };
    },
    ListPipelineExecutions: (input) => {
      const name = pipelineNameOf(input.PipelineName);
      const listed = page(
        listedExecutions(executions.all().filter((execution) => execution.pipelineName === name)),
        input.NextToken,
        input.MaxResults,
      );
      return { PipelineExecutionSummaries: listed.items, NextToken: listed.nextToken };
    },
    DescribePipelineExecution: (input) => describedExecution(requireExecution(input.PipelineExecutionArn)),
    ListPipelineExecutionSteps: (input) => {
      const listed = page(
        listedSteps(requireExecution(input.PipelineExecutionArn)),
        input.NextToken,
        input.MaxResults,
      );
      return { PipelineExecutionSteps: listed.items, NextToken: listed.nextToken };
    },
    ListPipelineParametersForExecution: (input) => {
      const listed = page(
        listedParameters(requireExecution(input.PipelineExecutionArn)),
        input.NextToken,
        input.MaxResults,
      );
      return { PipelineParameters: listed.items, NextToken: listed.nextToken };
    },
  };
}
