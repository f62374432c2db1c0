import { SendPipelineExecutionStepSuccessCommand } from "@aws-sdk/client-sagemaker";
import { expect } from "chai";
import { jobStateChangePattern } from "../../functions/batch-job-state-event";
import { mapWithConcurrency } from "../../functions/concurrency";
import { claimRecheckMarginSeconds } from "../../functions/poll-schedule";
import { claimLeaseMilliseconds } from "../../functions/status-table-items";
import { terminationReasons } from "../../functions/terminate";
import { awsError, rejectionOf } from "./factories";
import {
  callbackBody,
  completionFixture,
  execution,
  jobQueueArn,
  jobStateChangeEvent,
  LocalBatch,
  StatusTableServer,
  type CompletionFixture,
  type Execution,
} from "./completion-fixture";

/** Finishes every child of an array job in the model. */
function finishChildren(f: CompletionFixture, jobId: string, size: number): void {
  for (let i = 0; i < size; i++) f.model.set(`${jobId}:${i}`, "SUCCEEDED");
}

/** An array step of `size` shards waiting for its array job. */
function arrayStep(f: CompletionFixture, run: Execution, size = 4) {
  const jobId = f.model.addArrayJob(run, size);
  return {
    jobId,
    message: f.message(callbackBody(run, { jobMode: "array", jobRef: jobId, shardCount: size })),
  };
}

/** A jobs-mode step of `shardCount` shards. */
function jobsStep(f: CompletionFixture, run: Execution, shardCount: number) {
  f.model.addShardJobs(run, shardCount);
  return f.message(callbackBody(run, { jobMode: "jobs", jobRef: run.baseName, shardCount }));
}

function totalRequests(server: StatusTableServer): number {
  return [...server.requests.values()].reduce((sum, n) => sum + n, 0);
}

/** Lets promises already under way reach their next I/O (the fake SageMaker call below). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  if (!condition()) throw new Error("condition never held");
}

const arraySuccess = (jobRef: string, shards = 4) => ({
  Status: "SUCCEEDED",
  SucceededShards: String(shards),
  ShardCount: String(shards),
  JobRef: jobRef,
  FailedShards: "",
});

describe("job-event function and monitor with the status table", () => {
  let server: StatusTableServer;
  let batch: LocalBatch;
  before(async () => {
    // Thousands of DynamoDB requests in all: handed to dynalite in this process, unsigned.
    server = await StatusTableServer.start({ inProcess: true });
    batch = await LocalBatch.start();
  });
  after(async () => {
    await server.stop();
    await batch.stop();
  });

  describe("the callback message comes first", () => {
    it("answers an array step on the parent's SUCCEEDED event and deletes its message", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000001");
      const { jobId, message } = arrayStep(f, run);

      expect(await f.deliver(message)).to.deep.equal([message.messageId]);
      finishChildren(f, jobId, 4);
      await f.onEvent(f.model.event(jobId));

      expect(f.answers()).to.have.length(1);
      expect(f.answers()[0]).to.deep.include({ token: `tok-${run.executionId}`, outcome: "success" });
      expect(f.answers()[0].outputs).to.deep.equal(arraySuccess(jobId));
      expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    });

    it("answers a jobs-mode step on its last shard's event, without asking Batch", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000001");
      const message = jobsStep(f, run, 3);
      await f.deliver(message);
      const batchCallsBefore = f.batchCalls();

      for (const shard of [2, 0, 1]) {
        f.model.set(f.model.shardJobId(run, shard), "SUCCEEDED");
        await f.onEvent(f.model.event(f.model.shardJobId(run, shard)));
        expect(f.answers()).to.have.length(shard === 1 ? 1 : 0);
      }

      expect(f.answers()[0].outputs).to.deep.equal({
        Status: "SUCCEEDED",
        SucceededShards: "3",
        ShardCount: "3",
        JobRef: run.baseName,
        FailedShards: "",
      });
      expect(f.batchCalls()).to.equal(batchCallsBefore);
      expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    });

    it("answers each bridge step of one execution from its own jobs' events, with its OutputUri", async () => {
      const f = await completionFixture(server, batch);
      const steps = ["Tokenize", "Embed"].map((name) => execution("twosteps0001", name));
      const messages = steps.map((step, i) => {
        f.model.addShardJobs(step, 2);
        return f.message(
          callbackBody(
            step,
            { jobMode: "jobs", jobRef: step.baseName, shardCount: 2 },
            { token: `tok-step-${i}` },
            { jobName: step.baseName, outputUri: `s3://data-bucket/output/step-${i}/` },
          ),
        );
      });
      await f.deliver(...messages);

      for (const shard of [0, 1]) {
        f.model.set(f.model.shardJobId(steps[0], shard), "SUCCEEDED");
        await f.onEvent(f.model.event(f.model.shardJobId(steps[0], shard)));
      }
      expect(f.answers().map((a) => [a.token, a.outputs?.OutputUri])).to.deep.equal([
        ["tok-step-0", "s3://data-bucket/output/step-0/"],
      ]);

      f.model.set(f.model.shardJobId(steps[1], 0), "FAILED", {
        statusReason: "Essential container in task exited",
        exitCode: 3,
      });
      await f.onEvent(f.model.event(f.model.shardJobId(steps[1], 0)));
      expect(f.answers().map((a) => [a.token, a.outcome])).to.deep.equal([
        ["tok-step-0", "success"],
        ["tok-step-1", "failure"],
      ]);
      // The failed step's other shard was stopped; the succeeded step's jobs were left alone.
      expect(f.terminated()).to.deep.equal([f.model.shardJobId(steps[1], 1)]);
    });

    it("drops the message when it comes back after the event answered the step", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000002");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      finishChildren(f, jobId, 4);
      await f.onEvent(f.model.event(jobId));

      const comesBack = f.message(message.body ? JSON.parse(message.body) : {}, { receiveCount: 2 });
      expect(await f.deliver(comesBack)).to.deep.equal([]);

      expect(f.answers()).to.have.length(1);
      expect(f.log.lines.map((l) => l.attributes.decision)).to.include("already answered");
    });
  });

  describe("the events come first", () => {
    it("records an array job's end and lets the monitor's first check answer", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000003");
      const { jobId, message } = arrayStep(f, run);
      finishChildren(f, jobId, 4);

      expect((await f.onEvent(f.model.event(jobId))).decision).to.equal("recorded");
      expect(f.answers()).to.have.length(0);

      expect(await f.deliver(message)).to.deep.equal([]);
      expect(f.answers().map((a) => a.outputs)).to.deep.equal([arraySuccess(jobId)]);
    });

    it("answers a jobs-mode step whose shards all succeeded before its message, from the table alone", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000002");
      const message = jobsStep(f, run, 5);
      for (let shard = 0; shard < 5; shard++) {
        f.model.set(f.model.shardJobId(run, shard), "SUCCEEDED");
        await f.onEvent(f.model.event(f.model.shardJobId(run, shard)));
      }
      expect(f.answers()).to.have.length(0);

      expect(await f.deliver(message)).to.deep.equal([]);

      expect(f.answers().map((a) => a.outputs?.SucceededShards)).to.deep.equal(["5"]);
      expect(f.batchCalls()).to.equal(0);
    });

    it("fails a step whose shard failed before its message, with the monitor's reason", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000003");
      const message = jobsStep(f, run, 3);
      f.model.set(f.model.shardJobId(run, 1), "FAILED", {
        statusReason: "Essential container in task exited",
        exitCode: 2,
      });
      await f.onEvent(f.model.event(f.model.shardJobId(run, 1)));

      await f.deliver(message);

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "1 of 3 shards failed: shard 1 (exit code 2: Essential container in task exited)",
      ]);
      expect(f.terminated().sort()).to.deep.equal(
        [f.model.shardJobId(run, 0), f.model.shardJobId(run, 2)].sort(),
      );
    });
  });

  it("counts what the events recorded when Batch's listing has not caught up yet", async () => {
    const f = await completionFixture(server, batch);
    const run = execution("jobs00000008");
    const message = jobsStep(f, run, 2);
    const failedShard = {
      ...f.model.describe(f.model.shardJobId(run, 1)),
      status: "FAILED",
      statusReason: "Essential container in task exited",
      container: { exitCode: 4 },
    };
    await f.onEvent(jobStateChangeEvent(failedShard));

    expect(await f.deliver(message)).to.deep.equal([]);

    expect(f.answers().map((a) => a.reason)).to.deep.equal([
      "1 of 2 shards failed: shard 1 (exit code 4: Essential container in task exited)",
    ]);
    expect(f.terminated()).to.deep.equal([f.model.shardJobId(run, 0)]);
  });

  describe("duplicated and out-of-order events", () => {
    it("answers once however often the same events come", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000004");
      await f.deliver(jobsStep(f, run, 3));
      for (let shard = 0; shard < 3; shard++) f.model.set(f.model.shardJobId(run, shard), "SUCCEEDED");
      const events = [0, 1, 0, 1].map((shard) => f.model.event(f.model.shardJobId(run, shard)));

      for (const event of events) await f.onEvent(event);
      const last = f.model.event(f.model.shardJobId(run, 2));
      await Promise.all([f.onEvent(last), f.onEvent(last), f.onEvent(last)]);
      await f.onEvent(last);

      expect(f.answers()).to.have.length(1);
      expect(f.answers()[0].outputs?.SucceededShards).to.equal("3");
    });

    it("counts a shard only once: its duplicate does not stand in for a shard still running", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000005");
      await f.deliver(jobsStep(f, run, 2));
      f.model.set(f.model.shardJobId(run, 0), "SUCCEEDED");

      await f.onEvent(f.model.event(f.model.shardJobId(run, 0)));
      await f.onEvent(f.model.event(f.model.shardJobId(run, 0)));

      expect(f.answers()).to.have.length(0);
    });

    it("ignores a late RUNNING event after SUCCEEDED: the shard stays counted", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000006");
      await f.deliver(jobsStep(f, run, 2));
      f.model.set(f.model.shardJobId(run, 0), "SUCCEEDED");
      const succeeded = f.model.event(f.model.shardJobId(run, 0));
      const lateRunning = jobStateChangeEvent({
        ...(succeeded.detail as Record<string, unknown>),
        status: "RUNNING",
      });

      await f.onEvent(succeeded);
      expect((await f.onEvent(lateRunning)).decision).to.equal("ignored");
      f.model.set(f.model.shardJobId(run, 1), "SUCCEEDED");
      await f.onEvent(f.model.event(f.model.shardJobId(run, 1)));

      expect(f.answers().map((a) => a.outcome)).to.deep.equal(["success"]);
    });

    it("answers one failure and terminates once for a failed child reported twice", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000004");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      f.model.set(`${jobId}:1`, "FAILED", {
        statusReason: "Essential container in task exited",
        exitCode: 1,
      });
      const failed = f.model.event(`${jobId}:1`);

      await Promise.all([f.onEvent(failed), f.onEvent(failed)]);
      await f.onEvent(failed);

      expect(f.answers()).to.have.length(1);
      expect(f.terminated()).to.deep.equal([jobId]);
    });

    it("ignores a stale event of an earlier attempt's job, and answers a retried step's new token", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000005");
      const first = arrayStep(f, run);
      await f.deliver(first.message);
      f.model.set(`${first.jobId}:0`, "FAILED", {
        statusReason: "Essential container in task exited",
        exitCode: 1,
      });
      await f.onEvent(f.model.event(`${first.jobId}:0`));
      expect(f.answers().map((a) => a.outcome)).to.deep.equal(["failure"]);

      // The execution is retried: the submit step starts a new array job and the Callback step a new wait.
      const second = f.model.addArrayJob(run, 4);
      const retried = f.message(
        callbackBody(run, { jobMode: "array", jobRef: second, shardCount: 4 }, { token: "tok-retried" }),
      );
      expect(await f.deliver(retried)).to.deep.equal([retried.messageId]);
      expect((await f.onEvent(f.model.event(first.jobId))).decision).to.equal("ignored");
      finishChildren(f, second, 4);
      await f.onEvent(f.model.event(second));

      expect(f.answers().map((a) => [a.token, a.outcome])).to.deep.equal([
        [`tok-${run.executionId}`, "failure"],
        ["tok-retried", "success"],
      ]);
    });
  });

  describe("races", () => {
    it("gives exactly one answer when the callback message and the last event arrive together", async () => {
      const f = await completionFixture(server, batch);
      const tokens: string[] = [];
      for (let i = 0; i < 30; i++) {
        const run = execution(`race${String(i).padStart(8, "0")}`);
        tokens.push(`tok-${run.executionId}`);
        if (i % 2 === 0) {
          const { jobId, message } = arrayStep(f, run);
          finishChildren(f, jobId, 4);
          await Promise.all([f.deliver(message), f.onEvent(f.model.event(jobId))]);
        } else {
          const message = jobsStep(f, run, 2);
          f.model.set(f.model.shardJobId(run, 0), "SUCCEEDED");
          await f.onEvent(f.model.event(f.model.shardJobId(run, 0)));
          f.model.set(f.model.shardJobId(run, 1), "SUCCEEDED");
          await Promise.all([f.deliver(message), f.onEvent(f.model.event(f.model.shardJobId(run, 1)))]);
        }
      }

      const answered = f.answers().map((a) => a.token);
      expect(answered.sort()).to.deep.equal(tokens.sort());
      expect(f.answers().every((a) => a.outcome === "success")).to.equal(true);
    });

    it("gives exactly one answer and one clean-up when Stopping races a failure event", async () => {
      const f = await completionFixture(server, batch);
      for (let i = 0; i < 12; i++) {
        const run = execution(`stop${String(i).padStart(8, "0")}`);
        const { jobId, message } = arrayStep(f, run);
        await f.deliver(message);
        f.model.set(`${jobId}:3`, "FAILED", {
          statusReason: "Essential container in task exited",
          exitCode: 1,
        });
        const stopping = f.message(
          callbackBody(run, { jobMode: "array", jobRef: jobId, shardCount: 4 }, { status: "Stopping" }),
        );
        const before = f.answers().length;
        const terminatedBefore = f.terminated().length;

        const [comesBack] = await Promise.all([f.deliver(stopping), f.onEvent(f.model.event(`${jobId}:3`))]);
        if (comesBack.length > 0) await f.deliver(stopping);

        const answers = f.answers().slice(before);
        expect(answers).to.have.length(1);
        expect(answers[0].reason).to.match(
          /^(Pipeline execution stopped; terminated 3 job\(s\)\.|1 of 4 shards failed: shard 3 .*)$/,
        );
        expect(f.terminated().slice(terminatedBefore)).to.deep.equal([jobId]);
      }
    });

    it("re-answers, with the same request token, a step whose claimant died after answering", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000006");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      finishChildren(f, jobId, 4);
      // The event's invocation dies once SageMaker has its answer, before the step is marked answered.
      f.sagemakerMock.on(SendPipelineExecutionStepSuccessCommand).callsFakeOnce(() => new Promise(() => {}));
      void f.onEvent(f.model.event(jobId));
      await until(() => f.answers().length === 1);

      const early = f.message(JSON.parse(message.body), { receiveCount: 2 });
      expect(await f.deliver(early)).to.deep.equal([early.messageId]);
      expect(f.answers()).to.have.length(1);

      await f.clock.sleep(claimLeaseMilliseconds + 1000);
      const later = f.message(JSON.parse(message.body), { receiveCount: 3 });
      expect(await f.deliver(later)).to.deep.equal([]);
      await f.onEvent(f.model.event(jobId));

      const [died, retried] = f.answers();
      expect(f.answers()).to.have.length(2);
      expect(retried).to.deep.equal(died);
    });

    it("takes over soon after the lease of a claimant that died terminating jobs, not at the next 6-hour check", async () => {
      // The stack's schedule with completion events: a check every safetyNetCheckSeconds (6 h by default).
      const safetyNet = { initialDelaySeconds: 21_600, maxDelaySeconds: 21_600, maxWaitSeconds: 7 * 86_400 };
      const f = await completionFixture(server, batch, { pollSchedule: safetyNet, maxReceiveCount: 49 });
      const run = execution("jobs0000dead");
      const message = jobsStep(f, run, 50);
      await f.deliver(message);
      f.model.set(f.model.shardJobId(run, 3), "FAILED", {
        statusReason: "Job attempt duration exceeded timeout",
      });
      // Lambda ends the job-event invocation at its timeout while its TerminateJob calls are under way: they
      // never complete, and it never answers or gives its claim back.
      f.stalled.add("TerminateJobCommand");
      const claimedAt = f.clock.now();
      void f.onEvent(f.model.event(f.model.shardJobId(run, 3)));
      await until(() => f.terminated().length > 0);
      f.stalled.clear();

      await f.clock.sleep(60_000 - (f.clock.now() - claimedAt));
      const early = f.message(JSON.parse(message.body), { receiveCount: 2 });
      expect(await f.deliver(early)).to.deep.equal([early.messageId]);
      const recheck = f.delays().at(-1);
      expect(recheck).to.equal(claimLeaseMilliseconds / 1000 - 60 + claimRecheckMarginSeconds);

      await f.clock.sleep(recheck! * 1000);
      const later = f.message(JSON.parse(message.body), { receiveCount: 3 });
      expect(await f.deliver(later)).to.deep.equal([]);
      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "1 of 50 shards failed: shard 3 (Job attempt duration exceeded timeout)",
      ]);
      expect(f.model.describe(f.model.shardJobId(run, 49))?.statusReason).to.equal(
        terminationReasons.shardFailed,
      );
    });

    it("gives the claim back when answering fails, so the retried event answers", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000007");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      finishChildren(f, jobId, 4);
      f.sagemakerMock
        .on(SendPipelineExecutionStepSuccessCommand)
        .rejects(awsError("InternalFailure", 500, "SageMaker is unwell"));

      const error = await rejectionOf(f.onEvent(f.model.event(jobId)));
      expect(error.message).to.equal("SageMaker is unwell");
      f.sagemakerMock.on(SendPipelineExecutionStepSuccessCommand).resolves({ PipelineExecutionArn: "arn" });
      await f.onEvent(f.model.event(jobId));

      expect(f.answers().map((a) => a.outcome)).to.deep.equal(["success", "success"]);
      expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    });
  });

  describe("failing fast", () => {
    it("fails an array step on its first failed child, naming it, and terminates the array job", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000008");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      f.model.set(`${jobId}:2`, "FAILED", {
        statusReason: "Essential container in task exited",
        exitCode: 1,
      });

      await f.onEvent(f.model.event(`${jobId}:2`));

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "1 of 4 shards failed: shard 2 (exit code 1: Essential container in task exited)",
      ]);
      expect(f.terminated()).to.deep.equal([jobId]);
      expect(f.model.describe(`${jobId}:0`)?.statusReason).to.equal(terminationReasons.shardFailed);
      expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    });

    it("fails fast on a child's event even before Batch's summary counts the failure", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000009");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      const failedChild = {
        ...f.model.describe(`${jobId}:1`),
        status: "FAILED",
        statusReason: "Essential container in task exited",
        container: { exitCode: 137, reason: "OutOfMemoryError: Container killed due to memory usage" },
      };

      await f.onEvent(jobStateChangeEvent(failedChild));

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "1 of 4 shards failed: shard 1 (exit code 137: OutOfMemoryError: Container killed due to memory usage)",
      ]);
      expect(f.terminated()).to.deep.equal([jobId]);
    });

    it("fails a jobs-mode step on a shard's FAILED event and terminates the shards still running", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("jobs00000007");
      await f.deliver(jobsStep(f, run, 4));
      f.model.set(f.model.shardJobId(run, 0), "SUCCEEDED");
      f.model.set(f.model.shardJobId(run, 3), "FAILED", {
        statusReason: "Job attempt duration exceeded timeout",
      });

      await f.onEvent(f.model.event(f.model.shardJobId(run, 3)));

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "1 of 4 shards failed: shard 3 (Job attempt duration exceeded timeout)",
      ]);
      expect(f.terminated().sort()).to.deep.equal(
        [f.model.shardJobId(run, 1), f.model.shardJobId(run, 2)].sort(),
      );
    });
  });

  describe("partial success (minSuccessRatio) in jobs mode", () => {
    /** A jobs-mode step of `shardCount` shards that succeeds with `ratio` of them. */
    function ratioStep(f: CompletionFixture, run: Execution, shardCount: number, ratio: string) {
      f.model.addShardJobs(run, shardCount);
      return f.message(
        callbackBody(
          run,
          { jobMode: "jobs", jobRef: run.baseName, shardCount },
          {},
          { minSuccessRatio: ratio },
        ),
      );
    }
    const exitedWith = (exitCode: number) => ({
      statusReason: "Essential container in task exited",
      exitCode,
    });
    /** Ends a shard's job and hands its event to the job-event function; returns the event. */
    async function endShard(
      f: CompletionFixture,
      run: Execution,
      shard: number,
      status: "SUCCEEDED" | "FAILED",
    ): Promise<Record<string, unknown>> {
      f.model.set(f.model.shardJobId(run, shard), status, status === "FAILED" ? exitedWith(1) : {});
      const event = f.model.event(f.model.shardJobId(run, shard));
      await f.onEvent(event);
      return event;
    }

    it("answers success on the last shard's event when the failed shards are within the ratio, naming them", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000001");
      const message = ratioStep(f, run, 4, "0.5");
      await f.deliver(message);

      await endShard(f, run, 1, "FAILED");
      await endShard(f, run, 0, "SUCCEEDED");
      await endShard(f, run, 3, "FAILED");
      expect(f.answers()).to.have.length(0);
      await endShard(f, run, 2, "SUCCEEDED");

      expect(f.answers().map((a) => a.outputs)).to.deep.equal([
        {
          Status: "SUCCEEDED",
          SucceededShards: "2",
          ShardCount: "4",
          JobRef: run.baseName,
          FailedShards: "1,3",
        },
      ]);
      expect(f.terminated()).to.deep.equal([]);
      expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    });

    it("answers success on a failed shard's event when that shard ended last", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000002");
      await f.deliver(ratioStep(f, run, 3, "0.6"));
      for (const shard of [0, 2]) await endShard(f, run, shard, "SUCCEEDED");
      expect(f.answers()).to.have.length(0);

      await endShard(f, run, 1, "FAILED");

      expect(f.answers().map((a) => [a.outcome, a.outputs?.FailedShards])).to.deep.equal([["success", "1"]]);
    });

    it("fails as soon as more shards failed than the ratio tolerates, and terminates the others", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000003");
      await f.deliver(ratioStep(f, run, 5, "0.6"));
      await endShard(f, run, 0, "FAILED");
      await endShard(f, run, 4, "FAILED");
      expect(f.answers()).to.have.length(0);

      await endShard(f, run, 2, "FAILED");

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "3 of 5 shards failed (minSuccessRatio 0.6 allows 2): shard 0 (exit code 1: Essential container " +
          "in task exited), shard 2 (exit code 1: Essential container in task exited), shard 4 (exit code " +
          "1: Essential container in task exited)",
      ]);
      expect(f.terminated().sort()).to.deep.equal(
        [f.model.shardJobId(run, 1), f.model.shardJobId(run, 3)].sort(),
      );
    });

    it("counts a failed shard reported again and again once, and answers once", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000004");
      await f.deliver(ratioStep(f, run, 4, "0.5"));
      const failed = await endShard(f, run, 2, "FAILED");
      // Three copies of one failure would exceed the two the ratio tolerates if each counted.
      await Promise.all([f.onEvent(failed), f.onEvent(failed)]);
      await f.onEvent(failed);
      expect(f.answers()).to.have.length(0);

      const events = [];
      for (const shard of [0, 1, 3]) events.push(await endShard(f, run, shard, "SUCCEEDED"));
      for (const event of [...events, failed]) await f.onEvent(event);

      expect(
        f.answers().map((a) => [a.outcome, a.outputs?.SucceededShards, a.outputs?.FailedShards]),
      ).to.deep.equal([["success", "3", "2"]]);
    });

    it("answers from what the events recorded when they all came before the callback message, ahead of Batch's listing", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000005");
      const message = ratioStep(f, run, 4, "0.5");
      // Out of order: the failures are reported after the later shards' successes, all before the message,
      // and Batch's listing still shows the failed shards RUNNING.
      for (const shard of [2, 0]) await endShard(f, run, shard, "SUCCEEDED");
      for (const shard of [3, 1]) {
        const failedShard = {
          ...f.model.describe(f.model.shardJobId(run, shard)),
          status: "FAILED",
          ...exitedWith(1),
        };
        await f.onEvent(jobStateChangeEvent(failedShard));
      }
      expect(f.answers()).to.have.length(0);

      expect(await f.deliver(message)).to.deep.equal([]);

      expect(f.answers().map((a) => [a.outcome, a.outputs?.FailedShards])).to.deep.equal([
        ["success", "1,3"],
      ]);
    });

    it("leaves a step whose event was lost to the safety-net check, which answers it exactly once", async () => {
      const safetyNet = { initialDelaySeconds: 21_600, maxDelaySeconds: 21_600, maxWaitSeconds: 7 * 86_400 };
      const f = await completionFixture(server, batch, { pollSchedule: safetyNet, maxReceiveCount: 49 });
      const run = execution("ratio0000006");
      const message = ratioStep(f, run, 4, "0.5");
      expect(await f.deliver(message)).to.deep.equal([message.messageId]);
      await endShard(f, run, 0, "FAILED");
      await endShard(f, run, 1, "SUCCEEDED");
      await endShard(f, run, 2, "SUCCEEDED");
      // Shard 3 succeeds, but its event never comes.
      f.model.set(f.model.shardJobId(run, 3), "SUCCEEDED");
      const lost = f.model.event(f.model.shardJobId(run, 3));
      expect(f.answers()).to.have.length(0);

      await f.clock.sleep(safetyNet.initialDelaySeconds * 1000);
      const check = f.message(JSON.parse(message.body), { receiveCount: 2 });
      expect(await f.deliver(check)).to.deep.equal([]);
      // The event comes after all, late, and twice.
      expect((await f.onEvent(lost)).decision).to.equal("already answered");
      await f.onEvent(lost);

      expect(
        f.answers().map((a) => [a.outcome, a.outputs?.SucceededShards, a.outputs?.FailedShards]),
      ).to.deep.equal([["success", "3", "0"]]);
    });

    it("fails at once on a shard the bridge terminated, never taking it for a tolerated failure", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("ratio0000007");
      await f.deliver(ratioStep(f, run, 4, "0.5"));
      // The clean-up function terminated shard 0 (the execution was stopped); Batch's listing lags behind.
      const terminatedShard = {
        ...f.model.describe(f.model.shardJobId(run, 0)),
        status: "FAILED",
        statusReason: terminationReasons.stopped,
      };

      await f.onEvent(jobStateChangeEvent(terminatedShard));

      expect(f.answers().map((a) => a.reason)).to.deep.equal([
        "sagemaker-batch-bridge terminated 1 of 4 shards (pipeline execution stopped).",
      ]);
      expect(f.terminated()).to.have.length(3);
    });
  });

  it("completes a 10,000-shard jobs-mode step by events: one answer, no Batch calls, ~1 write an event", async function () {
    // One DynamoDB request per event through a real client and dynalite, handed over in this process
    // (in-process-http.ts) rather than through a socket. The timeout only catches a hang.
    this.slow(30_000);
    this.timeout(600_000);
    await completesByEvents(await completionFixture(server, batch), server);
  });

  async function completesByEvents(f: CompletionFixture, server: StatusTableServer): Promise<void> {
    const run = execution("jobs00010000");
    const message = jobsStep(f, run, 10_000);
    await f.deliver(message);
    const batchCallsBefore = f.batchCalls();
    const requestsBefore = totalRequests(server);
    // Shards end in a scattered order, 16 events in flight at a time.
    const shards = Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 10_000);

    await mapWithConcurrency(shards, 16, async (shard) => {
      f.model.set(f.model.shardJobId(run, shard), "SUCCEEDED");
      await f.onEvent(f.model.event(f.model.shardJobId(run, shard)));
    });

    expect(f.answers()).to.have.length(1);
    expect(f.answers()[0].outputs?.SucceededShards).to.equal("10000");
    expect(f.batchCalls()).to.equal(batchCallsBefore);
    expect(f.deletedMessages()).to.deep.equal([message.receiptHandle]);
    // Each event adds its shard to a set of 200. Only the event that fills a set reads the 50 sets back,
    // and only if all are full tries the claim (a loser reads the step once); the winner marks the step.
    expect(totalRequests(server) - requestsBefore).to.be.at.most(10_000 + 50 * 3 + 1);
  }

  describe("events it does not act on", () => {
    it("drops events that are not Batch job state changes without throwing (no endless retries)", async () => {
      const f = await completionFixture(server, batch);
      for (const event of [
        "garbage",
        { source: "aws.ec2", "detail-type": "EC2 Instance State-change Notification", detail: {} },
        { source: "aws.batch", "detail-type": "Batch Job State Change", detail: { jobId: "x" } },
      ]) {
        expect((await f.onEvent(event)).decision).to.equal("dropped");
      }
      expect(f.log.lines.map((l) => l.attributes.reason)).to.include(
        "detail.jobName, detail.jobQueue, detail.status must be non-empty strings",
      );
    });

    it("ignores other queues, other stacks' jobs and states that are not final", async () => {
      const f = await completionFixture(server, batch);
      const run = execution("arr000000010");
      const { jobId, message } = arrayStep(f, run);
      await f.deliver(message);
      finishChildren(f, jobId, 4);
      const detail = f.model.describe(jobId)!;

      const decisions = await Promise.all(
        [
          { ...detail, jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/someone-else" },
          { ...detail, jobName: `other-stack-${run.executionId}` },
          { ...detail, status: "RUNNING" },
          { ...f.model.describe(`${jobId}:0`), status: "SUCCEEDED" },
        ].map(async (d) => (await f.onEvent(jobStateChangeEvent(d))).decision),
      );

      expect(decisions).to.deep.equal(["ignored", "ignored", "ignored", "ignored"]);
      expect(f.answers()).to.have.length(0);
    });
  });

  it("describes the EventBridge rule's pattern: final states of the queue, array children only failed", () => {
    expect(jobStateChangePattern(jobQueueArn, "batch-bridge")).to.deep.equal({
      source: ["aws.batch"],
      "detail-type": ["Batch Job State Change"],
      detail: {
        jobQueue: [jobQueueArn],
        jobName: [{ prefix: "batch-bridge-" }],
        $or: [
          { status: ["FAILED"] },
          { status: ["SUCCEEDED"], arrayProperties: { index: [{ exists: false }] } },
        ],
      },
    });
  });
});
