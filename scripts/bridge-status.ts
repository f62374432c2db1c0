/**
 * What `npm run bridge` reads of a deployed stack and shows: the stack's outputs, an execution's steps, its
 * bridge steps' jobs by state, the failed shards with their CloudWatch log links, and the step's answer,
 * through the SageMaker and Batch APIs; and the text that shows them.
 */
import { BatchClient, DescribeJobsCommand } from "@aws-sdk/client-batch";
import {
  DescribePipelineExecutionCommand,
  ListPipelineExecutionStepsCommand,
  type PipelineExecutionStep,
  type SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import { createBatchPacers, BatchCalls } from "../functions/batch-calls";
import { systemClock } from "../functions/clock";
import { jobLogGroupName } from "../functions/job-names";
import { findExecutionJobs, unfinishedStatuses } from "../functions/execution-jobs";
import { submitOutputNames, type JobMode } from "../functions/step-contract";

/** The stack outputs the CLI needs, as `pulumi stack output --json` prints them. */
export interface StackOutputs {
  pipelineName: string;
  pipelineArn: string;
  jobQueueArn: string;
  jobDefinitionArn: string;
}

export const requiredOutputs = ["pipelineName", "pipelineArn", "jobQueueArn", "jobDefinitionArn"] as const;

/** The outputs in `text`, or the problem with them (naming the output). */
export function parseStackOutputs(text: string): StackOutputs | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `the stack outputs are not JSON (${(error as Error).message}): give what "pulumi stack output --json" prints`;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return 'the stack outputs must be a JSON object, as "pulumi stack output --json" prints them';
  }
  const outputs = parsed as Record<string, unknown>;
  const missing = requiredOutputs.filter((name) => typeof outputs[name] !== "string" || outputs[name] === "");
  if (missing.length > 0) {
    return `the stack outputs lack ${missing.join(", ")}: give what "pulumi stack output --json" prints for a sagemaker-batch-bridge stack`;
  }
  return Object.fromEntries(requiredOutputs.map((name) => [name, outputs[name]])) as unknown as StackOutputs;
}

/** The region of an ARN (`arn:aws:sagemaker:<region>:...`). */
export function regionOfArn(arn: string): string | undefined {
  return arn.split(":")[3] || undefined;
}

/**
 * The CloudWatch console's page of one log stream. The console's fragment encodes each path part twice
 * over, `%` written `$25` (a `/` becomes `$252F`), as its own links do.
 */
export function logStreamUrl(region: string, logGroup: string, logStream: string): string {
  const encode = (part: string) => encodeURIComponent(part).replace(/%/g, "$25");
  return (
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
    `#logsV2:log-groups/log-group/${encode(logGroup)}/log-events/${encode(logStream)}`
  );
}

/** A step of the execution, as ListPipelineExecutionSteps shows it. */
export interface StepView {
  name: string;
  /** Lambda or Callback (from the step's metadata); undefined for other steps. */
  type?: string;
  status: string;
  startedAt?: string;
  endedAt?: string;
  failureReason?: string;
  /** A Lambda step's outputs, a Callback step's on success. */
  outputs?: Record<string, string>;
}

/** A failed shard of a bridge step, with where its log is. */
export interface FailedShardView {
  shard?: number;
  jobId: string;
  exitCode?: number;
  reason?: string;
  logGroup?: string;
  logStream?: string;
  logUrl?: string;
}

/** The jobs of one bridge step (found from its submit step's outputs). */
export interface BridgeStepJobs {
  /** The submit (Lambda) step whose outputs name the jobs. */
  submitStep: string;
  jobMode: JobMode;
  jobRef: string;
  jobName: string;
  shards: number;
  /** Shards by Batch state (NOT_FOUND for a shard without a job). */
  byState: Record<string, number>;
  /** Shards that failed of their own, not counting those the bridge terminated. */
  failed: number;
  /** Up to 100 of them, in shard order. */
  failedShards: FailedShardView[];
  terminatedByBridge: number;
  bridgeTerminationReason?: string;
  unfinished: number;
}

/** An execution as the CLI shows it. */
export interface ExecutionView {
  executionArn: string;
  status: string;
  failureReason?: string;
  startedAt?: string;
  lastModifiedAt?: string;
  /** In the order they started. */
  steps: StepView[];
  jobs: BridgeStepJobs[];
  /** The last Callback step that has ended: how it was answered. */
  answer?: { step: string; status: string; outputs?: Record<string, string>; failureReason?: string };
}

export const endedStatuses = ["Succeeded", "Failed", "Stopped"];

const iso = (date: Date | undefined) => date?.toISOString();

/** Reads an execution: its status and steps, and each bridge step's jobs. */
export async function readExecution(
  clients: { sagemaker: SageMakerClient; batch: BatchClient },
  outputs: StackOutputs,
  region: string,
  executionArn: string,
): Promise<ExecutionView> {
  const described = await clients.sagemaker.send(
    new DescribePipelineExecutionCommand({ PipelineExecutionArn: executionArn }),
  );
  const listed: PipelineExecutionStep[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.sagemaker.send(
      new ListPipelineExecutionStepsCommand({ PipelineExecutionArn: executionArn, NextToken: nextToken }),
    );
    listed.push(...(page.PipelineExecutionSteps ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  const steps = listed.reverse().map(stepView);
  const jobs: BridgeStepJobs[] = [];
  for (const step of steps) {
    const ref = submitOutputsOf(step);
    if (ref) jobs.push(await readStepJobs(clients.batch, outputs, region, executionArn, step.name, ref));
  }
  const answered = steps.filter((s) => s.type === "Callback" && s.status !== "Executing").at(-1);
  return {
    executionArn,
    status: described.PipelineExecutionStatus ?? "Unknown",
    failureReason: described.FailureReason,
    startedAt: iso(described.CreationTime),
    lastModifiedAt: iso(described.LastModifiedTime),
    steps,
    jobs,
    answer: answered && {
      step: answered.name,
      status: answered.status,
      outputs: answered.outputs,
      failureReason: answered.failureReason,
    },
  };
}

function stepView(step: PipelineExecutionStep): StepView {
  const metadata = step.Metadata;
  const type = metadata?.Lambda ? "Lambda" : metadata?.Callback ? "Callback" : undefined;
  const parameters = metadata?.Lambda?.OutputParameters ?? metadata?.Callback?.OutputParameters ?? [];
  return {
    name: step.StepName ?? "",
    type,
    status: step.StepStatus ?? "Unknown",
    startedAt: iso(step.StartTime),
    endedAt: iso(step.EndTime),
    failureReason: step.FailureReason,
    outputs:
      parameters.length > 0
        ? Object.fromEntries(parameters.map((p) => [p.Name ?? "", p.Value ?? ""]))
        : undefined,
  };
}

/** A submit step's outputs (every output a bridge's Lambda step returns), or undefined for other steps. */
function submitOutputsOf(step: StepView): Record<(typeof submitOutputNames)[number], string> | undefined {
  const outputs = step.outputs;
  if (step.type !== "Lambda" || !outputs) return undefined;
  if (!submitOutputNames.every((name) => typeof outputs[name] === "string")) return undefined;
  if (outputs.jobMode !== "array" && outputs.jobMode !== "jobs") return undefined;
  return outputs as Record<(typeof submitOutputNames)[number], string>;
}

async function readStepJobs(
  batch: BatchClient,
  outputs: StackOutputs,
  region: string,
  executionArn: string,
  submitStep: string,
  ref: Record<(typeof submitOutputNames)[number], string>,
): Promise<BridgeStepJobs> {
  const clock = systemClock();
  // The functions' own reading of an execution's jobs: counts, failed shards, what the bridge terminated.
  const calls = new BatchCalls(batch, clock, createBatchPacers(clock), clock.now() + 60_000);
  const found = await findExecutionJobs(
    calls,
    {
      executionArn,
      jobMode: ref.jobMode as JobMode,
      jobRef: ref.jobRef,
      shardCount: Number(ref.shardCount),
      jobName: ref.jobName,
    },
    outputs.jobQueueArn,
  );
  const failedShards: FailedShardView[] = found.failedShards.map((shard) => ({
    shard: shard.shardIndex,
    jobId: shard.jobId,
    exitCode: shard.exitCode,
    reason: shard.containerReason ?? shard.statusReason,
  }));
  if (failedShards.length > 0) {
    // DescribeJobs takes at most 100 job IDs; failedShards holds at most 100.
    const described = await batch.send(new DescribeJobsCommand({ jobs: failedShards.map((s) => s.jobId) }));
    const defaultGroup = jobLogGroupName(outputs.jobDefinitionArn.split("/").at(-1)!.split(":")[0]);
    for (const shard of failedShards) {
      const job = described.jobs?.find((j) => j.jobId === shard.jobId);
      const stream = job?.container?.logStreamName;
      if (!stream) continue;
      shard.logGroup = job.container?.logConfiguration?.options?.["awslogs-group"] ?? defaultGroup;
      shard.logStream = stream;
      shard.logUrl = logStreamUrl(region, shard.logGroup, stream);
    }
  }
  return {
    submitStep,
    jobMode: ref.jobMode as JobMode,
    jobRef: ref.jobRef,
    jobName: ref.jobName,
    shards: Number(ref.shardCount),
    byState: Object.fromEntries(Object.entries(found.counts).filter(([, count]) => count > 0)),
    failed: found.failed,
    failedShards,
    terminatedByBridge: found.terminatedByBridge,
    bridgeTerminationReason: found.bridgeTerminationReason,
    unfinished: found.unfinished,
  };
}

const jobStates = ["NOT_FOUND", ...unfinishedStatuses, "SUCCEEDED", "FAILED"];

/** `2 RUNNING, 2 SUCCEEDED`, in the order a job goes through its states. */
export function formatJobStates(byState: Record<string, number>): string {
  const known = jobStates.filter((state) => (byState[state] ?? 0) > 0);
  const other = Object.keys(byState).filter((state) => !jobStates.includes(state) && byState[state] > 0);
  const parts = [...known, ...other].map((state) => `${byState[state]} ${state}`);
  return parts.length > 0 ? parts.join(", ") : "none yet";
}

/** One line of `watch`: the execution's status, its running step and its jobs. */
export function progressLine(view: ExecutionView): string {
  const step = view.steps.at(-1);
  const jobs = view.jobs.map((j) => formatJobStates(j.byState)).join("; ") || "none yet";
  return `${view.status.padEnd(10)} ${step ? `${step.name} ${step.status}` : "no step yet"}  jobs: ${jobs}`;
}

/** The full status, as `status` prints it and `watch` ends with. */
export function formatExecution(view: ExecutionView): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(11)}${text}`);
  row("Execution", view.executionArn);
  const span =
    view.startedAt === undefined
      ? ""
      : endedStatuses.includes(view.status) && view.lastModifiedAt !== undefined
        ? `, ${view.startedAt} to ${view.lastModifiedAt}`
        : `, started ${view.startedAt}`;
  row("Status", `${view.status}${span}`);
  if (view.failureReason) row("Reason", view.failureReason);
  const nameWidth = Math.max(4, ...view.steps.map((s) => s.name.length)) + 2;
  for (const step of view.steps) {
    const detail = step.failureReason ? `  ${step.failureReason}` : "";
    row("Step", `${step.name.padEnd(nameWidth)}${(step.type ?? "").padEnd(10)}${step.status}${detail}`);
  }
  if (view.steps.length === 0) row("Step", "none started yet");
  for (const jobs of view.jobs) {
    const how =
      jobs.jobMode === "array"
        ? `one array job ${jobs.jobRef}`
        : `one job per shard, named ${jobs.jobName}-*`;
    row("Jobs", `${jobs.submitStep}: ${jobs.shards} shard(s), ${how}: ${formatJobStates(jobs.byState)}`);
    for (const shard of jobs.failedShards) {
      const exit = shard.exitCode === undefined ? "" : `exit code ${shard.exitCode}: `;
      row(
        "Failed",
        `shard ${shard.shard ?? "?"} (job ${shard.jobId}): ${exit}${shard.reason ?? "no reason given"}`,
      );
      if (shard.logUrl) row("", `log: ${shard.logUrl}`);
    }
    if (jobs.failed > jobs.failedShards.length) {
      row("Failed", `${jobs.failed - jobs.failedShards.length} more shard(s) not listed`);
    }
    if (jobs.terminatedByBridge > 0) {
      row(
        "Terminated",
        `${jobs.terminatedByBridge} job(s) by the bridge (${jobs.bridgeTerminationReason ?? "no reason given"})`,
      );
    }
  }
  if (view.answer) {
    const outputs = view.answer.outputs
      ? Object.entries(view.answer.outputs)
          .map(([name, value]) => `${name}=${value}`)
          .join(", ")
      : "";
    const detail = view.answer.failureReason ?? outputs;
    row("Answer", `${view.answer.step} ${view.answer.status}${detail ? `: ${detail}` : ""}`);
  } else {
    row("Answer", "not yet");
  }
  return lines.join("\n");
}
