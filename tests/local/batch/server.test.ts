import { expect } from "chai";
import {
  BatchClient,
  CancelJobCommand,
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type JobDetail,
  type RetryStrategy,
  type SubmitJobCommandInput,
} from "@aws-sdk/client-batch";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import {
  startBatchServer,
  type BatchJobStateChangeEvent,
  type BatchScenario,
  type BatchServer,
  type BatchServerOptions,
} from "../../../local/batch/server";
import { HttpActivity, installSimulatedProcess, settle } from "../../../local/runner/simulated-process";
import { SimClock } from "../../../local/time/clock";
import { jobRetryConditions } from "../../../infra/batch";
import { errorOf, localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);
const minute = 60_000;

/** Default timeline: SUBMITTED 1 s, RUNNABLE 10 s, STARTING 20 s, then the job's duration. */
const startsRunningAfter = 31_000;

interface Fixture {
  clock: SimClock;
  server: BatchServer;
  batch: BatchClient;
}

function submitInput(overrides: Partial<SubmitJobCommandInput> = {}): SubmitJobCommandInput {
  return {
    jobName: "batch-bridge-exec1",
    jobQueue: "batch-bridge-jobs",
    jobDefinition: "batch-bridge-job",
    ...overrides,
  };
}

describe("local Batch server", () => {
  let fixture: Fixture | undefined;

  async function startBatch(
    scenario: BatchScenario = {},
    options: Partial<BatchServerOptions> & { speed?: number } = {},
  ): Promise<Fixture> {
    const clock = new SimClock({ speed: options.speed ?? 0, startMs: start });
    const server = await startBatchServer({ clock, scenario, seed: 7, ...options });
    const batch = new BatchClient({ ...localClientConfig(server.endpoint), maxAttempts: 1 });
    fixture = { clock, server, batch };
    return fixture;
  }

  async function describe1(f: Fixture, jobId: string): Promise<JobDetail> {
    const { jobs } = await f.batch.send(new DescribeJobsCommand({ jobs: [jobId] }));
    expect(jobs, `job ${jobId}`).to.have.length(1);
    return jobs![0];
  }

  afterEach(async () => {
    fixture?.batch.destroy();
    await fixture?.server.stop();
    fixture?.clock.stop();
    fixture = undefined;
  });

  describe("SubmitJob and DescribeJobs", () => {
    it("returns the job as submitted and moves it SUBMITTED -> RUNNABLE -> ... in simulated time (no dependencies, no PENDING)", async () => {
      const f = await startBatch({ jobDurationMs: 30 * minute });
      const { jobId, jobArn } = await f.batch.send(
        new SubmitJobCommand(
          submitInput({
            parameters: { inputUri: "s3://in/file_00000.json" },
            containerOverrides: { environment: [{ name: "SHARD_INDEX", value: "0" }] },
            tags: { "sagemaker-batch-bridge:execution-arn": "arn:exec" },
            propagateTags: true,
          }),
        ),
      );
      const states: string[] = [];
      for (const at of [0, 1_000, 11_000, startsRunningAfter, startsRunningAfter + 30 * minute]) {
        f.clock.advanceTo(start + at);
        states.push((await describe1(f, jobId!)).status!);
      }
      expect(states).to.deep.equal(["SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]);
      const job = await describe1(f, jobId!);
      expect(job).to.deep.include({
        jobArn,
        jobName: "batch-bridge-exec1",
        jobQueue: "arn:aws:batch:us-east-1:123456789012:job-queue/batch-bridge-jobs",
        jobDefinition: "arn:aws:batch:us-east-1:123456789012:job-definition/batch-bridge-job:1",
        createdAt: start,
        startedAt: start + startsRunningAfter,
        stoppedAt: start + startsRunningAfter + 30 * minute,
        parameters: { inputUri: "s3://in/file_00000.json" },
        tags: { "sagemaker-batch-bridge:execution-arn": "arn:exec" },
        propagateTags: true,
      });
      expect(job.container?.environment).to.deep.equal([{ name: "SHARD_INDEX", value: "0" }]);
      expect(job.container?.exitCode).to.equal(0);
      expect(job.attempts).to.have.length(1);
    });

    it("returns the job definition's logConfiguration, as AWS does, and names log streams by its awslogs-stream-prefix", async () => {
      const logConfiguration = {
        logDriver: "awslogs" as const,
        options: {
          "awslogs-group": "/aws/batch/batch-bridge-dev-job",
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "job",
        },
      };
      const f = await startBatch({
        jobDurationMs: minute,
        jobDefinitions: { "batch-bridge-job": { container: { logConfiguration } }, "plain-job": {} },
      });
      const { jobId } = await f.batch.send(new SubmitJobCommand(submitInput()));
      const plain = await f.batch.send(new SubmitJobCommand(submitInput({ jobDefinition: "plain-job" })));
      f.clock.advance(startsRunningAfter + minute);

      const job = await describe1(f, jobId!);
      expect(job.container?.logConfiguration).to.deep.equal(logConfiguration);
      expect(job.container?.logStreamName).to.match(/^job\/default\/[0-9a-f]{32}$/);
      expect(job.attempts?.[0].container?.logStreamName).to.equal(job.container?.logStreamName);
      // Without one, Batch's defaults: no logConfiguration, streams named after the definition.
      const plainJob = await describe1(f, plain.jobId!);
      expect(plainJob.container?.logConfiguration).to.equal(undefined);
      expect(plainJob.container?.logStreamName).to.match(/^plain-job\/default\/[0-9a-f]{32}$/);
    });

    it("describes at most 100 IDs a call, leaves unknown IDs out, and rejects 101 with a ClientException", async () => {
      const f = await startBatch();
      const { jobId } = await f.batch.send(new SubmitJobCommand(submitInput()));
      const hundred = [jobId!, ...Array.from({ length: 99 }, (_, i) => `unknown-${i}`)];
      const { jobs } = await f.batch.send(new DescribeJobsCommand({ jobs: hundred }));
      expect(jobs?.map((j) => j.jobId)).to.deep.equal([jobId]);
      const error = await errorOf(f.batch.send(new DescribeJobsCommand({ jobs: [...hundred, "one-more"] })));
      expect(error.name).to.equal("ClientException");
      expect(error.$metadata.httpStatusCode).to.equal(400);
      expect(error.message).to.match(/at most 100/);
    });

    it("keeps a job out of DescribeJobs and ListJobs for the listing lag after it was submitted", async () => {
      const f = await startBatch({ listingLagMs: 5_000 });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 2 } })),
      );
      const listed = async () =>
        (
          await f.batch.send(
            new ListJobsCommand({
              jobQueue: "batch-bridge-jobs",
              filters: [{ name: "JOB_NAME", values: ["batch-bridge-exec1*"] }],
            }),
          )
        ).jobSummaryList ?? [];
      const described = async () =>
        (await f.batch.send(new DescribeJobsCommand({ jobs: [jobId!] }))).jobs ?? [];

      f.clock.advance(4_999);
      expect(await described()).to.deep.equal([]);
      expect(await listed()).to.deep.equal([]);
      f.clock.advance(1);
      expect((await described()).map((j) => j.jobId)).to.deep.equal([jobId]);
      expect((await listed()).map((j) => j.jobId)).to.deep.equal([jobId]);
      expect(await f.batch.send(new DescribeJobsCommand({ jobs: [`${jobId}:1`] }))).to.have.nested.property(
        "jobs[0].jobId",
        `${jobId}:1`,
      );
    });

    it("rejects a bad request with a ClientException naming the field", async () => {
      const f = await startBatch();
      const tooBig = await errorOf(
        f.batch.send(new SubmitJobCommand(submitInput({ arrayProperties: { size: 10_001 } }))),
      );
      expect(tooBig.name).to.equal("ClientException");
      expect(tooBig.message).to.match(/arrayProperties.size must be between 2 and 10000/);
      const badName = await errorOf(f.batch.send(new SubmitJobCommand(submitInput({ jobName: "exec 1" }))));
      expect(badName.message).to.match(/jobName/);
      const reserved = await errorOf(
        f.batch.send(
          new SubmitJobCommand(
            submitInput({ containerOverrides: { environment: [{ name: "AWS_BATCH_JOB_ID", value: "x" }] } }),
          ),
        ),
      );
      expect(reserved.message).to.match(/AWS_BATCH_JOB_ID uses the reserved prefix/);
      const longTag = await errorOf(
        f.batch.send(new SubmitJobCommand(submitInput({ tags: { "execution-arn": "a".repeat(257) } }))),
      );
      expect(longTag.message).to.match(/tag "execution-arn" is too long: .* values 256/);
      const fits = await f.batch.send(
        new SubmitJobCommand(submitInput({ tags: { "execution-arn": "a".repeat(256) } })),
      );
      expect(fits.jobId).to.be.a("string");
    });
  });

  describe("array jobs", () => {
    it("runs children <parent>:<index> and summarises them on the parent, which fails when a child fails", async () => {
      const f = await startBatch({
        jobDurationMs: (job) => (job.arrayIndex === 2 ? 5 * minute : 10 * minute),
        attemptFailure: (job) =>
          job.arrayIndex === 2 ? { exitCode: 3, reason: "ValueError: bad row" } : undefined,
      });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 4 } })),
      );
      // Once SUBMITTED ends, the children (no dependencies) are RUNNABLE and the parent PENDING.
      f.clock.advanceTo(start + 1_000);
      const [spawned, child] = (await f.batch.send(new DescribeJobsCommand({ jobs: [jobId!, `${jobId}:3`] })))
        .jobs!;
      expect(spawned.status).to.equal("PENDING");
      expect(spawned.arrayProperties?.statusSummary).to.include({ PENDING: 0, RUNNABLE: 4 });
      expect(child.status).to.equal("RUNNABLE");
      f.clock.advanceTo(start + startsRunningAfter + 6 * minute);
      const [parent, failed, running] = (
        await f.batch.send(
          new DescribeJobsCommand({ jobs: [jobId!, `${jobId}:2`, `${jobId}:0`, `${jobId}:9`] }),
        )
      ).jobs!;
      expect(parent.status).to.equal("PENDING");
      expect(parent.arrayProperties).to.deep.include({ size: 4 });
      expect(parent.arrayProperties?.statusSummary).to.include({ RUNNING: 3, FAILED: 1 });
      expect(failed).to.deep.include({ jobId: `${jobId}:2`, status: "FAILED" });
      expect(failed.arrayProperties).to.deep.equal({ index: 2 });
      expect(failed.container).to.include({ exitCode: 3, reason: "ValueError: bad row" });
      expect(failed.statusReason).to.equal("Essential container in task exited");
      expect(running).to.deep.include({ jobId: `${jobId}:0`, status: "RUNNING" });
      expect(f.server.jobsLeftRunning()).to.equal(3);

      f.clock.advance(10 * minute);
      const done = await describe1(f, jobId!);
      expect(done.status).to.equal("FAILED");
      expect(done.arrayProperties?.statusSummary).to.include({ SUCCEEDED: 3, FAILED: 1 });
      expect(done.stoppedAt).to.equal(start + startsRunningAfter + 10 * minute);
      expect(f.server.jobsLeftRunning()).to.equal(0);
      expect(f.server.countsByState()).to.include({ SUCCEEDED: 3, FAILED: 1 });
    });

    it("succeeds the parent when every child succeeds", async () => {
      const f = await startBatch({ jobDurationMs: minute });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 3 } })),
      );
      f.clock.advance(startsRunningAfter + minute);
      const parent = await describe1(f, jobId!);
      expect(parent.status).to.equal("SUCCEEDED");
      expect(parent.arrayProperties?.statusSummary).to.include({ SUCCEEDED: 3 });
      expect(f.server.lastStoppedAt()).to.equal(start + startsRunningAfter + minute);
    });
  });

  describe("retries and timeouts", () => {
    const retryOnInfrastructure: RetryStrategy = {
      attempts: 3,
      evaluateOnExit: [
        { onStatusReason: "Host EC2*", action: "RETRY" },
        { onReason: "CannotPullContainerError*", action: "RETRY" },
        { onReason: "*", action: "EXIT" },
      ],
    };

    it("retries an infrastructure failure as the job's retry strategy says, and not an application failure", async () => {
      const f = await startBatch({
        jobDefinitions: { "batch-bridge-job": { retryStrategy: retryOnInfrastructure } },
        jobDurationMs: minute,
        attemptFailure: (job) => {
          if (job.jobName === "infra" && job.attempt === 1) {
            return { statusReason: "Host EC2 (instance i-0abc) terminated." };
          }
          if (job.jobName === "app") return { exitCode: 1, reason: "Traceback" };
          return undefined;
        },
      });
      const infra = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "infra" })));
      const app = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "app" })));
      f.clock.advance(2 * (startsRunningAfter + minute));
      const infraJob = await describe1(f, infra.jobId!);
      expect(infraJob.status).to.equal("SUCCEEDED");
      expect(infraJob.attempts?.map((a) => a.statusReason)).to.deep.equal([
        "Host EC2 (instance i-0abc) terminated.",
        "Essential container in task exited",
      ]);
      const appJob = await describe1(f, app.jobId!);
      expect(appJob.status).to.equal("FAILED");
      expect(appJob.attempts).to.have.length(1);
      expect(appJob.container?.reason).to.equal("Traceback");
    });

    it('exits at once, as the stack\'s last entry onReason "*" says, a failure without a container reason', async () => {
      // The stack's own conditions: RETRY what the infrastructure broke, then {onReason: "*", EXIT}.
      const f = await startBatch({
        jobDefinitions: {
          "batch-bridge-job": { retryStrategy: { attempts: 3, evaluateOnExit: jobRetryConditions } },
        },
        jobDurationMs: minute,
        attemptFailure: (job) => {
          if (job.jobName === "exit-code") return { exitCode: 1 };
          if (job.jobName === "pull" && job.attempt === 1) {
            return { reason: "CannotPullContainerError: pull access denied" };
          }
          return undefined;
        },
      });
      const exitCode = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "exit-code" })));
      const pull = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "pull" })));
      f.clock.advance(3 * (startsRunningAfter + minute));
      const failed = await describe1(f, exitCode.jobId!);
      expect(failed.status).to.equal("FAILED");
      expect(failed.attempts).to.have.length(1);
      expect(failed.container).to.include({ exitCode: 1 });
      expect(failed.container?.reason).to.equal(undefined);
      const retried = await describe1(f, pull.jobId!);
      expect(retried.status).to.equal("SUCCEEDED");
      expect(retried.attempts).to.have.length(2);
    });

    it("fails an attempt that outlives its timeout and does not retry it", async () => {
      const f = await startBatch({ jobDurationMs: 30 * minute });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(
          submitInput({ timeout: { attemptDurationSeconds: 600 }, retryStrategy: { attempts: 3 } }),
        ),
      );
      f.clock.advance(startsRunningAfter + 10 * minute);
      const job = await describe1(f, jobId!);
      expect(job.status).to.equal("FAILED");
      expect(job.statusReason).to.equal("Job attempt duration exceeded timeout");
      expect(job.stoppedAt).to.equal(start + startsRunningAfter + 10 * minute);
      expect(job.attempts).to.have.length(1);
    });
  });

  describe("ListJobs", () => {
    it("lists a queue's jobs by status, an array's children, and a name prefix across every status", async () => {
      const f = await startBatch({
        jobDurationMs: (job) => (job.jobName.endsWith("00001") ? minute : 60 * minute),
      });
      const names = [
        "Batch-Bridge-exec1-00000",
        "batch-bridge-exec1-00001",
        "batch-bridge-exec1-00002",
        "other-00000",
      ];
      for (const jobName of names) await f.batch.send(new SubmitJobCommand(submitInput({ jobName })));
      const array = await f.batch.send(
        new SubmitJobCommand(submitInput({ jobName: "batch-bridge-exec2", arrayProperties: { size: 3 } })),
      );
      f.clock.advance(startsRunningAfter + 2 * minute);

      const running = await f.batch.send(
        new ListJobsCommand({ jobQueue: "batch-bridge-jobs", jobStatus: "RUNNING" }),
      );
      expect(running.jobSummaryList?.map((j) => j.jobName).sort()).to.deep.equal(
        ["Batch-Bridge-exec1-00000", "batch-bridge-exec1-00002", "other-00000"].sort(),
      );
      const children = await f.batch.send(
        new ListJobsCommand({ arrayJobId: array.jobId, jobStatus: "RUNNING" }),
      );
      expect(children.jobSummaryList?.map((j) => j.jobId)).to.deep.equal(
        [0, 1, 2].map((i) => `${array.jobId}:${i}`),
      );
      expect(children.jobSummaryList?.[1].arrayProperties).to.deep.equal({ index: 1 });

      const byPrefix = await f.batch.send(
        new ListJobsCommand({
          jobQueue: "batch-bridge-jobs",
          jobStatus: "RUNNING",
          filters: [{ name: "JOB_NAME", values: ["batch-bridge-exec1-*"] }],
        }),
      );
      // The filter ignores jobStatus, matches case-insensitively and lists the newest first.
      expect(byPrefix.jobSummaryList?.map((j) => `${j.jobName}:${j.status}`)).to.deep.equal([
        "batch-bridge-exec1-00002:RUNNING",
        "batch-bridge-exec1-00001:SUCCEEDED",
        "Batch-Bridge-exec1-00000:RUNNING",
      ]);
    });

    it("pages with maxResults and nextToken, at most 100 a page with a filter", async () => {
      const f = await startBatch();
      for (let i = 0; i < 130; i += 1) {
        await f.batch.send(
          new SubmitJobCommand(submitInput({ jobName: `exec-${String(i).padStart(5, "0")}` })),
        );
        f.clock.advance(1_000);
      }
      const filter = { jobQueue: "batch-bridge-jobs", filters: [{ name: "JOB_NAME", values: ["exec-*"] }] };
      const first = await f.batch.send(new ListJobsCommand({ ...filter, maxResults: 1000 }));
      expect(first.jobSummaryList).to.have.length(100);
      expect(first.nextToken).to.be.a("string");
      const second = await f.batch.send(new ListJobsCommand({ ...filter, nextToken: first.nextToken }));
      expect(second.jobSummaryList).to.have.length(30);
      expect(second.nextToken).to.equal(undefined);
      const names = [...first.jobSummaryList!, ...second.jobSummaryList!].map((j) => j.jobName);
      expect(new Set(names).size).to.equal(130);
      expect(names[0]).to.equal("exec-00129");

      const small = await f.batch.send(new ListJobsCommand({ ...filter, maxResults: 7 }));
      expect(small.jobSummaryList).to.have.length(7);
    });
  });

  describe("jobs a test ends itself", () => {
    it("ends a RUNNING job's attempt when told: success, or failure with the exit code and reasons given", async () => {
      const f = await startBatch({ jobDurationMs: 60 * minute });
      const events: BatchJobStateChangeEvent[] = [];
      f.server.onStateChange((event) => events.push(event));
      const ok = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "ok" })));
      const bad = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "bad" })));
      f.clock.advance(startsRunningAfter + minute);

      f.server.endAttemptNow(ok.jobId!);
      f.server.endAttemptNow(bad.jobId!, { exitCode: 2, reason: "OutOfMemoryError: killed" });

      const endedAt = start + startsRunningAfter + minute;
      expect(await describe1(f, ok.jobId!)).to.deep.include({ status: "SUCCEEDED", stoppedAt: endedAt });
      const failed = await describe1(f, bad.jobId!);
      expect(failed).to.deep.include({
        status: "FAILED",
        statusReason: "Essential container in task exited",
      });
      expect(failed.container).to.deep.include({ exitCode: 2, reason: "OutOfMemoryError: killed" });
      expect(events.slice(-2).map((e) => [e.detail.jobName, e.detail.status])).to.deep.equal([
        ["ok", "SUCCEEDED"],
        ["bad", "FAILED"],
      ]);
      // The attempts' own ends, an hour later, are dropped.
      f.clock.advance(2 * 60 * minute);
      expect(f.server.snapshot().map((job) => job.attempts)).to.deep.equal([1, 1]);
      // RUNNABLE, STARTING, RUNNING and the end, for each of the two jobs.
      expect(events).to.have.length(2 * 4);
    });

    it("retries an attempt a test failed as the retry strategy says, and refuses a job that is not RUNNING", async () => {
      const f = await startBatch({ jobDurationMs: 60 * minute });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ retryStrategy: { attempts: 2 } })),
      );
      expect(() => f.server.endAttemptNow(jobId!)).to.throw(/is SUBMITTED, not RUNNING/);
      expect(() => f.server.endAttemptNow("no-such-job")).to.throw(/is unknown, not RUNNING/);
      f.clock.advance(startsRunningAfter);

      f.server.endAttemptNow(jobId!, { statusReason: "Host EC2 (instance i-0abc) terminated." });

      expect((await describe1(f, jobId!)).status).to.equal("RUNNABLE");
      // The first attempt would have ended now; the second, running since 30 s after the first failed, runs on.
      f.clock.advance(60 * minute);
      expect((await describe1(f, jobId!)).status).to.equal("RUNNING");
      f.server.endAttemptNow(jobId!);
      const job = await describe1(f, jobId!);
      expect(job.status).to.equal("SUCCEEDED");
      expect(job.attempts?.map((a) => a.statusReason)).to.deep.equal([
        "Host EC2 (instance i-0abc) terminated.",
        "Essential container in task exited",
      ]);
    });

    it("describes jobs in process as DescribeJobs does, without counting a call", async () => {
      const f = await startBatch();
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 2 } })),
      );
      f.clock.advance(startsRunningAfter);

      const inProcess = f.server.describeJobs([jobId!, `${jobId}:1`, "no-such-job"]);

      const { jobs } = await f.batch.send(new DescribeJobsCommand({ jobs: [jobId!, `${jobId}:1`] }));
      expect(JSON.parse(JSON.stringify(inProcess))).to.deep.equal(JSON.parse(JSON.stringify(jobs)));
      expect(f.server.calls()).to.deep.equal({ DescribeJobs: 1, SubmitJob: 1 });
      const tooMany = Array.from({ length: 101 }, (_, i) => `job-${i}`);
      expect(() => f.server.describeJobs(tooMany)).to.throw(/at most 100 job IDs/);
    });
  });

  describe("TerminateJob and CancelJob", () => {
    it("fails running jobs, cancels queued ones, and cascades from an array parent without retrying", async () => {
      const f = await startBatch({ jobDurationMs: 60 * minute });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 3 }, retryStrategy: { attempts: 5 } })),
      );
      const queued = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "queued" })));
      f.clock.advance(startsRunningAfter + minute);
      await f.batch.send(new TerminateJobCommand({ jobId: jobId!, reason: "Pipeline execution stopped" }));
      await f.batch.send(new TerminateJobCommand({ jobId: "no-such-job", reason: "ignored" }));
      f.clock.advance(2 * 60 * minute);

      const { jobs } = await f.batch.send(
        new DescribeJobsCommand({ jobs: [jobId!, `${jobId}:0`, `${jobId}:2`] }),
      );
      for (const job of jobs!) {
        expect(job.status, job.jobId).to.equal("FAILED");
        expect(job.statusReason, job.jobId).to.equal("Pipeline execution stopped");
      }
      expect(jobs![1].attempts).to.have.length(1);
      expect(jobs![1].stoppedAt).to.equal(start + startsRunningAfter + minute);
      expect(f.server.jobsLeftRunning()).to.equal(0);

      // The other job was never touched: it ran to the end.
      expect((await describe1(f, queued.jobId!)).status).to.equal("SUCCEEDED");
    });

    it("terminates a job that has not started yet", async () => {
      const f = await startBatch();
      const { jobId } = await f.batch.send(new SubmitJobCommand(submitInput()));
      await f.batch.send(new TerminateJobCommand({ jobId: jobId!, reason: "stopped" }));
      const job = await describe1(f, jobId!);
      expect(job).to.deep.include({ status: "FAILED", statusReason: "stopped" });
      expect(job.attempts).to.deep.equal([]);
    });

    it("cancels only jobs that have not reached STARTING", async () => {
      const f = await startBatch({ jobDurationMs: 10 * minute });
      const early = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "early" })));
      f.clock.advance(startsRunningAfter);
      const late = await f.batch.send(new SubmitJobCommand(submitInput({ jobName: "late" })));
      f.clock.advance(5_000);
      for (const job of [early, late]) {
        await f.batch.send(new CancelJobCommand({ jobId: job.jobId!, reason: "cancelled" }));
      }
      f.clock.advance(20 * minute);
      expect((await describe1(f, early.jobId!)).status).to.equal("SUCCEEDED");
      expect(await describe1(f, late.jobId!)).to.deep.include({
        status: "FAILED",
        statusReason: "cancelled",
      });
    });
  });

  describe("capacity", () => {
    it("starts no more than maxConcurrentJobs at once; the others wait RUNNABLE", async () => {
      const f = await startBatch({ jobDurationMs: 10 * minute, maxConcurrentJobs: 2 });
      let mostAtOnce = 0;
      f.server.onStateChange(() => {
        const counts = f.server.countsByState();
        mostAtOnce = Math.max(mostAtOnce, counts.STARTING + counts.RUNNING);
      });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 5 } })),
      );
      f.clock.advance(startsRunningAfter + minute);
      expect(f.server.countsByState()).to.include({ RUNNING: 2, RUNNABLE: 3 });
      f.clock.advance(3 * (10 * minute + 20_000));
      expect((await describe1(f, jobId!)).status).to.equal("SUCCEEDED");
      expect(mostAtOnce).to.equal(2);
    });
  });

  describe("operations", () => {
    it("answers only operations AWS Batch has: TerminateJobs and CancelJobs do not exist", async () => {
      const f = await startBatch();
      const { jobId } = await f.batch.send(new SubmitJobCommand(submitInput()));
      for (const path of ["/v1/terminatejobs", "/v1/canceljobs"]) {
        const response = await fetch(`${f.server.endpoint}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jobs: [jobId], reason: "stop" }),
        });
        expect(response.status, path).to.equal(404);
        expect(response.headers.get("x-amzn-errortype")).to.equal("UnknownOperationException");
      }
      expect((await describe1(f, jobId!)).status).to.equal("SUBMITTED");
    });
  });

  describe("throttling", () => {
    it("answers the 51st SubmitJob/DescribeJobs in one simulated second with 429 TooManyRequestsException", async () => {
      const f = await startBatch();
      for (let i = 0; i < 25; i += 1) {
        await f.batch.send(new SubmitJobCommand(submitInput()));
        await f.batch.send(new DescribeJobsCommand({ jobs: ["x"] }));
      }
      const error = await errorOf(f.batch.send(new SubmitJobCommand(submitInput())));
      expect(error.name).to.equal("TooManyRequestsException");
      expect(error.$metadata.httpStatusCode).to.equal(429);
      // ListJobs does not draw on that quota.
      await f.batch.send(new ListJobsCommand({ jobQueue: "batch-bridge-jobs" }));
      f.clock.advance(1_000);
      await f.batch.send(new SubmitJobCommand(submitInput()));
      expect(f.server.throttledCalls()).to.deep.equal({ SubmitJob: 1 });
      expect(f.server.calls()).to.deep.equal({ DescribeJobs: 25, ListJobs: 1, SubmitJob: 27 });
    });

    it("lets the SDK retry throttled calls, backing off in simulated time while the quota refills", async () => {
      // The SDK's back-off sleeps on the simulated clock, and the clock moves only once no request is in
      // flight: 80 calls at one instant meet a 50-a-second quota (Batch's SubmitJob limit), and every 200 ms
      // back-off refills 10 tokens. So the outcome is exact, however the machine is loaded: 50 pass at once,
      // then 10 of the 30 retries at each step.
      const f = await startBatch();
      const batch = new BatchClient({
        ...localClientConfig(f.server.endpoint),
        retryStrategy: new ConfiguredRetryStrategy(10, 200),
      });
      const restore = installSimulatedProcess(f.clock, 1, {});
      const activity = new HttpActivity();
      try {
        const calls = Promise.all(
          Array.from({ length: 80 }, () => batch.send(new SubmitJobCommand(submitInput()))),
        );
        let answered = false;
        const answer = () => {
          answered = true;
        };
        calls.then(answer, answer);
        for (let steps = 0; steps < 10; steps += 1) {
          await settle(activity, f.clock);
          if (answered) break;
          f.clock.advanceToNextTimer();
        }
        const answers = await calls;
        const attempts = answers.map((a) => a.$metadata.attempts ?? 1);
        expect(attempts.filter((n) => n === 1)).to.have.length(50);
        expect([2, 3, 4].map((n) => attempts.filter((a) => a === n).length)).to.deep.equal([10, 10, 10]);
        expect(f.server.throttledCalls()).to.deep.equal({ SubmitJob: 30 + 20 + 10 });
        expect(f.clock.now() - start).to.equal(3 * 200);
        expect(f.server.snapshot()).to.have.length(80);
      } finally {
        activity.close();
        restore();
        batch.destroy();
      }
    });

    it("throttles nothing when the quota is turned off", async () => {
      const f = await startBatch({}, { quota: false });
      for (let i = 0; i < 60; i += 1) await f.batch.send(new DescribeJobsCommand({ jobs: ["x"] }));
      expect(f.server.throttledCalls()).to.deep.equal({});
    });

    it("throttles an injected fraction of all calls", async () => {
      const f = await startBatch({}, { throttleRate: 1 });
      const error = await errorOf(f.batch.send(new ListJobsCommand({ jobQueue: "batch-bridge-jobs" })));
      expect(error.name).to.equal("TooManyRequestsException");
      f.server.setThrottleRate(0.5);
      let throttled = 0;
      for (let i = 0; i < 40; i += 1) {
        await f.batch
          .send(new ListJobsCommand({ jobQueue: "batch-bridge-jobs" }))
          .catch(() => (throttled += 1));
      }
      expect(throttled).to.be.within(8, 32);
      expect(() => f.server.setThrottleRate(1.5)).to.throw(/between 0 and 1/);
    });
  });

  describe("state-change events", () => {
    it("emits Batch Job State Change for every change after SUBMITTED, with the job as DescribeJobs shows it", async () => {
      const f = await startBatch({ jobDurationMs: minute });
      const events: BatchJobStateChangeEvent[] = [];
      f.server.onStateChange((event) => events.push(event));
      const { jobId } = await f.batch.send(new SubmitJobCommand(submitInput()));
      f.clock.advance(startsRunningAfter + minute);
      expect(events.map((e) => e.detail.status)).to.deep.equal([
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
      ]);
      const last = events.at(-1)!;
      expect(last).to.include({
        source: "aws.batch",
        "detail-type": "Batch Job State Change",
        region: "us-east-1",
      });
      expect(last.time).to.equal(new Date(start + startsRunningAfter + minute).toISOString());
      expect(last.resources).to.deep.equal([last.detail.jobArn]);
      const described = await describe1(f, jobId!);
      expect(JSON.parse(JSON.stringify(last.detail))).to.deep.equal(JSON.parse(JSON.stringify(described)));
    });
  });

  describe("at scale", () => {
    it("runs a 10,000-child array job to the end in compressed time", async () => {
      // 30-minute jobs; the test moves the simulated clock a minute at a time.
      const f = await startBatch({ jobDurationMs: 30 * minute });
      let terminalEvents = 0;
      f.server.onStateChange((event) => {
        if (event.detail.status === "SUCCEEDED" || event.detail.status === "FAILED") terminalEvents += 1;
      });
      const { jobId } = await f.batch.send(
        new SubmitJobCommand(submitInput({ arrayProperties: { size: 10_000 } })),
      );
      let parent = await describe1(f, jobId!);
      while (parent.status !== "SUCCEEDED") {
        f.clock.advance(minute);
        parent = await describe1(f, jobId!);
      }
      expect(parent.arrayProperties?.statusSummary).to.include({ SUCCEEDED: 10_000 });
      expect(terminalEvents).to.equal(10_001);
      expect(f.server.jobsLeftRunning()).to.equal(0);
      const children = await f.batch.send(
        new DescribeJobsCommand({ jobs: Array.from({ length: 100 }, (_, i) => `${jobId}:${i * 100}`) }),
      );
      expect(children.jobs?.every((j) => j.status === "SUCCEEDED")).to.equal(true);
      // Every child ran its 30 minutes once: the parent ends in the minute after the last child.
      expect(parent.stoppedAt! - start).to.be.within(
        startsRunningAfter + 30 * minute,
        startsRunningAfter + 32 * minute,
      );
    });

    it("runs 10,000 separate jobs to the end and finds them again by name prefix through the SDK", async () => {
      const f = await startBatch({ jobDurationMs: 30 * minute });
      // Submitted in process: through the SDK each SubmitJob costs about a millisecond of client CPU.
      for (let i = 0; i < 10_000; i += 1) {
        f.server.submitJob(submitInput({ jobName: `batch-bridge-exec3-${String(i).padStart(5, "0")}` }));
      }
      const ids = f.server.snapshot().map((job) => job.jobId);
      while (f.server.jobsLeftRunning() > 0) f.clock.advance(minute);
      // Each job ran its 30 minutes once, all at the same time (no capacity limit set).
      expect(f.clock.now() - start).to.be.within(
        startsRunningAfter + 30 * minute,
        startsRunningAfter + 32 * minute,
      );
      let listed = 0;
      let nextToken: string | undefined;
      do {
        const page = await f.batch.send(
          new ListJobsCommand({
            jobQueue: "batch-bridge-jobs",
            filters: [{ name: "JOB_NAME", values: ["batch-bridge-exec3-*"] }],
            nextToken,
          }),
        );
        listed += page.jobSummaryList!.filter((j) => j.status === "SUCCEEDED").length;
        nextToken = page.nextToken;
      } while (nextToken);
      let described = 0;
      for (let i = 0; i < ids.length; i += 100) {
        const { jobs } = await f.batch.send(new DescribeJobsCommand({ jobs: ids.slice(i, i + 100) }));
        described += jobs!.filter((j) => j.status === "SUCCEEDED").length;
        f.clock.advance(2_000);
      }
      expect(listed).to.equal(10_000);
      expect(described).to.equal(10_000);
      expect(f.server.countsByState()).to.include({ SUCCEEDED: 10_000 });
      expect(f.server.calls()).to.deep.equal({ DescribeJobs: 100, ListJobs: 100 });
    });
  });
});
