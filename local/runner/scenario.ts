/**
 * What one local execution runs: which design and stack, how many shards, how the jobs behave, and what is
 * injected (failures, a stop, throttling, duplicate deliveries, a malformed message). Every field is
 * checked once, with an error naming the field and what it accepts.
 */
import type { JobMode } from "../../functions/step-contract";
import type { Engine } from "../../infra/config/keys";
import { statSync } from "node:fs";
import * as path from "node:path";
import type { ConfigValue } from "../../render/stack-files";
import { workerCommandProblem } from "../containers/worker-command";
import { designNames, type DesignName } from "../designs/design";

/** A callback message the monitor must refuse: alongside the real one, or in its place (token kept). */
export type MalformedMessage = "without-token" | "with-token";

/** What the caller may set; everything is optional. */
export interface Scenario {
  /** Which policy runs (default "bridge"). */
  design?: DesignName;
  /** Stack whose config is used (`Pulumi.<stack>.yaml`, default "dev"). */
  stack?: string;
  /** Stack config set over the stack file's, by key (e.g. `callbackVisibilityTimeoutSeconds`). */
  config?: Record<string, ConfigValue>;
  /** ShardCount of the execution, 1-10,000 (default 4). */
  shards?: number;
  /** Other pipeline parameters of the execution (InputUri, OutputUri); default: the pipeline's defaults. */
  parameters?: Record<string, string | number | boolean>;
  /** The stack's submitMode for this run (default: the stack's own). */
  mode?: JobMode;
  /** How long each job runs once RUNNING, in simulated seconds (default 120). */
  jobDurationSeconds?: number;
  /**
   * How long a step of a type local mode does not run itself (Training, Processing, ...) takes before it
   * succeeds, in simulated seconds (default 60).
   */
  stepDurationSeconds?: number;
  /** Shards (0-based) whose job exits with code 1 halfway through its duration. */
  failShards?: number[];
  /** StopPipelineExecution this many simulated seconds after the execution starts. */
  stopAfterSeconds?: number;
  /** Fraction 0-1 of all Batch calls answered 429 on top of the 50/s quota (default 0). */
  throttleRate?: number;
  /** Deliver every callback message and every event twice (default false). */
  duplicateDeliveries?: boolean;
  /** Seed of everything random in the run (default 1). */
  seed?: number;
  /** Delay from a Batch state change to its EventBridge delivery, in simulated seconds (default 1). */
  eventDelaySeconds?: number;
  /** Send a malformed callback message (for the dead-letter path). */
  malformedMessage?: MalformedMessage;
  /** Give up ("no answer") once the step has waited this long after every job ended (default 7,200). */
  noAnswerAfterSeconds?: number;
  /** Give up ("no answer") at this simulated time after the start, whatever happens (default 8 days). */
  timeLimitSeconds?: number;
  /**
   * At most this many jobs STARTING or RUNNING at once, the others RUNNABLE (default: the stack's compute
   * environment, floor(maxVcpus / vcpu)).
   */
  maxConcurrentJobs?: number;
  /** How long a submitted job is missing from DescribeJobs and ListJobs, in simulated seconds (default 0). */
  listingLagSeconds?: number;
  /** Print the functions' own log lines (Powertools, JSON) to stdout (default false: silenced). */
  functionLogs?: boolean;
  /**
   * A command run as every job's container (the image's entry point; the job's command follows as its
   * arguments), one process per job; its exit code decides the job's state. Default: simulated jobs.
   */
  worker?: string;
  /** With `worker`: a folder whose files are uploaded under the stack's input prefix before the run. */
  inputDirectory?: string;
  /**
   * What runs the work (default: the stack's engine key). On `transform` the stack's pipeline holds one
   * Transform step: the shards are input objects of `transformRecordsPerShard` records each, and the
   * model is the local built-in one, or `worker` answering one record per line.
   */
  engine?: Engine;
  /**
   * On the transform engine with a worker: how long the model may take to answer one request, in wall
   * seconds, before the job fails (default 600, SageMaker's InvocationsTimeoutInSeconds default).
   */
  modelTimeoutSeconds?: number;
}

/** A scenario with every default applied and every field checked. */
export interface ResolvedScenario {
  design: DesignName;
  stack: string;
  config: Record<string, ConfigValue>;
  shards: number;
  parameters: Record<string, string | number | boolean>;
  mode: JobMode | undefined;
  jobDurationSeconds: number;
  stepDurationSeconds: number;
  failShards: number[];
  stopAfterSeconds: number | undefined;
  throttleRate: number;
  duplicateDeliveries: boolean;
  seed: number;
  eventDelaySeconds: number;
  malformedMessage: MalformedMessage | undefined;
  noAnswerAfterSeconds: number;
  timeLimitSeconds: number;
  maxConcurrentJobs: number | undefined;
  listingLagSeconds: number;
  functionLogs: boolean;
  worker: string | undefined;
  /** Absolute. */
  inputDirectory: string | undefined;
  engine: Engine | undefined;
  modelTimeoutSeconds: number;
}

/** Records in each shard's input object on the transform engine (a shard file of the records API's shape). */
export const transformRecordsPerShard = 10;

/**
 * What the transform engine refuses, and why: these shape Batch jobs or the callback step, which a
 * Transform step has none of. Keyed by scenario field, with the option of `npm start` that sets it.
 */
export const notWithTransformEngine: readonly { field: keyof Scenario; option: string; why: string }[] = [
  { field: "mode", option: "--mode", why: "it chooses how Batch jobs are submitted" },
  {
    field: "throttleRate",
    option: "--throttle",
    why: "it throttles Batch calls, and a transform job makes none",
  },
  {
    field: "duplicateDeliveries",
    option: "--duplicate-deliveries",
    why: "it duplicates callback messages and Batch events, and a Transform step has neither",
  },
  { field: "eventDelaySeconds", option: "--event-delay", why: "it delays Batch's events" },
  {
    field: "malformedMessage",
    option: "(malformedMessage)",
    why: "a Transform step has no callback message",
  },
  { field: "design", option: "--design", why: "the reference design runs Batch jobs only" },
];

/** The most shards one execution may have (Batch array jobs hold at most 10,000 children). */
export const maxShards = 10_000;
/** Jobs may run at most two days here: a longer job only costs more polls, and the stack's wait is 7 days. */
export const maxJobDurationSeconds = 2 * 24 * 3600;

export const scenarioDefaults = {
  design: "bridge",
  stack: "dev",
  shards: 4,
  jobDurationSeconds: 120,
  stepDurationSeconds: 60,
  throttleRate: 0,
  seed: 1,
  eventDelaySeconds: 1,
  noAnswerAfterSeconds: 2 * 3600,
  timeLimitSeconds: 8 * 24 * 3600,
} as const;

/** A scenario field that is out of range or of the wrong kind. */
export class ScenarioError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid scenario: ${problems.join(" ")}`);
    this.name = "ScenarioError";
  }
}

/** Applies the defaults and checks every field; throws a ScenarioError listing every problem. */
export function resolveScenario(input: Scenario = {}): ResolvedScenario {
  const problems: string[] = [];
  const known = new Set<string>([
    "design",
    "stack",
    "config",
    "shards",
    "parameters",
    "mode",
    "jobDurationSeconds",
    "stepDurationSeconds",
    "failShards",
    "stopAfterSeconds",
    "throttleRate",
    "duplicateDeliveries",
    "seed",
    "eventDelaySeconds",
    "malformedMessage",
    "noAnswerAfterSeconds",
    "timeLimitSeconds",
    "maxConcurrentJobs",
    "listingLagSeconds",
    "functionLogs",
    "worker",
    "inputDirectory",
    "engine",
    "modelTimeoutSeconds",
  ]);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) problems.push(`${key} is not a scenario field (fields: ${[...known].join(", ")}).`);
  }
  const wholeNumber = (field: string, value: unknown, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
      return undefined;
    }
    return value;
  };
  const seconds = (field: string, value: unknown, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      problems.push(
        `${field} must be a number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}.`,
      );
      return undefined;
    }
    return value;
  };
  const oneOf = <T extends string>(field: string, value: unknown, allowed: readonly T[]): T | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      problems.push(`${field} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}.`);
      return undefined;
    }
    return value as T;
  };
  const flag = (field: string, value: unknown): boolean => {
    if (value === undefined) return false;
    if (typeof value !== "boolean")
      problems.push(`${field} must be true or false, got ${JSON.stringify(value)}.`);
    return value === true;
  };

  const shards = wholeNumber("shards", input.shards, 1, maxShards) ?? scenarioDefaults.shards;
  const failShards = input.failShards ?? [];
  if (!Array.isArray(failShards)) {
    problems.push(`failShards must be a list of shard indexes, got ${JSON.stringify(failShards)}.`);
  } else {
    for (const shard of failShards) {
      if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
        problems.push(
          `failShards: ${JSON.stringify(shard)} is not a shard of this execution (0 to ${shards - 1}).`,
        );
      }
    }
  }
  const stack = input.stack ?? scenarioDefaults.stack;
  if (typeof stack !== "string" || !/^[A-Za-z0-9_.-]+$/.test(stack)) {
    problems.push(
      `stack must be a stack name (letters, digits, ".", "_", "-"), got ${JSON.stringify(stack)}.`,
    );
  }
  const config = input.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    problems.push(`config must be an object of stack config values by key, got ${JSON.stringify(config)}.`);
  }
  const parameters = input.parameters ?? {};
  if (typeof parameters !== "object" || parameters === null || Array.isArray(parameters)) {
    problems.push(
      `parameters must be an object of pipeline parameter values by name, got ${JSON.stringify(parameters)}.`,
    );
  } else if ("ShardCount" in parameters) {
    problems.push("parameters.ShardCount: set shards instead.");
  }
  const throttleRate = input.throttleRate ?? scenarioDefaults.throttleRate;
  if (typeof throttleRate !== "number" || !(throttleRate >= 0 && throttleRate <= 1)) {
    problems.push(`throttleRate must be a fraction from 0 to 1, got ${JSON.stringify(throttleRate)}.`);
  }

  const resolved: ResolvedScenario = {
    design: oneOf("design", input.design, designNames) ?? scenarioDefaults.design,
    stack: String(stack),
    config: { ...config },
    shards,
    parameters: { ...parameters },
    mode: oneOf("mode", input.mode, ["array", "jobs"] as const),
    jobDurationSeconds:
      seconds("jobDurationSeconds", input.jobDurationSeconds, 0, maxJobDurationSeconds) ??
      scenarioDefaults.jobDurationSeconds,
    stepDurationSeconds:
      seconds("stepDurationSeconds", input.stepDurationSeconds, 0, maxJobDurationSeconds) ??
      scenarioDefaults.stepDurationSeconds,
    failShards: Array.isArray(failShards) ? [...new Set(failShards)].sort((a, b) => a - b) : [],
    stopAfterSeconds: seconds("stopAfterSeconds", input.stopAfterSeconds, 0, maxJobDurationSeconds * 4),
    throttleRate: typeof throttleRate === "number" ? throttleRate : 0,
    duplicateDeliveries: flag("duplicateDeliveries", input.duplicateDeliveries),
    seed: wholeNumber("seed", input.seed, 0, 2 ** 31 - 1) ?? scenarioDefaults.seed,
    eventDelaySeconds:
      seconds("eventDelaySeconds", input.eventDelaySeconds, 0, 3600) ?? scenarioDefaults.eventDelaySeconds,
    malformedMessage: oneOf("malformedMessage", input.malformedMessage, [
      "without-token",
      "with-token",
    ] as const),
    noAnswerAfterSeconds:
      seconds("noAnswerAfterSeconds", input.noAnswerAfterSeconds, 1, 30 * 24 * 3600) ??
      scenarioDefaults.noAnswerAfterSeconds,
    timeLimitSeconds:
      seconds("timeLimitSeconds", input.timeLimitSeconds, 1, 30 * 24 * 3600) ??
      scenarioDefaults.timeLimitSeconds,
    maxConcurrentJobs: wholeNumber("maxConcurrentJobs", input.maxConcurrentJobs, 1, maxShards),
    listingLagSeconds: seconds("listingLagSeconds", input.listingLagSeconds, 0, 3600) ?? 0,
    functionLogs: flag("functionLogs", input.functionLogs),
    ...checkWorker(input, problems),
    engine: oneOf("engine", input.engine, ["batch", "transform"] as const),
    modelTimeoutSeconds: seconds("modelTimeoutSeconds", input.modelTimeoutSeconds, 0.001, 3600) ?? 600,
  };
  if (resolved.engine === "transform") {
    for (const { field, why } of notWithTransformEngine) {
      const given = input[field];
      if (given !== undefined && given !== false && !(field === "design" && given === "bridge")) {
        problems.push(`${field} cannot be combined with engine transform: ${why}.`);
      }
    }
  } else if (input.modelTimeoutSeconds !== undefined) {
    problems.push("modelTimeoutSeconds needs engine transform and a worker: it bounds the model's answer.");
  }
  if (resolved.design === "reference" && resolved.mode === "jobs") {
    // Not an error: the reference design always submits one job per shard.
    resolved.mode = undefined;
  }
  if (problems.length > 0) throw new ScenarioError(problems);
  return resolved;
}

/**
 * The worker command and input folder: a command that can start, an existing folder, and none of the
 * fields that simulate what the worker's processes now decide.
 */
function checkWorker(
  input: Scenario,
  problems: string[],
): Pick<ResolvedScenario, "worker" | "inputDirectory"> {
  const { worker, inputDirectory } = input;
  if (worker === undefined) {
    if (inputDirectory !== undefined) {
      problems.push("inputDirectory needs worker: without a worker no job reads the input.");
    }
    return { worker: undefined, inputDirectory: undefined };
  }
  const problem = typeof worker === "string" ? workerCommandProblem(worker) : "it is not a string";
  if (problem !== undefined) problems.push(`worker ${JSON.stringify(worker)} cannot start: ${problem}.`);
  for (const [field, why] of [
    ["failShards", "the worker's exit codes decide which shards fail"],
    ["jobDurationSeconds", "a job runs as long as its process"],
  ] as const) {
    if (input[field] !== undefined) problems.push(`${field} cannot be combined with worker: ${why}.`);
  }
  if (input.design === "reference") problems.push("worker runs the bridge design only.");
  let folder: string | undefined;
  if (inputDirectory !== undefined) {
    folder = path.resolve(String(inputDirectory));
    let isDirectory = false;
    try {
      isDirectory = statSync(folder).isDirectory();
    } catch {
      // Reported below.
    }
    if (!isDirectory) problems.push(`inputDirectory ${folder} is not a folder.`);
  }
  return { worker: typeof worker === "string" ? worker : undefined, inputDirectory: folder };
}

const durationUnits: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Seconds from a duration such as `90s`, `30m`, `2h`, `1h30m`, `1.5h` or a plain number of seconds.
 * Throws an error naming the accepted forms.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    total += Number(match[1]) * durationUnits[match[2]];
    matched = part.lastIndex;
  }
  if (trimmed === "" || matched !== trimmed.length) {
    throw new Error(
      `"${text}" is not a duration: use a number with a unit, e.g. 90s, 30m, 2h, 1h30m (s, m, h, d), or seconds`,
    );
  }
  return total;
}

/**
 * `5400` -> `1h30m`, `90` -> `1m30s`, `7233` -> `2h00m33s`, `0.25` -> `0.25s`: from the largest unit to the
 * smallest that is not zero, each after the first in two digits, so that no unit can be misread.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 60 && !Number.isInteger(seconds)) return `${Number(seconds.toFixed(3))}s`;
  const whole = Math.round(seconds);
  const units: [number, string][] = [
    [Math.floor(whole / 86400), "d"],
    [Math.floor((whole % 86400) / 3600), "h"],
    [Math.floor((whole % 3600) / 60), "m"],
    [whole % 60, "s"],
  ];
  const first = units.findIndex(([n]) => n > 0);
  if (first === -1) return "0s";
  const last = units.length - 1 - [...units].reverse().findIndex(([n]) => n > 0);
  return units
    .slice(first, last + 1)
    .map(([n, unit], i) => `${i === 0 ? n : String(n).padStart(2, "0")}${unit}`)
    .join("");
}

/**
 * A latency: tenths of a second under a minute (`1.0s`, `0.5s`, `12.3s`), whole seconds above (`2m38s`),
 * so that figures side by side read alike.
 */
export function formatLatency(seconds: number): string {
  return seconds < 59.95 ? `${seconds.toFixed(1)}s` : formatDuration(Math.round(seconds));
}

/** `1 shard`, `4 shards`. */
export function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
