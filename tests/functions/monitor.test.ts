import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  TerminateJobCommand,
  type JobDetail,
  type JobSummary,
} from "@aws-sdk/client-batch";
import {
  SageMakerClient,
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
} from "@aws-sdk/client-sagemaker";
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import { stepAnsweredLogMessage } from "../../functions/settlement";
import { listingGraceSeconds } from "../../functions/decision";
import { makeMonitorHandler } from "../../functions/monitor";
import type { MonitorSettings } from "../../functions/settings";
import { executionJobName, shardJobName } from "../../functions/job-names";
import { executionTagKey } from "../../functions/step-contract";
import { isTerminatedByBridge } from "../../functions/execution-jobs";
import { terminationReasons } from "../../functions/terminate";
import {
  awsError,
  baseName,
  callbackMessage,
  executionArn,
  executionId,
  fakeClock,
  fakeStart,
  invocationContext,
  monitorSettings,
  recordingLog,
  shardJob,
  sqsRecord,
} from "./factories";

/** An array parent as DescribeJobs returns it. */
function arrayJob(
  status: string,
  statusSummary: Record<string, number>,
  overrides: Partial<JobDetail> = {},
): JobDetail {
  return {
    jobId: "array-job-1",
    jobName: baseName,
    jobQueue: monitorSettings.jobQueue,
    jobDefinition: "batch-bridge-job:1",
    status: status as JobDetail["status"],
    startedAt: fakeStart,
    arrayProperties: { size: 4, statusSummary },
    tags: { [executionTagKey]: executionArn },
    ...overrides,
  } as JobDetail;
}

const arrayArguments = { jobMode: "array", jobRef: "array-job-1", shardCount: "4" };

/** A jobs-mode callback message for `shardCount` shards. */
function jobsMessage(shardCount: number, overrides: Record<string, unknown> = {}) {
  return callbackMessage({
    arguments: { jobMode: "jobs", jobRef: baseName, shardCount: String(shardCount) },
    ...overrides,
  });
}

/** A monitor handler on mocked clients; helpers read what a user would see: answers, terminations, delays. */
function monitorFixture(settings: Partial<MonitorSettings> = {}) {
  const batch = new BatchClient({ region: "eu-west-1" });
  const sagemaker = new SageMakerClient({ region: "eu-west-1" });
  const sqs = new SQSClient({ region: "eu-west-1" });
  const batchMock = mockClient(batch);
  const sagemakerMock = mockClient(sagemaker);
  const sqsMock = mockClient(sqs);
  batchMock.on(TerminateJobCommand).resolves({});
  sagemakerMock.on(SendPipelineExecutionStepSuccessCommand).resolves({ PipelineExecutionArn: executionArn });
  sagemakerMock.on(SendPipelineExecutionStepFailureCommand).resolves({ PipelineExecutionArn: executionArn });
  sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: "dlq-1" });
  const clock = fakeClock();
  const log = recordingLog();
  const handler = makeMonitorHandler({
    batch,
    sagemaker,
    sqs,
    settings: { ...monitorSettings, ...settings },
    logger: log,
    clock,
  });
  // Each invocation has 30 s: a Batch call throttled for good is retried until then, then left for later.
  const run = (...records: SQSRecord[]) => handler({ Records: records }, invocationContext(clock, 30));
  return {
    run,
    batchMock,
    sagemakerMock,
    sqsMock,
    clock,
    log,
    /** The listed jobs of a jobs-mode execution, served 100 a page as ListJobs does. */
    listJobs(jobs: JobSummary[]) {
      batchMock.on(ListJobsCommand).callsFake((input) => {
        const start = input.nextToken ? Number(input.nextToken) : 0;
        const end = start + (input.maxResults ?? 100);
        return {
          jobSummaryList: jobs.slice(start, end),
          nextToken: end < jobs.length ? String(end) : undefined,
        };
      });
    },
    successes: () =>
      sagemakerMock.commandCalls(SendPipelineExecutionStepSuccessCommand).map((c) => c.args[0].input),
    failures: () =>
      sagemakerMock.commandCalls(SendPipelineExecutionStepFailureCommand).map((c) => c.args[0].input),
    terminated: () => batchMock.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId),
    /** The status reasons the terminated jobs show in Batch. */
    terminationReasons: () => [
      ...new Set(batchMock.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.reason)),
    ],
    delays: () =>
      sqsMock.commandCalls(ChangeMessageVisibilityCommand).map((c) => ({
        receiptHandle: c.args[0].input.ReceiptHandle,
        seconds: c.args[0].input.VisibilityTimeout,
      })),
    deadLettered: () => sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input),
  };
}

describe("monitor function", () => {
  describe("jobs still running", () => {
    it("brings the message back soon, then less and less often, up to the visibility timeout", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .resolves({ jobs: [arrayJob("PENDING", { RUNNING: 3, RUNNABLE: 1 })] });
      const receives = [1, 2, 3, 4, 5, 6, 7, 8, 20];

      const responses = [];
      for (const receiveCount of receives) {
        responses.push(await f.run(sqsRecord({ messageId: `m-${receiveCount}`, receiveCount })));
      }

      expect(f.delays().map((d) => d.seconds)).to.deep.equal([10, 20, 40, 80, 160, 320, 640, 1280, 1800]);
      expect(responses.map((r) => r.batchItemFailures)).to.deep.equal(
        receives.map((n) => [{ itemIdentifier: `m-${n}` }]),
      );
      expect(f.successes()).to.have.length(0);
      expect(f.failures()).to.have.length(0);
    });

    it("logs one line per decision with the counts by state and the next check", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .resolves({ jobs: [arrayJob("PENDING", { RUNNING: 3, SUCCEEDED: 1 })] });

      await f.run(sqsRecord({ receiveCount: 3 }));

      expect(f.log.lines).to.have.length(1);
      expect(f.log.lines[0].attributes).to.deep.include({
        executionArn,
        jobRef: "array-job-1",
        counts: { RUNNING: 3, SUCCEEDED: 1 },
        decision: "wait",
        nextCheckSeconds: 40,
      });
    });

    it("counts a just-submitted array job's children as where the parent is", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUBMITTED", {})] });

      const response = await f.run(sqsRecord());

      expect(response.batchItemFailures).to.have.length(1);
      expect(f.log.lines[0].attributes.counts).to.deep.equal({ SUBMITTED: 4 });
    });
  });

  describe("all jobs succeeded", () => {
    it("answers success with the declared outputs (array job)", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });

      const response = await f.run(sqsRecord());

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.successes()).to.have.length(1);
      expect(f.successes()[0]).to.deep.include({
        CallbackToken: "tok-0000000001",
        OutputParameters: [
          { Name: "Status", Value: "SUCCEEDED" },
          { Name: "SucceededShards", Value: "4" },
          { Name: "ShardCount", Value: "4" },
          { Name: "JobRef", Value: "array-job-1" },
          { Name: "FailedShards", Value: "" },
        ],
      });
      expect(f.successes()[0].ClientRequestToken).to.match(/^[0-9a-f]{64}$/);
    });

    it("answers success for a single job", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [arrayJob("SUCCEEDED", {}, { arrayProperties: undefined })],
      });

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { jobMode: "array", jobRef: "array-job-1", shardCount: "1" } }),
        }),
      );

      expect(f.successes()[0].OutputParameters).to.deep.include({ Name: "SucceededShards", Value: "1" });
    });

    it("answers success once every one of 250 jobs-mode shards succeeded, reading every page", async () => {
      const f = monitorFixture();
      f.listJobs(Array.from({ length: 250 }, (_, i) => shardJob(i, "SUCCEEDED")));

      await f.run(sqsRecord({ body: jobsMessage(250) }));

      expect(f.batchMock.commandCalls(ListJobsCommand)).to.have.length(3);
      expect(f.successes()[0].OutputParameters).to.deep.equal([
        { Name: "Status", Value: "SUCCEEDED" },
        { Name: "SucceededShards", Value: "250" },
        { Name: "ShardCount", Value: "250" },
        { Name: "JobRef", Value: baseName },
        { Name: "FailedShards", Value: "" },
      ]);
    });

    it("returns the step's output URI as OutputUri, for later steps to read", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });
      const outputUri = "s3://data-bucket/output/embeddings/";

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { ...arrayArguments, jobName: baseName, outputUri } }),
        }),
      );

      expect(f.successes()[0].OutputParameters).to.deep.include({ Name: "OutputUri", Value: outputUri });
    });

    it("answers a named bridge step from its own jobs, not the execution's other steps'", async () => {
      const f = monitorFixture();
      const jobName = executionJobName("batch-bridge", executionId, "Embed");
      f.listJobs([
        // Another bridge step of the execution, failed; and this step's shards, all succeeded.
        shardJob(0, "FAILED"),
        ...[0, 1].map((i) =>
          shardJob(i, "SUCCEEDED", { jobName: shardJobName(jobName, i), jobId: `embed-${i}` }),
        ),
      ]);

      await f.run(
        sqsRecord({
          body: jobsMessage(2, { arguments: { jobMode: "jobs", jobRef: jobName, shardCount: "2", jobName } }),
        }),
      );

      expect(f.failures()).to.deep.equal([]);
      expect(f.successes()[0].OutputParameters).to.deep.include({ Name: "JobRef", Value: jobName });
    });

    it("does not take another step's array job for a named step's", async () => {
      const f = monitorFixture();
      // DescribeJobs finds the job ID, but it is the unnamed step's job (its name has no step key).
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });
      const jobName = executionJobName("batch-bridge", executionId, "Embed");

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { ...arrayArguments, jobName } }),
          sentAt: fakeStart - (listingGraceSeconds + 1) * 1000,
        }),
      );

      expect(f.successes()).to.deep.equal([]);
      expect(f.failures()[0].FailureReason).to.contain("was not found");
    });

    it("counts the newest job of a shard that was submitted again", async () => {
      const f = monitorFixture();
      f.listJobs([
        shardJob(0, "SUCCEEDED"),
        shardJob(1, "FAILED", { jobId: "old", createdAt: fakeStart - 1000 }),
        shardJob(1, "SUCCEEDED", { jobId: "new", createdAt: fakeStart }),
      ]);

      await f.run(sqsRecord({ body: jobsMessage(2) }));

      expect(f.successes()).to.have.length(1);
      expect(f.failures()).to.have.length(0);
    });
  });

  describe("a job failed", () => {
    it("names the failed shards and their reasons, and terminates the array job", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [arrayJob("PENDING", { FAILED: 2, RUNNING: 1, SUCCEEDED: 1 })],
      });
      f.batchMock.on(ListJobsCommand, { arrayJobId: "array-job-1", jobStatus: "FAILED" }).resolves({
        jobSummaryList: [
          {
            jobId: "array-job-1:3",
            jobName: baseName,
            status: "FAILED",
            statusReason: "Essential container in task exited",
            container: { exitCode: 1 },
            arrayProperties: { index: 3 },
          },
          {
            jobId: "array-job-1:1",
            jobName: baseName,
            status: "FAILED",
            statusReason: "Job attempt duration exceeded timeout",
            arrayProperties: { index: 1 },
          },
        ],
      });

      const response = await f.run(sqsRecord());

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.failures()).to.have.length(1);
      expect(f.failures()[0].FailureReason).to.equal(
        "2 of 4 shards failed: shard 1 (Job attempt duration exceeded timeout), " +
          "shard 3 (exit code 1: Essential container in task exited)",
      );
      expect(f.terminated()).to.deep.equal(["array-job-1"]);
      expect(f.terminationReasons()).to.deep.equal([
        "sagemaker-batch-bridge: another shard of the step failed",
      ]);
    });

    it("logs the answer SageMaker took, which the failed-steps alarm counts (a failure, then a success)", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .resolves({ jobs: [arrayJob("FAILED", { FAILED: 1, SUCCEEDED: 3 })] });
      f.batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
      await f.run(sqsRecord());
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });
      await f.run(sqsRecord());

      const answered = f.log.lines.filter((line) => line.message === stepAnsweredLogMessage);
      expect(
        answered.map((line) => [line.level, line.attributes.executionArn, line.attributes.outcome]),
      ).to.deep.equal([
        ["info", executionArn, "failure"],
        ["info", executionArn, "success"],
      ]);
    });

    it("keeps the reason within 256 characters however many shards failed, and stops the rest", async () => {
      const f = monitorFixture();
      const jobs = Array.from({ length: 1000 }, (_, i) =>
        i % 2 === 0
          ? shardJob(i, "FAILED", {
              statusReason: "Essential container in task exited",
              container: { exitCode: 137, reason: "OutOfMemoryError: Container killed due to memory usage" },
            })
          : shardJob(i, i % 3 === 0 ? "RUNNING" : "SUCCEEDED"),
      );
      f.listJobs(jobs);

      await f.run(sqsRecord({ body: jobsMessage(1000) }));

      const reason = f.failures()[0].FailureReason!;
      expect(reason.length).to.be.at.most(256);
      expect(reason).to.match(/^500 of 1000 shards failed: shard 0 \(exit code 137: OutOfMemoryError/);
      expect(reason).to.match(/, and \d+ more$/);
      const running = jobs.filter((j) => j.status === "RUNNING").map((j) => j.jobId);
      expect(f.terminated().sort()).to.deep.equal(running.sort());
    });

    it("says where to look when Batch has not listed the failed children yet", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .resolves({ jobs: [arrayJob("FAILED", { FAILED: 1, SUCCEEDED: 3 })] });
      f.batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });

      await f.run(sqsRecord());

      expect(f.failures()[0].FailureReason).to.equal(
        "1 of 4 shards failed; see Batch job array-job-1 for the reasons.",
      );
    });

    it("shortens a very long status reason to fit", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [
          arrayJob(
            "FAILED",
            {},
            { arrayProperties: undefined, statusReason: `CannotPullContainerError: ${"x".repeat(2000)}` },
          ),
        ],
      });

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { jobMode: "array", jobRef: "array-job-1", shardCount: "1" } }),
        }),
      );

      const reason = f.failures()[0].FailureReason!;
      expect(reason.length).to.be.at.most(256);
      expect(reason).to.match(/^1 of 1 shard failed: shard 0 \(CannotPullContainerError: x+\.\.\.\)$/);
    });

    it("never cuts a character in two when it shortens a reason", async () => {
      const f = monitorFixture();
      // Each emoji is two UTF-16 code units: a cut at an odd length lands between the two halves.
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [arrayJob("FAILED", {}, { arrayProperties: undefined, statusReason: "\u{1F4A5}".repeat(200) })],
      });

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { jobMode: "array", jobRef: "array-job-1", shardCount: "1" } }),
        }),
      );

      const reason = f.failures()[0].FailureReason!;
      expect(reason).to.match(/^1 of 1 shard failed: shard 0 \((\u{1F4A5})+\.\.\.\)$/u);
      // A lone half would reach SageMaker as U+FFFD after UTF-8 encoding.
      expect(Buffer.from(reason, "utf8").toString("utf8")).to.equal(reason);
    });

    it("names a failed single job by its container's exit code", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [
          arrayJob(
            "FAILED",
            {},
            {
              arrayProperties: undefined,
              statusReason: "Essential container in task exited",
              container: { exitCode: 2 },
            },
          ),
        ],
      });

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { jobMode: "array", jobRef: "array-job-1", shardCount: "1" } }),
        }),
      );

      expect(f.failures()[0].FailureReason).to.equal(
        "1 of 1 shard failed: shard 0 (exit code 2: Essential container in task exited)",
      );
      expect(f.terminated()).to.deep.equal([]);
    });
  });

  describe("jobs the bridge itself terminated are not failures", () => {
    // Polling alone has no claim: two deliveries of one message (SQS delivers at least once) can check
    // at once, and one may list the jobs while the other is terminating them.
    it("names only the shard that really failed when a racing check has terminated others (jobs mode)", async () => {
      const f = monitorFixture();
      const jobs = Array.from({ length: 30 }, (_, shard) =>
        shard === 29
          ? shardJob(shard, "FAILED", {
              statusReason: "Essential container in task exited",
              container: { exitCode: 1 },
            })
          : shard < 10
            ? shardJob(shard, "FAILED", { statusReason: terminationReasons.shardFailed })
            : shardJob(shard, "RUNNING"),
      );
      f.listJobs(jobs);

      await f.run(sqsRecord({ body: jobsMessage(30) }));

      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "1 of 30 shards failed: shard 29 (exit code 1: Essential container in task exited)",
      ]);
      expect(f.terminated()).to.have.members(jobs.slice(10, 29).map((j) => j.jobId));
    });

    it("finds the failed child among 10,000 the bridge terminated, reading every page (array mode)", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [arrayJob("FAILED", { FAILED: 10_000 }, { arrayProperties: { size: 10_000 } })],
      });
      const children = Array.from({ length: 10_000 }, (_, index) => ({
        jobId: `array-job-1:${index}`,
        jobName: baseName,
        status: "FAILED" as const,
        arrayProperties: { index },
        ...(index === 9_999
          ? { statusReason: "Essential container in task exited", container: { exitCode: 2 } }
          : { statusReason: terminationReasons.shardFailed }),
      }));
      f.listJobs(children);

      await f.run(
        sqsRecord({ body: callbackMessage({ arguments: { ...arrayArguments, shardCount: "10000" } }) }),
      );

      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "1 of 10000 shards failed: shard 9999 (exit code 2: Essential container in task exited)",
      ]);
      // ListJobs by status returns up to 1,000 jobs a page.
      expect(f.batchMock.commandCalls(ListJobsCommand)).to.have.length(10);
      expect(f.terminated()).to.deep.equal([]);
    });

    it("says the bridge terminated the shards when no shard failed of its own (a stop raced this check)", async () => {
      const f = monitorFixture();
      f.listJobs([
        shardJob(0, "SUCCEEDED"),
        shardJob(1, "FAILED", { statusReason: terminationReasons.stopped }),
        shardJob(2, "FAILED", { statusReason: terminationReasons.stopped }),
        shardJob(3, "RUNNING"),
      ]);

      await f.run(sqsRecord({ body: jobsMessage(4) }));

      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "sagemaker-batch-bridge terminated 2 of 4 shards (pipeline execution stopped).",
      ]);
      expect(f.terminated()).to.deep.equal(["job-00003"]);
      expect(f.terminationReasons()).to.deep.equal([terminationReasons.stopped]);
    });

    it("knows every status reason it gives Batch for its own", () => {
      for (const reason of Object.values(terminationReasons)) {
        expect(isTerminatedByBridge(reason), reason).to.equal(true);
      }
      expect(isTerminatedByBridge("Essential container in task exited")).to.equal(false);
      expect(isTerminatedByBridge(undefined)).to.equal(false);
    });

    it("says so for a single job and an array job the bridge terminated before it started", async () => {
      const f = monitorFixture();
      const stopped = { status: "FAILED" as const, statusReason: terminationReasons.stopped };
      f.batchMock
        .on(DescribeJobsCommand)
        .resolvesOnce({ jobs: [arrayJob("FAILED", {}, { ...stopped, arrayProperties: undefined })] })
        .resolves({ jobs: [arrayJob("FAILED", {}, stopped)] });
      f.listJobs([]);

      await f.run(
        sqsRecord({ body: callbackMessage({ arguments: { ...arrayArguments, shardCount: "1" } }) }),
      );
      await f.run(sqsRecord({ body: callbackMessage({ token: "tok-0000000002" }) }));

      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "sagemaker-batch-bridge terminated 1 of 1 shard (pipeline execution stopped).",
        "sagemaker-batch-bridge terminated 4 of 4 shards (pipeline execution stopped).",
      ]);
    });
  });

  describe("jobs that cannot be found", () => {
    // The callback message was sent this long before the check: Batch has had the grace to list the jobs.
    const pastGrace = fakeStart - listingGraceSeconds * 1000;

    it("waits for jobs Batch does not list yet within the listing grace after submission, then fails", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [] });
      f.listJobs([shardJob(0, "RUNNING")]);

      // Batch's reads are eventually consistent: a job just submitted may not be described or listed yet.
      const arrayResponse = await f.run(sqsRecord({ sentAt: fakeStart }));
      const jobsResponse = await f.run(sqsRecord({ body: jobsMessage(2), sentAt: fakeStart - 115_000 }));

      expect(arrayResponse.batchItemFailures).to.have.length(1);
      expect(jobsResponse.batchItemFailures).to.have.length(1);
      expect(f.failures()).to.deep.equal([]);
      expect(f.terminated()).to.deep.equal([]);
      // The schedule's first delay (10 s), or the end of the grace when that comes first.
      expect(f.delays().map((d) => d.seconds)).to.deep.equal([10, 6]);

      await f.run(sqsRecord({ body: jobsMessage(2), sentAt: pastGrace, receiveCount: 2 }));
      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "Jobs not found for 1 of 2 shards: shard 1",
      ]);
      expect(f.terminated()).to.deep.equal(["job-00000"]);
    });

    it("comes back at the end of the grace, not at the next safety-net check, with completion events", async () => {
      const f = monitorFixture({
        pollSchedule: { initialDelaySeconds: 21_600, maxDelaySeconds: 21_600, maxWaitSeconds: 7 * 86_400 },
      });
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [] });

      await f.run(sqsRecord({ sentAt: fakeStart - 1_500 }));

      expect(f.failures()).to.deep.equal([]);
      // 1.5 s into the grace: back when the rest has passed, rounded up, and a second more to be sure.
      expect(f.delays().map((d) => d.seconds)).to.deep.equal([Math.ceil(listingGraceSeconds - 1.5) + 1]);
    });

    it("fails at once on a failed shard even while other shards are not listed yet", async () => {
      const f = monitorFixture();
      f.listJobs([shardJob(0, "FAILED", { statusReason: "Job attempt duration exceeded timeout" })]);

      await f.run(sqsRecord({ body: jobsMessage(2), sentAt: fakeStart }));

      expect(f.failures().map((a) => a.FailureReason)).to.deep.equal([
        "1 of 2 shards failed: shard 0 (Job attempt duration exceeded timeout)",
      ]);
    });

    it("answers on the last receives even within the grace, so the token never reaches the dead-letter queue", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [] });

      await f.run(sqsRecord({ sentAt: fakeStart, receiveCount: monitorSettings.maxReceiveCount - 1 }));

      expect(f.failures()[0].FailureReason).to.contain("was not found");
    });

    it("fails the step when the array job still does not exist after the listing grace", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [] });

      const response = await f.run(sqsRecord({ sentAt: pastGrace }));

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.failures()[0].FailureReason).to.contain(
        "Batch job array-job-1 of this execution was not found",
      );
    });

    it("treats another execution's job as not found and leaves it alone", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [
          arrayJob(
            "RUNNING",
            { RUNNING: 4 },
            {
              tags: { [executionTagKey]: executionArn.replace(/execution\/\w+/, "execution/zzzzzzzzzzzz") },
            },
          ),
        ],
      });

      await f.run(sqsRecord({ sentAt: pastGrace }));

      expect(f.failures()[0].FailureReason).to.contain("was not found");
      expect(f.terminated()).to.deep.equal([]);
    });

    it("treats an untagged job named for another execution as not found", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({
        jobs: [
          arrayJob("RUNNING", { RUNNING: 4 }, { tags: undefined, jobName: "batch-bridge-zzzzzzzzzzzz" }),
        ],
      });

      await f.run(sqsRecord({ sentAt: pastGrace }));

      expect(f.failures()[0].FailureReason).to.contain("was not found");
      expect(f.terminated()).to.deep.equal([]);
    });

    it("names the shards without a job and terminates the others", async () => {
      const f = monitorFixture();
      f.listJobs([shardJob(0, "RUNNING"), shardJob(2, "SUCCEEDED")]);

      await f.run(sqsRecord({ body: jobsMessage(4), sentAt: pastGrace }));

      expect(f.failures()[0].FailureReason).to.equal("Jobs not found for 2 of 4 shards: shard 1, shard 3");
      expect(f.terminated()).to.deep.equal(["job-00000"]);
    });
  });

  describe("malformed messages", () => {
    it("moves a body that is not JSON to the dead-letter queue with the reason, and deletes it", async () => {
      const f = monitorFixture();

      const response = await f.run(sqsRecord({ body: "{not json" }));

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.deadLettered()).to.have.length(1);
      expect(f.deadLettered()[0]).to.deep.include({
        QueueUrl: monitorSettings.deadLetterQueueUrl,
        MessageBody: "{not json",
      });
      expect(f.deadLettered()[0].MessageAttributes?.reason.StringValue).to.equal(
        "the message body is not JSON",
      );
      expect(f.failures()).to.have.length(0);
      expect(f.log.lines.map((l) => l.attributes.reason)).to.deep.equal(["the message body is not JSON"]);
    });

    it("answers a failure saying what was wrong when the message carries a token", async () => {
      const f = monitorFixture();

      const response = await f.run(
        sqsRecord({ body: callbackMessage({ arguments: { jobMode: "lambda", jobRef: "x" } }) }),
      );

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.failures()).to.have.length(1);
      expect(f.failures()[0].FailureReason).to.equal(
        'Invalid callback message: arguments.jobMode must be "array" or "jobs", got "lambda"; ' +
          "arguments.shardCount must be a whole number from 1 to 10,000",
      );
      expect(f.deadLettered()).to.have.length(1);
    });

    it("refuses a jobs-mode jobRef that names other jobs than the execution's, and never touches those", async () => {
      const f = monitorFixture();
      f.listJobs([]);

      await f.run(
        sqsRecord({
          body: callbackMessage({ arguments: { jobMode: "jobs", jobRef: "batch-bridge", shardCount: 4 } }),
        }),
      );

      expect(f.failures()[0].FailureReason).to.contain(`arguments.jobRef must be "${baseName}"`);
      // Only the execution's own jobs were looked for (to terminate them), not the jobRef's.
      expect(f.batchMock.commandCalls(ListJobsCommand).map((c) => c.args[0].input.filters)).to.deep.equal([
        [{ name: "JOB_NAME", values: [`${baseName}*`] }],
      ]);
      expect(f.terminated()).to.deep.equal([]);
    });

    it("terminates the execution's unfinished jobs before failing a step whose message is malformed", async () => {
      const f = monitorFixture();
      const order: string[] = [];
      const otherExecution = "batch-bridge-zzzzzz999999";
      f.listJobs([
        shardJob(0, "RUNNING"),
        shardJob(1, "SUCCEEDED"),
        shardJob(2, "RUNNABLE"),
        { jobId: "not-ours", jobName: `${otherExecution}-00000`, status: "RUNNING" },
      ]);
      f.batchMock.on(DescribeJobsCommand).callsFake((input: { jobs: string[] }) => ({
        jobs: input.jobs.map((jobId) => ({
          jobId,
          status: "RUNNING",
          tags: { [executionTagKey]: executionArn },
        })),
      }));
      f.batchMock.on(TerminateJobCommand).callsFake((input: { jobId: string }) => {
        order.push(`terminate ${input.jobId}`);
        return {};
      });
      f.sagemakerMock.on(SendPipelineExecutionStepFailureCommand).callsFake(() => {
        order.push("answer failure");
        return { PipelineExecutionArn: executionArn };
      });

      await f.run(sqsRecord({ body: callbackMessage({ status: "Paused" }) }));

      expect(order).to.deep.equal(["terminate job-00000", "terminate job-00002", "answer failure"]);
      expect(f.terminationReasons()).to.deep.equal([
        "sagemaker-batch-bridge: the step's callback message was invalid",
      ]);
      expect(f.deadLettered()).to.have.length(1);
    });

    it("refuses a jobName of another execution", async () => {
      const f = monitorFixture();
      const otherExecution = executionJobName("batch-bridge", "zzzzzz999999", "Embed");

      await f.run(
        sqsRecord({ body: callbackMessage({ arguments: { ...arrayArguments, jobName: otherExecution } }) }),
      );

      expect(f.failures()[0].FailureReason).to.contain(
        `arguments.jobName must be "${baseName}", or that and "_<step key>" (the jobs of this execution)`,
      );
      // Only this execution's jobs are looked for (to stop them before the step fails), never the other's.
      const calls = f.batchMock.calls().map((call) => call.args[0]);
      expect(calls.map((command) => command.constructor.name)).to.not.include("TerminateJobCommand");
      for (const command of calls) expect(JSON.stringify(command.input)).to.not.contain("zzzzzz999999");
    });

    it("names an unknown status, and one that is not a string", async () => {
      const f = monitorFixture();

      await f.run(
        sqsRecord({ body: callbackMessage({ status: "Paused" }) }),
        sqsRecord({ body: callbackMessage({ status: 1 }) }),
      );

      expect(f.failures().map((a) => a.FailureReason)).to.have.members([
        'Invalid callback message: status must be Executing or Stopping when present, got "Paused"',
        "Invalid callback message: status must be Executing or Stopping when present, got 1",
      ]);
    });

    it("reads a message without a status as the executing step's: AWS documents the field only for Stopping", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("RUNNING", { RUNNING: 4 })] });

      const response = await f.run(sqsRecord({ body: callbackMessage({}, ["status"]) }));

      // Checked and brought back like any running step: no answer, no clean-up, nothing dead-lettered.
      expect(response.batchItemFailures).to.have.length(1);
      expect(f.failures()).to.deep.equal([]);
      expect(f.terminated()).to.deep.equal([]);
      expect(f.deadLettered()).to.deep.equal([]);
      expect(f.delays().map((d) => d.seconds)).to.deep.equal([10]);
    });

    it("reads the status key spelled Status, in any case", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });

      await f.run(sqsRecord({ body: callbackMessage({ Status: "EXECUTING" }, ["status"]) }));

      expect(f.successes()).to.have.length(1);
    });

    it("retries a malformed message when the dead-letter queue cannot take it, never dropping it", async () => {
      const f = monitorFixture();
      f.sqsMock.on(SendMessageCommand).rejects(awsError("InternalError", 500));

      const record = sqsRecord({ body: "[]" });
      const response = await f.run(record);

      expect(response.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
    });
  });

  describe("the execution is stopped", () => {
    it("terminates the array job and answers that it stopped, with the jobs it stopped", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .resolves({ jobs: [arrayJob("PENDING", { RUNNING: 2, RUNNABLE: 1, SUCCEEDED: 1 })] });

      const response = await f.run(sqsRecord({ body: callbackMessage({ status: "Stopping" }) }));

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.terminated()).to.deep.equal(["array-job-1"]);
      expect(f.terminationReasons()).to.deep.equal(["sagemaker-batch-bridge: pipeline execution stopped"]);
      expect(f.failures()[0].FailureReason).to.equal("Pipeline execution stopped; terminated 3 job(s).");
    });

    it("terminates every unfinished jobs-mode shard", async () => {
      const f = monitorFixture();
      f.listJobs([
        shardJob(0, "RUNNING"),
        shardJob(1, "SUCCEEDED"),
        shardJob(2, "RUNNABLE"),
        shardJob(3, "FAILED"),
      ]);

      await f.run(sqsRecord({ body: jobsMessage(4, { status: "stopping" }) }));

      expect(f.terminated().sort()).to.deep.equal(["job-00000", "job-00002"]);
      expect(f.failures()[0].FailureReason).to.equal("Pipeline execution stopped; terminated 2 job(s).");
    });

    it("answers even when nothing is left to terminate", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });

      await f.run(sqsRecord({ body: callbackMessage({ status: "Stopping" }) }));

      expect(f.terminated()).to.deep.equal([]);
      expect(f.failures()[0].FailureReason).to.equal("Pipeline execution stopped; terminated 0 job(s).");
    });
  });

  describe("exactly one answer per token", () => {
    it("sends a duplicate delivery's answer with the same request token and deletes both", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });
      f.sagemakerMock
        .on(SendPipelineExecutionStepSuccessCommand)
        .resolvesOnce({ PipelineExecutionArn: executionArn })
        .rejects(awsError("ConflictException", 409, "Step is already answered"));

      const response = await f.run(sqsRecord(), sqsRecord());

      expect(response.batchItemFailures).to.deep.equal([]);
      const [first, second] = f.successes();
      expect(second.ClientRequestToken).to.equal(first.ClientRequestToken);
    });

    it("deletes a message whose token SageMaker says is already answered or unknown", async () => {
      for (const refusal of [
        awsError("ValidationException", 400, "Step with callback token is not in a valid state"),
        awsError("ResourceNotFound", 404, "Callback token not found"),
      ]) {
        const f = monitorFixture();
        f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("FAILED", { FAILED: 4 })] });
        f.batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
        f.sagemakerMock.on(SendPipelineExecutionStepFailureCommand).rejects(refusal);

        const response = await f.run(sqsRecord());

        expect(response.batchItemFailures).to.deep.equal([]);
        expect(f.log.lines.some((l) => l.attributes.decision === "answer refused")).to.equal(true);
      }
    });

    it("answers a different token with a different request token", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });

      await f.run(sqsRecord(), sqsRecord({ body: callbackMessage({ token: "tok-0000000002" }) }));

      const [first, second] = f.successes();
      expect(second.ClientRequestToken).to.not.equal(first.ClientRequestToken);
    });
  });

  describe("throttling and errors", () => {
    it("retries Batch throttling and then answers", async () => {
      const f = monitorFixture();
      f.batchMock
        .on(DescribeJobsCommand)
        .rejectsOnce(awsError("TooManyRequestsException", 429))
        .rejectsOnce(awsError("TooManyRequestsException", 429))
        .resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });

      const response = await f.run(sqsRecord());

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.successes()).to.have.length(1);
    });

    it("leaves the message for a later check when Batch keeps throttling, and answers nothing", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).rejects(awsError("TooManyRequestsException", 429));

      const record = sqsRecord({ receiveCount: 2 });
      const response = await f.run(record);

      expect(response.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      expect(f.successes()).to.have.length(0);
      expect(f.failures()).to.have.length(0);
      expect(f.delays()).to.deep.equal([{ receiptHandle: record.receiptHandle, seconds: 20 }]);
    });

    it("leaves the message for a retry when SageMaker throttles the answer", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("SUCCEEDED", { SUCCEEDED: 4 })] });
      f.sagemakerMock
        .on(SendPipelineExecutionStepSuccessCommand)
        .rejects(awsError("ThrottlingException", 400, "Rate exceeded"));

      const record = sqsRecord();
      const response = await f.run(record);

      expect(response.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
    });

    it("answers a failure on the last receives rather than let the token reach the dead-letter queue", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).rejects(awsError("AccessDeniedException", 403, "not authorized"));

      const response = await f.run(sqsRecord({ receiveCount: monitorSettings.maxReceiveCount - 1 }));

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.failures()[0].FailureReason).to.contain("Could not check the jobs after 368 attempts");
      expect(f.failures()[0].FailureReason).to.contain("not authorized");
    });

    it("retries a termination that is throttled before answering", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("PENDING", { RUNNING: 4 })] });
      f.batchMock.on(TerminateJobCommand).rejects(awsError("TooManyRequestsException", 429));

      const record = sqsRecord({ body: callbackMessage({ status: "Stopping" }) });
      const response = await f.run(record);

      expect(response.batchItemFailures).to.deep.equal([{ itemIdentifier: record.messageId }]);
      expect(f.failures()).to.have.length(0);
    });
  });

  describe("the wait is bounded", () => {
    it("fails and terminates when the step has waited longer than maxWaitSeconds", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("PENDING", { RUNNABLE: 4 })] });
      const sentAt = fakeStart - (monitorSettings.pollSchedule.maxWaitSeconds + 60) * 1000;

      const response = await f.run(sqsRecord({ sentAt, receiveCount: 340 }));

      expect(response.batchItemFailures).to.deep.equal([]);
      expect(f.terminated()).to.deep.equal(["array-job-1"]);
      expect(f.terminationReasons()).to.deep.equal([
        "sagemaker-batch-bridge: the step waited maxWaitSeconds",
      ]);
      expect(f.failures()[0].FailureReason).to.match(/^Jobs did not finish within 7 days/);
      expect(f.failures()[0].FailureReason).to.contain("4 RUNNABLE");
    });

    it("fails before the redrive policy could move the token to the dead-letter queue", async () => {
      const f = monitorFixture();
      f.batchMock.on(DescribeJobsCommand).resolves({ jobs: [arrayJob("PENDING", { RUNNING: 4 })] });

      await f.run(sqsRecord({ receiveCount: monitorSettings.maxReceiveCount - 2 }));
      await f.run(sqsRecord({ receiveCount: monitorSettings.maxReceiveCount - 1 }));

      expect(f.delays()).to.have.length(1);
      expect(f.failures()).to.have.length(1);
      expect(f.failures()[0].FailureReason).to.contain("Jobs did not finish within");
    });
  });

  it("in a mixed batch answers the finished steps and brings back only the running one", async () => {
    const f = monitorFixture();
    const jobsById: Record<string, JobDetail> = {
      done: arrayJob("SUCCEEDED", { SUCCEEDED: 4 }, { jobId: "done" }),
      running: arrayJob("RUNNING", { RUNNING: 4 }, { jobId: "running" }),
      broken: arrayJob("FAILED", { FAILED: 1, SUCCEEDED: 3 }, { jobId: "broken" }),
    };
    f.batchMock
      .on(DescribeJobsCommand)
      .callsFake((input) => ({ jobs: [jobsById[input.jobs[0]]].filter(Boolean) }));
    f.batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
    f.batchMock
      .on(DescribeJobsCommand, { jobs: ["throttled"] })
      .rejects(awsError("TooManyRequestsException", 429));
    const message = (token: string, jobRef: string) =>
      sqsRecord({
        messageId: jobRef,
        body: callbackMessage({ token, arguments: { jobMode: "array", jobRef, shardCount: "4" } }),
      });

    const response = await f.run(
      message("tok-done-0001", "done"),
      message("tok-runs-0001", "running"),
      message("tok-fail-0001", "broken"),
      message("tok-thrott001", "throttled"),
      sqsRecord({ messageId: "garbage", body: "garbage" }),
    );

    expect(response.batchItemFailures).to.have.deep.members([
      { itemIdentifier: "running" },
      { itemIdentifier: "throttled" },
    ]);
    expect(f.successes().map((a) => a.CallbackToken)).to.deep.equal(["tok-done-0001"]);
    expect(f.failures().map((a) => a.CallbackToken)).to.deep.equal(["tok-fail-0001"]);
  });
});
