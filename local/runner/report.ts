/** How a local execution reads to a person: progress lines while it runs, and the summary at the end. */
import { jobStatuses, type JobStatus } from "../batch/job-record";
import type { Progress, Summary } from "./run";
import { counted, formatDuration, formatLatency, transformRecordsPerShard } from "./scenario";
import type { WorkerSummary } from "./worker-host";

/**
 * `4 RUNNING, 2 SUCCEEDED`, or `none yet`. Jobs stopped by a TerminateJob or CancelJob call are FAILED in
 * Batch's terms; they are told apart as `terminated`, after the jobs that failed of their own.
 */
export function jobsByState(jobs: Record<JobStatus, number>, terminated = 0): string {
  const counts = { ...jobs, FAILED: jobs.FAILED - terminated };
  const parts = jobStatuses.filter((state) => counts[state] > 0).map((state) => `${counts[state]} ${state}`);
  if (terminated > 0) parts.push(`${terminated} terminated`);
  return parts.length > 0 ? parts.join(", ") : "none yet";
}

/** `+01:02:05`: simulated hours, minutes and seconds since the start. */
export function elapsed(seconds: number): string {
  const whole = Math.floor(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  return `+${two(Math.floor(whole / 3600))}:${two(Math.floor((whole % 3600) / 60))}:${two(whole % 60)}`;
}

/** One progress line: time, the step and its state, the jobs by state (transform jobs on that engine). */
export function progressLine(progress: Progress): string {
  const step = `${progress.step ?? "(starting)"} ${progress.stepState}`;
  return `${elapsed(progress.simulatedSeconds)}  ${step.padEnd(28)}  ${workLine(progress)}`;
}

/** `jobs: 4 RUNNING`, or on the transform engine `transform jobs: 1 InProgress`. */
function workLine(progress: Progress): string {
  if (progress.transformJobs) {
    const parts = Object.entries(progress.transformJobs).map(([status, count]) => `${count} ${status}`);
    return `transform jobs: ${parts.length > 0 ? parts.join(", ") : "none yet"}`;
  }
  return `jobs: ${jobsByState(progress.jobs, progress.jobsTerminated)}`;
}

/**
 * Prints a progress line when something a person would notice changed: the step's state, or the jobs by
 * state (at most every `minWallMs` when only counts moved, so that thousands of submissions stay readable).
 */
export class ProgressPrinter {
  private last = "";
  private lastStates = "";
  private lastWallMs = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly minWallMs = 250,
  ) {}

  update(progress: Progress): void {
    const key = `${progress.step} ${progress.stepState} ${workLine(progress)}`;
    if (key === this.last) return;
    const states =
      `${progress.step} ${progress.stepState} ${jobStatuses.filter((s) => progress.jobs[s] > 0).join()}` +
      `${progress.jobsTerminated > 0 ? " terminated" : ""} ${Object.keys(progress.transformJobs ?? {}).join()}`;
    const now = performance.now();
    if (states === this.lastStates && now - this.lastWallMs < this.minWallMs) return;
    this.last = key;
    this.lastStates = states;
    this.lastWallMs = now;
    this.write(progressLine(progress));
  }
}

/** `Batch DescribeJobs 6, SubmitJob 1` lines, one per service. */
function callLines(apiCalls: Summary["apiCalls"]): string[] {
  return Object.entries(apiCalls)
    .filter(([, operations]) => Object.keys(operations).length > 0)
    .map(
      ([service, operations]) =>
        `  ${service.padEnd(17)}${Object.entries(operations)
          .map(([operation, count]) => `${operation} ${count}`)
          .join(", ")}`,
    );
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** ` (2 failed)`, ` (1 timed out)`, ` (3 failed, 1 timed out)`: a function's failed invocations, if any. */
function failures(summary: Summary, name: string): string {
  const timedOut = summary.lambdaTimeouts[name] ?? 0;
  const threw = (summary.lambdaErrors[name] ?? 0) - timedOut;
  const parts = [
    ...(threw > 0 ? [`${threw} failed`] : []),
    ...(timedOut > 0 ? [`${timedOut} timed out`] : []),
  ];
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** The services whose events the summary counts, by the events' source. */
const eventSourceNames: Record<string, string> = { "aws.batch": "Batch", "aws.sagemaker": "SageMaker" };

/** The summary as a person reads it. */
export function formatSummary(summary: Summary): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${label.padEnd(19)}${value}`);
  row(
    "Outcome",
    `${summary.outcome}${summary.expected ? " (as expected)" : ` (expected: ${summary.expectedOutcome})`}`,
  );
  for (const note of summary.notes) row("Note", note);
  if (summary.failureReason) row("Failure reason", summary.failureReason);
  if (summary.stepOutputs?.FailedShards) row("Failed shards", summary.stepOutputs.FailedShards);
  if (summary.reportUri) row("Step report", summary.reportUri);
  if (summary.reportFile) row("Report file", summary.reportFile);
  for (const problem of summary.unexpected) row("Not as expected", problem);
  for (const step of summary.steps) {
    // A failed step's reason is the failure reason above.
    const detail = step.detail !== undefined && step.status !== "Failed" ? ` (${step.detail})` : "";
    row("Step", `${step.name} (${step.type}): ${step.status}${detail}`);
  }
  if (summary.transformJobs) lines.push(...transformLines(summary));
  else
    row(
      "Shards",
      `${summary.shards} (${summary.mode === "array" ? "one array job" : "one job per shard"}), ` +
        (summary.worker
          ? "each job as long as its process"
          : `${formatDuration(summary.jobDurationSeconds)} jobs`) +
        `, at most ${summary.concurrentJobs} running at once`,
    );
  if (!summary.transformJobs)
    row(
      "Resume latency",
      summary.resumeLatencySeconds === null
        ? "none (the step was not answered after its jobs)"
        : `${formatLatency(summary.resumeLatencySeconds)} from ${summary.resumeLatencyFrom} to the step's answer`,
    );
  row("Simulated time", `${formatDuration(summary.executionSeconds)} from the start to the execution's end`);
  row("Wall time", `${summary.wallSeconds.toFixed(1)}s`);
  const invocations = Object.entries(summary.lambdaInvocations)
    .map(([name, count]) => `${name} ${count}${failures(summary, name)}`)
    .join(", ");
  row("Lambda invocations", `${total(summary.lambdaInvocations)}: ${invocations || "none"}`);
  if (summary.callsRefusedAfterTimeout > 0) {
    row(
      "After a timeout",
      `${counted(summary.callsRefusedAfterTimeout, "call")} refused: Lambda had stopped the invocation`,
    );
  }
  const callCount = Object.values(summary.apiCalls).reduce((sum, operations) => sum + total(operations), 0);
  if (callCount === 0 && summary.transformJobs) {
    row("AWS API calls", "none by the stack's functions (SageMaker runs the Transform step's job itself)");
  } else {
    row("AWS API calls", `${callCount} by operation:`);
    lines.push(...callLines(summary.apiCalls));
  }
  if (summary.apiCalls.SQS && Object.keys(summary.apiCalls.SQS).length > 0)
    lines.push(
      summary.transformJobs
        ? "  (SQS: EventBridge sending the execution's end to the clean-up queue, and Lambda polling it)"
        : summary.events.deliveredToQueues > 0
          ? "  (SQS includes Lambda polling the queues, SageMaker sending the callback message and EventBridge sending events)"
          : "  (SQS includes Lambda polling the queue and SageMaker sending the callback message)",
    );
  const throttled = total(summary.throttledBatchCalls);
  if (throttled > 0) {
    row(
      "Throttled (429)",
      Object.entries(summary.throttledBatchCalls)
        .map(([operation, count]) => `${operation} ${count}`)
        .join(", "),
    );
  }
  if (summary.events.delivered > 0) {
    const bySource = Object.entries(summary.events.matchedBySource)
      .map(([source, count]) => `${eventSourceNames[source] ?? source} ${count}`)
      .join(", ");
    row(
      "Events",
      `${summary.events.matched} matched a rule (${bySource}), ${summary.events.delivered} delivered`,
    );
  }
  row("Jobs left running", String(summary.jobsLeftRunning));
  row("Dead letters", String(summary.deadLetterMessages));
  for (const [key, { value, why }] of Object.entries(summary.configOverrides)) {
    row("Stack config", `${key} = ${JSON.stringify(value)} for this run (${why})`);
  }
  if (summary.worker) lines.push(...workerLines(summary.worker));
  return lines.join("\n");
}

/** The transform engine's part: the shards as input objects, and each transform job with its records. */
function transformLines(summary: Summary): string[] {
  const lines = [
    `${"Shards".padEnd(19)}${summary.shards} input object(s) of ${transformRecordsPerShard} records under the ` +
      `input prefix, one Transform step's job over them, ` +
      (summary.worker
        ? "the worker answering as the model"
        : `${formatDuration(summary.jobDurationSeconds)} of processing after the instances' provisioning`),
  ];
  for (const job of summary.transformJobs ?? []) {
    const outcome =
      job.status === "Completed"
        ? `${job.records} records answered, written under ${job.outputUri}`
        : (job.failureReason ?? "no output");
    lines.push(
      `${"Transform job".padEnd(19)}${job.name}: ${job.status} after ${formatDuration(job.seconds)}, ${outcome}`,
    );
  }
  return lines;
}

/** The worker's part of the summary: its processes by exit code, and where the logs and output are. */
function workerLines(worker: WorkerSummary): string[] {
  const byExit = new Map<string, number>();
  for (const process of worker.processes) {
    const key = process.stopped ? "stopped" : `exit ${process.exitCode}`;
    byExit.set(key, (byExit.get(key) ?? 0) + 1);
  }
  const exits = [...byExit.entries()].map(([key, count]) => `${count} ${key}`).join(", ");
  const input = worker.input.seededFrom
    ? `${worker.input.uri} (${worker.input.objects} object(s) from ${worker.input.seededFrom})`
    : `${worker.input.uri} (empty)`;
  return [
    `${"Worker".padEnd(19)}${worker.command}`,
    `${"Processes".padEnd(19)}${worker.processes.length}${exits ? `: ${exits}` : ""} (at most ${worker.concurrency} at once)`,
    `${"Input".padEnd(19)}${input}`,
    `${"Job logs".padEnd(19)}${worker.logsDirectory}`,
    `${"Output".padEnd(19)}${worker.outputDirectory} (${worker.output.objects} object(s) of ${worker.output.uri})`,
  ];
}
