/**
 * How jobs behave in a scenario, all in simulated time: how long each state and each attempt lasts, how an
 * attempt fails, how many jobs run at once, and which job queues and definitions exist.
 */
import type { LogConfiguration, RetryStrategy } from "@aws-sdk/client-batch";

/** What a scenario sees of a job when it decides how an attempt goes. */
export interface ScenarioJob {
  jobId: string;
  jobName: string;
  /** Job queue ARN. */
  jobQueue: string;
  /** Job definition ARN. */
  jobDefinition: string;
  /** Array children only: the child's index (`AWS_BATCH_JOB_ARRAY_INDEX`). */
  arrayIndex?: number;
  parameters: Record<string, string>;
  /** `containerOverrides.environment` as a map. */
  environment: Record<string, string>;
  /** 1 for the first attempt. */
  attempt: number;
}

/** How a failing attempt ends. */
export interface AttemptFailure {
  /**
   * The container's exit code. Leave it out for a failure outside the container (the instance went away,
   * the image could not be pulled): an infrastructure failure, which a retry strategy usually retries.
   */
  exitCode?: number;
  /** `container.reason`, e.g. "OutOfMemoryError: Container killed due to memory usage". */
  reason?: string;
  /** The job's `statusReason`; default "Essential container in task exited" with an exit code, else `reason`. */
  statusReason?: string;
}

/** A registered job definition: what SubmitJob may override, and what its containers start with. */
export interface JobDefinitionSettings {
  retryStrategy?: RetryStrategy;
  timeout?: { attemptDurationSeconds?: number };
  /** Defaults of the `Ref::` placeholders; a submission's parameters override them. */
  parameters?: Record<string, string>;
  /**
   * `containerProperties.command`, `environment` and `logConfiguration` (what DescribeJobs returns as the
   * job's `container.logConfiguration`; its awslogs-stream-prefix names the attempts' log streams).
   */
  container?: {
    command?: string[];
    environment?: Record<string, string>;
    logConfiguration?: LogConfiguration;
  };
}

/** A container to run for an attempt: its command and environment, as Batch starts it on Fargate. */
export interface ContainerLaunch {
  jobId: string;
  jobName: string;
  /** Array children only. */
  arrayIndex?: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** The job's command with every `Ref::` placeholder of a known parameter replaced by its value. */
  command: string[];
  /** The job definition's environment, the submission's overrides, and the variables Batch and ECS set. */
  environment: Record<string, string>;
}

/** How a container ended: its exit code, and the reason Batch reports beside it, if any. */
export interface ContainerExit {
  exitCode: number;
  reason?: string;
}

/** A started container; `stop()` stops it as ECS stops a task (SIGTERM, then SIGKILL after a grace). */
export interface RunningContainer {
  stop(): void;
}

/** Runs attempts' containers for real; each attempt then lasts until its container exits. */
export interface ContainerRuntime {
  start(launch: ContainerLaunch, onExit: (exit: ContainerExit) => void): RunningContainer;
}

/** How jobs behave: durations, failures and capacity, all in simulated time. */
export interface BatchScenario {
  /** How long each attempt runs (RUNNING), in simulated ms (default 60,000). */
  jobDurationMs?: number | ((job: ScenarioJob) => number);
  /** Time spent in each state before the next one, in simulated ms. */
  stateDurationsMs?: Partial<Record<TimedState, number>>;
  /** How an attempt fails, or undefined when it succeeds (default: every attempt succeeds). */
  attemptFailure?: (job: ScenarioJob) => AttemptFailure | undefined;
  /** At most this many jobs STARTING or RUNNING at once; the others wait RUNNABLE (default: no limit). */
  maxConcurrentJobs?: number;
  /**
   * Registered job definitions by name (or ARN): their retry strategy and timeout apply unless SubmitJob
   * overrides them. When given, SubmitJob with any other definition is a ClientException.
   */
  jobDefinitions?: Record<string, JobDefinitionSettings>;
  /** Job queue names (or ARNs) that exist; when given, SubmitJob to any other is a ClientException. */
  jobQueues?: string[];
  /**
   * Runs each attempt's container (RUNNING lasts until it exits, or until the job's timeout stops it);
   * `jobDurationMs` and `attemptFailure` are then not used.
   */
  containers?: ContainerRuntime;
  /** `AWS_BATCH_CE_NAME` in the containers (default "local"). */
  computeEnvironmentName?: string;
  /**
   * How long a submitted job stays out of DescribeJobs and ListJobs answers, in simulated ms (default 0):
   * Batch's reads are eventually consistent, and a job just submitted may not be listed or described yet.
   */
  listingLagMs?: number;
}

/**
 * The states a job leaves after a set time (RUNNING lasts as long as its attempt; RUNNABLE at least as long
 * as given, and until the compute environment has room).
 */
export type TimedState = "SUBMITTED" | "RUNNABLE" | "STARTING";

const defaultStateDurationsMs = { SUBMITTED: 1_000, RUNNABLE: 10_000, STARTING: 20_000 };
const defaultJobDurationMs = 60_000;

/** Checks a scenario, naming a bad field; returns how long each timed state lasts, defaults filled in. */
export function checkScenario(scenario: BatchScenario): Record<TimedState, number> {
  const stateMs = { ...defaultStateDurationsMs };
  for (const [state, ms] of Object.entries(scenario.stateDurationsMs ?? {})) {
    if (!(state in defaultStateDurationsMs)) {
      throw new Error(
        `scenario.stateDurationsMs: unknown state ${state}; allowed: ${Object.keys(defaultStateDurationsMs).join(", ")}`,
      );
    }
    checkDuration(`scenario.stateDurationsMs.${state}`, ms);
    stateMs[state as TimedState] = ms;
  }
  if (typeof scenario.jobDurationMs === "number")
    checkDuration("scenario.jobDurationMs", scenario.jobDurationMs);
  if (scenario.listingLagMs !== undefined) checkDuration("scenario.listingLagMs", scenario.listingLagMs);
  const limit = scenario.maxConcurrentJobs;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
    throw new Error(`scenario.maxConcurrentJobs must be a whole number >= 1, got ${limit}`);
  }
  return stateMs;
}

/** What the scenario decides for an attempt: how it fails (undefined: it succeeds) and how long it runs. */
export function planAttempt(
  scenario: BatchScenario,
  job: ScenarioJob,
): { failure: AttemptFailure | undefined; durationMs: number } {
  const failure = scenario.attemptFailure?.(job);
  const durationMs =
    typeof scenario.jobDurationMs === "function"
      ? scenario.jobDurationMs(job)
      : (scenario.jobDurationMs ?? defaultJobDurationMs);
  checkDuration(`jobDurationMs for ${job.jobId}`, durationMs);
  return { failure, durationMs };
}

function checkDuration(field: string, ms: unknown): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new Error(`${field} must be a number of simulated ms >= 0, got ${String(ms)}`);
  }
}
