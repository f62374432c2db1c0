/**
 * The job queue's unfinished jobs, measured once a minute on a schedule: how many jobs are in each state
 * and how long the oldest RUNNABLE job has waited. It logs one JSON line, from which CloudWatch metric
 * filters make the metrics of the "jobs waiting RUNNABLE" alarm and of the dashboard. It answers no step,
 * so it sees the queue the same way whether steps complete by events or by polling.
 */
import type { BatchClient, JobSummary } from "@aws-sdk/client-batch";
import {
  BatchCalls,
  describeJobsLimit,
  invocationDeadline,
  type BatchPacers,
  type InvocationContext,
} from "./batch-calls";
import { systemClock, type Clock } from "./clock";
import { unfinishedStatuses } from "./execution-jobs";
import type { Log } from "./log";

/** The message of the line the metric filters read (infra/alarms.ts matches it). */
export const queueJobsLogMessage = "queue jobs";

type UnfinishedState = (typeof unfinishedStatuses)[number];

/** What the line carries besides the message: jobs by state (array children one by one), and the wait. */
export type QueueJobs = Record<UnfinishedState, number> & {
  /** Seconds since the oldest RUNNABLE job was created; 0 when none waits. */
  oldestRunnableSeconds: number;
};

export interface QueueJobsDeps {
  batch: BatchClient;
  pacers: BatchPacers;
  jobQueue: string;
  logger: Log;
  clock?: Clock;
}

/** ListJobs returns at most 100 summaries a page. */
const pageSize = 100;

/**
 * Builds the handler. Batch lists an array job's children only by the parent's ID, and the parent shows
 * SUBMITTED or PENDING while its children run (AWS Batch User Guide, "Array jobs"): a parent's children are
 * counted from DescribeJobs' `arrayProperties.statusSummary`, without listing them. An age counts from the
 * job's createdAt: Batch gives no time of entering RUNNABLE, and a job without dependencies goes
 * SUBMITTED -> RUNNABLE within seconds.
 */
export function makeQueueJobsHandler(
  deps: QueueJobsDeps,
): (event: unknown, context?: InvocationContext) => Promise<QueueJobs> {
  const clock = deps.clock ?? systemClock();
  return async (_event, context) => {
    const calls = new BatchCalls(deps.batch, clock, deps.pacers, invocationDeadline(clock, context));
    const counts = Object.fromEntries(unfinishedStatuses.map((state) => [state, 0])) as Record<
      UnfinishedState,
      number
    >;
    const runnable: { createdAt?: number }[] = [];
    const parents: string[] = [];
    for (const state of unfinishedStatuses) {
      for (const job of await listAll(calls, { jobQueue: deps.jobQueue, jobStatus: state })) {
        if (job.arrayProperties?.size !== undefined && job.jobId !== undefined) {
          parents.push(job.jobId);
          continue;
        }
        counts[state] += 1;
        if (state === "RUNNABLE") runnable.push(job);
      }
    }
    for (let i = 0; i < parents.length; i += describeJobsLimit) {
      const described = await calls.describeJobs(parents.slice(i, i + describeJobsLimit));
      for (const parent of described.jobs ?? []) {
        const summary = parent.arrayProperties?.statusSummary ?? {};
        for (const state of unfinishedStatuses) counts[state] += summary[state] ?? 0;
        // The children are created with their parent: a RUNNABLE child has waited since the parent's createdAt.
        if ((summary.RUNNABLE ?? 0) > 0) runnable.push({ createdAt: parent.createdAt });
      }
    }
    const now = clock.now();
    const oldestCreatedAt = runnable.reduce((oldest, job) => Math.min(oldest, job.createdAt ?? now), now);
    const measured: QueueJobs = {
      ...counts,
      oldestRunnableSeconds: Math.max(0, Math.floor((now - oldestCreatedAt) / 1000)),
    };
    deps.logger.info(queueJobsLogMessage, { ...measured });
    return measured;
  };
}

async function listAll(
  calls: BatchCalls,
  query: { jobQueue: string; jobStatus: UnfinishedState },
): Promise<JobSummary[]> {
  const jobs: JobSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await calls.listJobs({ ...query, maxResults: pageSize, nextToken });
    jobs.push(...(page.jobSummaryList ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return jobs;
}
