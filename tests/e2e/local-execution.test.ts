import { expect } from "chai";
import { runExecution, type Summary } from "../../local/runner/run";

const total = (counts: Record<string, number> = {}): number =>
  Object.values(counts).reduce((sum, n) => sum + n, 0);

/** The summary with wall time zeroed: wall time is all that may differ between two runs of one seed. */
function simulatedFigures(summary: Summary): Summary {
  // The report's copy goes to a new temporary folder each run.
  return { ...summary, wallSeconds: 0, reportFile: summary.reportFile && "(kept)" };
}

describe("one pipeline execution of the dev stack on local servers", function () {
  // The first run renders the stack under the mock engine; later runs reuse the render.
  this.timeout(120_000);

  it("succeeds in array mode and answers the step within 2 s of the last job, nothing left running", async () => {
    const summary = await runExecution({ shards: 4, jobDurationSeconds: 120 });
    expect(summary).to.deep.include({
      outcome: "succeeded",
      expected: true,
      failureReason: null,
      mode: "array",
      jobsLeftRunning: 0,
      deadLetterMessages: 0,
    });
    expect(summary.stepOutputs).to.deep.include({
      Status: "SUCCEEDED",
      SucceededShards: "4",
      ShardCount: "4",
    });
    // The step's output prefix, for a later step to read.
    expect(summary.stepOutputs?.OutputUri).to.match(/^s3:\/\/[a-z0-9.-]+\/output\/$/);
    expect(summary.jobsByState.SUCCEEDED).to.equal(4);
    expect(summary.resumeLatencyFrom).to.equal("last job ended");
    expect(summary.resumeLatencySeconds).to.be.at.most(2);
    // The jobs run 31 s of queueing and starting, then 120 s.
    expect(summary.executionSeconds).to.be.within(151, 153);
    expect(summary.apiCalls.Batch.SubmitJob).to.equal(1);
    expect(summary.lambdaInvocations["batch-bridge-submit"]).to.equal(1);
    // Lambda's poller receives a message as soon as it is visible and never when none is: each receive
    // found the callback message and invoked the monitor.
    expect(summary.apiCalls.SQS.ReceiveMessage).to.equal(summary.lambdaInvocations["batch-bridge-monitor"]);
  });

  it("delivers Batch's state-change events after the configured delay", async () => {
    const summary = await runExecution({ shards: 2, eventDelaySeconds: 5 });
    expect(summary.outcome).to.equal("succeeded");
    expect(summary.events.delivered).to.be.at.least(1);
    expect(summary.resumeLatencySeconds).to.be.within(5, 6);
  });

  it("succeeds in jobs mode with one job per shard", async () => {
    const summary = await runExecution({ shards: 6, mode: "jobs" });
    expect(summary).to.deep.include({
      outcome: "succeeded",
      expected: true,
      mode: "jobs",
      jobsLeftRunning: 0,
    });
    expect(summary.apiCalls.Batch.SubmitJob).to.equal(6);
    expect(summary.jobsByState.SUCCEEDED).to.equal(6);
    expect(summary.configOverrides).to.deep.equal({ submitMode: { value: "jobs", why: "--mode" } });
  });

  it("reports a failed shard with its reason and terminates the other shards' jobs", async () => {
    const summary = await runExecution({ shards: 6, failShards: [2], jobDurationSeconds: 600 });
    expect(summary).to.deep.include({ outcome: "failed", expected: true, jobsLeftRunning: 0 });
    expect(summary.failureReason).to.match(
      /^1 of 6 shards failed: shard 2 \(exit code 1: injected failure of shard 2\)/,
    );
    // Shard 2 fails halfway; the five others were still running and are stopped, not left to finish.
    expect(summary.jobsByState).to.include({ FAILED: 6, SUCCEEDED: 0 });
    expect(summary.resumeLatencyFrom).to.equal("first shard failed");
    expect(summary.resumeLatencySeconds).to.be.at.most(2);
  });

  it("stops mid-run: the Stopping message is answered and no job is left running", async () => {
    const summary = await runExecution({ shards: 4, jobDurationSeconds: 1800, stopAfterSeconds: 300 });
    expect(summary).to.deep.include({ outcome: "stopped", expected: true, jobsLeftRunning: 0 });
    expect(summary.failureReason).to.match(/stopped; terminated 4 job\(s\)/);
    expect(summary.apiCalls.SageMaker.StopPipelineExecution).to.equal(1);
    expect(summary.executionSeconds).to.be.within(300, 302);
    expect(summary.jobsByState.FAILED).to.equal(4);
  });

  it("rides out Batch throttling: 200 jobs-mode shards while Batch refuses 90% of calls, each submitted once, and the step succeeds", async () => {
    const summary = await runExecution({ shards: 200, mode: "jobs", throttleRate: 0.9 });
    expect(summary).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    expect(total(summary.throttledBatchCalls)).to.be.at.least(1000);
    expect(summary.jobsByState.SUCCEEDED).to.equal(200);
    // Every refused SubmitJob was tried again, and no accepted one was.
    expect(summary.apiCalls.Batch.SubmitJob).to.equal(200 + (summary.throttledBatchCalls.SubmitJob ?? 0));
    expect(summary.lambdaErrors).to.deep.equal({});
  });

  it("answers the step exactly once when every message and every event is delivered twice", async () => {
    const summary = await runExecution({ shards: 4, duplicateDeliveries: true });
    expect(summary).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    // A second, different answer would have been refused with ConflictException; repeats are idempotent.
    expect(summary.refusedSageMakerCalls).to.deep.equal({});
    expect(summary.events.delivered).to.equal(2 * summary.events.matched);
    expect(summary.lambdaInvocations["batch-bridge-monitor"]).to.be.at.least(2);
  });

  it("runs 10,000 shards at most floor(maxVcpus / vcpu) at a time, the others RUNNABLE, as the compute environment allows", async () => {
    // The dev stack: 64 vCPUs, 0.5 vCPU a job, so 128 jobs at once and 79 waves of STARTING (20 s) and RUNNING.
    let mostAtOnce = 0;
    let waitingWhileFull = 0;
    const summary = await runExecution(
      { shards: 10_000, jobDurationSeconds: 120 },
      {
        onProgress: ({ jobs }) => {
          mostAtOnce = Math.max(mostAtOnce, jobs.STARTING + jobs.RUNNING);
          if (jobs.STARTING + jobs.RUNNING === 128)
            waitingWhileFull = Math.max(waitingWhileFull, jobs.RUNNABLE);
        },
      },
    );
    expect(summary).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    expect(summary.concurrentJobs).to.equal(128);
    expect(mostAtOnce).to.equal(128);
    expect(waitingWhileFull).to.equal(10_000 - 128);
    expect(summary.jobsByState.SUCCEEDED).to.equal(10_000);
    expect(summary.stepOutputs?.SucceededShards).to.equal("10000");
    expect(summary.batchApiCalls).to.be.below(20);
    // SUBMITTED 1 s and RUNNABLE 10 s, then 79 waves of 140 s; the answer 1 s after the last job.
    const waves = Math.ceil(10_000 / 128);
    expect(summary.executionSeconds).to.be.within(11 + waves * 140, 11 + waves * 140 + 2);
  });

  it("moves a malformed callback message to the dead-letter queue, failing its step when it carries a token", async () => {
    const withToken = await runExecution({ shards: 2, malformedMessage: "with-token" });
    // Its execution's jobs are terminated before the step is failed.
    expect(withToken).to.deep.include({
      outcome: "failed",
      expected: true,
      deadLetterMessages: 1,
      jobsLeftRunning: 0,
    });
    expect(withToken.failureReason).to.match(/^Invalid callback message: arguments\.jobMode must be/);

    const withoutToken = await runExecution({ shards: 2, malformedMessage: "without-token" });
    expect(withoutToken).to.deep.include({ outcome: "succeeded", expected: true, deadLetterMessages: 1 });
  });

  it("waits for jobs Batch does not list yet instead of failing the step as not found", async () => {
    // Batch's reads are eventually consistent: here every job is missing from its answers for 30 s.
    for (const [mode, completionEvents] of [
      ["array", true],
      ["jobs", false],
    ] as const) {
      const summary = await runExecution({
        mode,
        shards: 4,
        listingLagSeconds: 30,
        config: { completionEvents },
      });
      expect(summary, mode).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    }
  });

  it("names the shard that really failed when racing polling checks terminate the others (seeds 2, 5, 6)", async () => {
    for (const seed of [2, 5, 6]) {
      const summary = await runExecution({
        mode: "jobs",
        shards: 30,
        config: { completionEvents: false },
        throttleRate: 0.5,
        duplicateDeliveries: true,
        failShards: [29],
        jobDurationSeconds: 3600,
        seed,
      });
      expect(summary, `seed ${seed}`).to.deep.include({
        outcome: "failed",
        expected: true,
        jobsLeftRunning: 0,
      });
      expect(summary.failureReason, `seed ${seed}`).to.equal(
        "1 of 30 shards failed: shard 29 (exit code 1: injected failure of shard 29) " +
          `Report: ${summary.reportUri}`,
      );
      // The race took place: more than one check answered, one of them after the other's terminations.
      expect(summary.apiCalls.SageMaker.SendPipelineExecutionStepFailure, `seed ${seed}`).to.be.at.least(2);
    }
  });

  it("runs a pipeline whose 256-character name makes the execution ARN too long for a job tag", async () => {
    // The local Batch server refuses tag values over 256 characters, as Batch does.
    const pipelineName = "long-pipeline-".padEnd(256, "x");
    for (const mode of ["jobs", "array"] as const) {
      const summary = await runExecution({
        config: { pipelineName },
        mode,
        shards: 3,
        failShards: [1],
        jobDurationSeconds: 600,
      });
      expect(summary, mode).to.deep.include({ outcome: "failed", expected: true, jobsLeftRunning: 0 });
      expect(summary.failureReason, mode).to.match(/^1 of 3 shards failed: shard 1 \(exit code 1: /);
    }
  });

  it("repeats a run exactly for the same seed, throttling and failures included", async () => {
    const scenario = { shards: 8, mode: "jobs" as const, throttleRate: 0.2, failShards: [5], seed: 7 };
    const first = await runExecution(scenario);
    const second = await runExecution(scenario);
    expect(total(first.throttledBatchCalls)).to.be.above(0);
    expect(simulatedFigures(second)).to.deep.equal(simulatedFigures(first));
  });
});

describe("the reference design's policy on the same local servers", function () {
  this.timeout(120_000);

  it("resumes only when the message comes back, up to one 900 s visibility timeout after the last job", async () => {
    const summary = await runExecution({ design: "reference", shards: 10, jobDurationSeconds: 120 });
    expect(summary).to.deep.include({
      outcome: "succeeded",
      expected: true,
      jobsLeftRunning: 0,
      mode: "jobs",
    });
    // Jobs end at 151 s; the monitor threw at 0 s and sees them done when the message returns at 900 s.
    expect(summary.resumeLatencySeconds).to.equal(749);
    expect(summary.lambdaErrors["reference-monitor"]).to.equal(1);
    expect(summary.apiCalls.Batch.SubmitJob).to.equal(10);
  });

  it("fails its Lambda step beyond 1,024 characters of job IDs and leaves the jobs running", async () => {
    // 30 job IDs joined by spaces: over the 1,024 characters a step output holds (27 fit).
    const summary = await runExecution({ design: "reference", shards: 30 });
    expect(summary).to.deep.include({ outcome: "failed", expected: false, jobsLeftRunning: 30 });
    expect(summary.failureReason).to.match(
      /Output jobIds of SubmitBatchJobs is \d+ characters long; .* at most 1024/,
    );
    expect(summary.unexpected).to.include("30 job(s) left running");
  });

  it("ends as 'no answer' when the step is still waiting a bound after the last job", async () => {
    const summary = await runExecution({ design: "reference", shards: 2, noAnswerAfterSeconds: 300 });
    expect(summary).to.deep.include({ outcome: "no answer", expected: false, resumeLatencySeconds: null });
    expect(summary.failureReason).to.equal("The step was not answered within 300 s of the last job's end.");
    // The jobs ended at 151 s: the run gave up at 451 s, before the message came back at 900 s.
    expect(summary.executionSeconds).to.equal(451);
  });
});
