/**
 * AWS Batch on loopback for the operations the functions call, speaking the REST-JSON protocol that
 * @aws-sdk/client-batch uses: `POST /v1/<operation>` with a JSON body; errors carry their code in the
 * `x-amzn-errortype` header and `{"message"}` in the body. Jobs run in simulated time in job-scheduler.ts;
 * requests.ts checks requests as Batch does, views.ts shows jobs as Batch shows them.
 *
 * SubmitJob and DescribeJobs share a token bucket of 50 requests per simulated second, as the account
 * quota does; above it they are answered 429 TooManyRequestsException, which the SDK classifies as
 * throttling and retries with back-off. An injected throttle rate answers a further fraction of all calls
 * the same way.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type {
  CancelJobRequest,
  JobDetail,
  ListJobsRequest,
  SubmitJobRequest,
  SubmitJobResponse,
  TerminateJobRequest,
} from "@aws-sdk/client-batch";
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
import { JobScheduler } from "./job-scheduler";
import type { JobStatus } from "./job-record";
import { BatchClientError, checkDescribeJobs } from "./requests";
import type { AttemptFailure, BatchScenario } from "./scenario";
import type { BatchJobStateChangeEvent } from "./state-events";
import type { JobSnapshot } from "./views";

export type { JobStatus } from "./job-record";
export type { AttemptFailure, BatchScenario, JobDefinitionSettings, ScenarioJob } from "./scenario";
export type { BatchJobStateChangeEvent } from "./state-events";
export type { JobSnapshot } from "./views";

/** Requests per simulated second and burst of the SubmitJob + DescribeJobs quota. */
export interface BatchQuota {
  requestsPerSecond: number;
  /** Tokens available at once (default: one second's worth). */
  burst?: number;
}

export interface BatchServerOptions {
  clock: SimClock;
  scenario?: BatchScenario;
  /** Region and account in ARNs (defaults us-east-1, 123456789012). */
  region?: string;
  accountId?: string;
  /** The shared SubmitJob/DescribeJobs quota (default 50/s, burst 50); false turns it off. */
  quota?: BatchQuota | false;
  /** Fraction in [0, 1] of all calls answered 429 on top of the quota (default 0). */
  throttleRate?: number;
  /** Seed for job IDs and injected throttling (default: a random one). */
  seed?: number;
}

/** A running local Batch: its endpoint and what tests and the runner read. */
export interface BatchServer extends RunningServer {
  /** What the socket calls for each request: for an SDK client in this process (in-process-http.ts). */
  requestListener: RequestListener;
  /** SubmitJob without HTTP: the same checks and scheduling, no quota, not counted as a call. */
  submitJob(request: SubmitJobRequest): SubmitJobResponse;
  /** DescribeJobs without HTTP: the same checks, not counted as a call. */
  describeJobs(jobIds: string[]): JobDetail[];
  /**
   * Ends a RUNNING job's attempt now (failing it with `failure`, else succeeding it), for tests that decide
   * when each job ends rather than give the scenario durations. Throws for a job that is not RUNNING.
   */
  endAttemptNow(jobId: string, failure?: AttemptFailure): void;
  /** Subscribes to Batch Job State Change events; returns unsubscribe. */
  onStateChange(listener: (event: BatchJobStateChangeEvent) => void): () => void;
  /** Jobs (array children and separate jobs, not parents) not yet SUCCEEDED or FAILED. */
  jobsLeftRunning(): number;
  /** Jobs by state, counting array children and separate jobs, not parents. */
  countsByState(): Record<JobStatus, number>;
  /** Jobs (children and separate jobs) a TerminateJob or CancelJob call stopped: FAILED in countsByState. */
  terminatedJobs(): number;
  /** Every submitted job (array parents without their children), oldest first. */
  snapshot(): JobSnapshot[];
  /** Simulated time the last job or child ended (undefined while none has). */
  lastStoppedAt(): number | undefined;
  /** Calls received, by operation, including the ones answered with an error. */
  calls(): Record<string, number>;
  /** Calls answered 429, by operation. */
  throttledCalls(): Record<string, number>;
  /** Changes the injected throttle rate. */
  setThrottleRate(rate: number): void;
}

const defaultQuota: BatchQuota = { requestsPerSecond: 50 };

/**
 * Operations by request path (the paths the SDK's model binds them to): the ones the stack calls, each an
 * operation of the AWS Batch API. Any other path is answered 404, as an operation Batch does not have.
 */
const operations: Record<string, string> = {
  "/v1/submitjob": "SubmitJob",
  "/v1/describejobs": "DescribeJobs",
  "/v1/listjobs": "ListJobs",
  "/v1/terminatejob": "TerminateJob",
  "/v1/canceljob": "CancelJob",
};

/** The operations that draw on the account's SubmitJob quota. */
const quotaOperations = new Set(["SubmitJob", "DescribeJobs"]);

/** Starts the Batch server on 127.0.0.1 and a free port. */
export async function startBatchServer(options: BatchServerOptions): Promise<BatchServer> {
  const { clock } = options;
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  const jobs = new JobScheduler(
    clock,
    options.scenario ?? {},
    { region: options.region ?? "us-east-1", accountId: options.accountId ?? "123456789012" },
    random,
  );
  const quota = options.quota === false ? undefined : new TokenBucket(clock, options.quota ?? defaultQuota);
  let throttleRate = checkThrottleRate(options.throttleRate ?? 0);
  const calls = new CallCounter();
  const throttled = new CallCounter();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? "").split("?")[0].toLowerCase();
    const operation = operations[path];
    const body = await readBody(request);
    calls.add(operation ?? "Unknown");
    if (!operation || request.method !== "POST") {
      sendError(
        response,
        404,
        "UnknownOperationException",
        `${request.method} ${path} is not an operation here`,
      );
      return;
    }
    if (
      (throttleRate > 0 && random() < throttleRate) ||
      (quota !== undefined && quotaOperations.has(operation) && !quota.take())
    ) {
      throttled.add(operation);
      sendError(response, 429, "TooManyRequestsException", "Too Many Requests");
      return;
    }
    let input: Record<string, unknown>;
    try {
      input = parseJsonObject(body);
    } catch (error) {
      sendError(response, 400, "ClientException", `request body is not valid JSON: ${String(error)}`);
      return;
    }
    try {
      sendJson(response, 200, run(operation, input));
    } catch (error) {
      if (error instanceof BatchClientError) sendError(response, 400, "ClientException", error.message);
      else sendError(response, 500, "ServerException", String(error));
    }
  };

  // Inputs are untyped JSON: requests.ts checks every field read and names it in its errors.
  const run = (operation: string, input: Record<string, unknown>): unknown => {
    switch (operation) {
      case "SubmitJob":
        return jobs.submit(asRequest<SubmitJobRequest>(input));
      case "DescribeJobs":
        return { jobs: jobs.describe(checkDescribeJobs(input)) };
      case "ListJobs":
        return jobs.list(asRequest<ListJobsRequest>(input));
      case "TerminateJob":
        jobs.terminate(asRequest<TerminateJobRequest>(input));
        return {};
      case "CancelJob":
        jobs.cancel(asRequest<CancelJobRequest>(input));
        return {};
      default:
        throw new Error(`operation ${operation} has no handler`);
    }
  };

  const requestListener: RequestListener = (request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, "ServerException", String(error));
    });
  };
  const listening = await listenOnLoopback(requestListener);

  return {
    endpoint: listening.endpoint,
    requestListener,
    stop: async () => {
      jobs.stop();
      await listening.stop();
    },
    submitJob: (request) => jobs.submit(request),
    describeJobs: (jobIds) => jobs.describe(checkDescribeJobs({ jobs: jobIds })),
    endAttemptNow: (jobId, failure) => jobs.endAttemptNow(jobId, failure),
    onStateChange: (listener) => jobs.onStateChange(listener),
    jobsLeftRunning: () => jobs.jobsLeftRunning(),
    countsByState: () => jobs.countsByState(),
    terminatedJobs: () => jobs.terminatedJobs(),
    snapshot: () => jobs.snapshot(),
    lastStoppedAt: () => jobs.lastStoppedAt(),
    calls: () => calls.toJSON(),
    throttledCalls: () => throttled.toJSON(),
    setThrottleRate: (rate) => {
      throttleRate = checkThrottleRate(rate);
    },
  };
}

/** A REST-JSON error as AWS sends it: the code in `x-amzn-errortype`, the text in `message`. */
function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  sendJson(response, status, { message }, "application/json", { "x-amzn-errortype": code });
}

function checkThrottleRate(rate: number): number {
  if (!(Number.isFinite(rate) && rate >= 0 && rate <= 1)) {
    throw new Error(`throttle rate must be a fraction between 0 and 1, got ${rate}`);
  }
  return rate;
}

/** A token bucket refilled in simulated time. */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly perMs: number;
  private readonly burst: number;

  constructor(
    private readonly clock: SimClock,
    quota: BatchQuota,
  ) {
    if (!(Number.isFinite(quota.requestsPerSecond) && quota.requestsPerSecond > 0)) {
      throw new Error(`quota.requestsPerSecond must be a number > 0, got ${quota.requestsPerSecond}`);
    }
    this.burst = quota.burst ?? quota.requestsPerSecond;
    if (!(Number.isFinite(this.burst) && this.burst >= 1)) {
      throw new Error(`quota.burst must be a number >= 1, got ${quota.burst}`);
    }
    this.perMs = quota.requestsPerSecond / 1000;
    this.tokens = this.burst;
    this.updatedAt = clock.now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedAt) * this.perMs);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Untrusted JSON read as a request shape; the scheduler checks each field it reads. */
function asRequest<T>(input: Record<string, unknown>): T {
  return input as T;
}
