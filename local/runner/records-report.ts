/** How a records run reads to a person: progress lines while it runs, and the summary at the end. */
import { transformProvisioningSeconds } from "../sagemaker/transform-jobs";
import { elapsed, jobsByState } from "./report";
import type { RecordsProgress, RecordsSummary } from "./records-run";
import { counted, formatDuration, formatLatency } from "./scenario";

/** One progress line: time, records sent and accepted, executions, jobs by state. */
export function recordsProgressLine(progress: RecordsProgress): string {
  return (
    `${elapsed(progress.simulatedSeconds)}  records: ${progress.accepted} accepted  ` +
    `executions: ${progress.executionsStarted} started, ${progress.executionsRunning} running  ` +
    `jobs: ${jobsByState(progress.jobs)}`
  );
}

/** Prints a progress line when the executions or the jobs' states change, or every 100 records accepted. */
export class RecordsProgressPrinter {
  private last = "";

  constructor(private readonly write: (line: string) => void) {}

  update(progress: RecordsProgress): void {
    const key =
      `${Math.floor(progress.accepted / 100)} ${progress.executionsStarted} ${progress.executionsRunning} ` +
      Object.entries(progress.jobs)
        .filter(([, n]) => n > 0)
        .map(([state]) => state)
        .join();
    if (key === this.last) return;
    this.last = key;
    this.write(recordsProgressLine(progress));
  }
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** The summary as a person reads it. */
export function formatRecordsSummary(summary: RecordsSummary): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${label.padEnd(19)}${value}`);
  const { submitted, processed, failed, lost } = summary.records;
  row(
    "Records",
    `${submitted} submitted: ${processed} processed, ${failed} failed, ${lost} lost` +
      (summary.expected ? " (as expected)" : ""),
  );
  for (const problem of summary.unexpected) row("Not as expected", problem);
  // By index: job_ids are random, and the summary reads the same on every run of a seed.
  for (const record of summary.failedRecords) row("Failed record", `${record.index}: ${record.error}`);
  if (summary.recordLatencySeconds) {
    const { p50, p99, max } = summary.recordLatencySeconds;
    row(
      "Record latency",
      `p50 ${formatLatency(p50)}, p99 ${formatLatency(p99)}, max ${formatLatency(max)} (from the POST to the final status)`,
    );
  }
  const batching =
    summary.batchSize === null
      ? "on the schedule"
      : `of up to ${summary.batchSize} records or ${summary.batchWindowSeconds}s`;
  const { started, succeeded, failed: executionsFailed, stopped } = summary.executions;
  row(
    "Batches",
    `${counted(started, "execution")} (batches ${batching}): ${succeeded} succeeded` +
      `${executionsFailed ? `, ${executionsFailed} failed` : ""}${stopped ? `, ${stopped} stopped` : ""}; ` +
      (summary.engine === "transform"
        ? `one transform job each (${Object.entries(summary.transformJobs ?? {})
            .map(([status, count]) => `${count} ${status}`)
            .join(
              ", ",
            )}), ${formatDuration(transformProvisioningSeconds)} provisioning, ${summary.modelWorker ? "the worker as the model" : `${formatDuration(summary.jobDurationSeconds)} processing`}`
        : `${summary.mode === "array" ? "one array job" : "one job per shard"} each, ${formatDuration(summary.jobDurationSeconds)} jobs`),
  );
  row("Simulated time", `${formatDuration(summary.simulatedSeconds)} until every record was final`);
  row("Wall time", `${summary.wallSeconds.toFixed(1)}s`);
  if (summary.throttledRetries > 0 || summary.refused > 0) {
    row("API answers", `${summary.throttledRetries} throttled (429, retried), ${summary.refused} refused`);
  }
  const invocations = Object.entries(summary.lambdaInvocations)
    .map(([name, count]) => {
      const errors = summary.lambdaErrors[name];
      return `${name} ${count}${errors ? ` (${errors} failed)` : ""}`;
    })
    .join(", ");
  row("Lambda invocations", `${total(summary.lambdaInvocations)}: ${invocations || "none"}`);
  const callCount = Object.values(summary.apiCalls).reduce((sum, operations) => sum + total(operations), 0);
  row("AWS API calls", `${callCount} by operation (to process the records; the final GETs left out):`);
  for (const [service, operations] of Object.entries(summary.apiCalls)) {
    if (Object.keys(operations).length === 0) continue;
    lines.push(
      `  ${service.padEnd(17)}${Object.entries(operations)
        .map(([operation, count]) => `${operation} ${count}`)
        .join(", ")}`,
    );
  }
  lines.push("  (SQS includes Lambda receiving from the queues and SageMaker sending the callback messages)");
  row("Jobs left running", String(summary.jobsLeftRunning));
  row("Dead letters", String(summary.deadLetterMessages));
  if (summary.modelWorker) {
    row("Model", summary.modelWorker.command);
    row("Model logs", `${summary.modelWorker.logsDirectory} (stderr of each request, one file each)`);
  }
  return lines.join("\n");
}
