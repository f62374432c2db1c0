import { expect } from "chai";
import { decideOutcome } from "../../functions/decision";
import type { ExecutionJobs } from "../../functions/execution-jobs";
import { validateSubmitArguments } from "../../functions/submit-arguments";
import { failedShardList, requiredSuccesses } from "../../functions/success-ratio";
import type { SubmitSettings } from "../../functions/settings";

/** An array job's summary: `failed` shards failed (named), `running` still running, the rest succeeded. */
function jobs(
  shardCount: number,
  failedShards: number[],
  running: number,
  minSuccessRatio?: number,
): ExecutionJobs {
  const failed = failedShards.length;
  return {
    executionArn: "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/e1",
    jobMode: "array",
    jobRef: "array-1",
    jobName: "bridge-e1",
    shardCount,
    ...(minSuccessRatio !== undefined ? { minSuccessRatio } : {}),
    counts: { RUNNING: running, FAILED: failed, SUCCEEDED: shardCount - failed - running },
    succeeded: shardCount - failed - running,
    failed,
    failedShards: failedShards.map((shardIndex) => ({
      shardIndex,
      jobId: `array-1:${shardIndex}`,
      exitCode: 1,
    })),
    terminatedByBridge: 0,
    notFound: [],
    notFoundCount: 0,
    unfinished: running,
    unfinishedJobIds: running > 0 ? ["array-1"] : [],
  };
}

describe("minSuccessRatio", () => {
  it("needs ceil(ratio x shards) successes, without floating-point noise (0.9 x 20 is 18)", () => {
    expect(requiredSuccesses(20, 0.9)).to.equal(18);
    expect(requiredSuccesses(10, 0.95)).to.equal(10);
    expect(requiredSuccesses(3, 0.01)).to.equal(1);
    expect(requiredSuccesses(10_000, 1)).to.equal(10_000);
  });

  it("waits for the other shards while the failures are within the ratio, then succeeds naming them", () => {
    expect(decideOutcome(jobs(20, [3], 5, 0.9))).to.equal(undefined);
    expect(decideOutcome(jobs(20, [3, 11], 0, 0.9))).to.deep.equal({
      decision: "succeed",
      outputs: {
        Status: "SUCCEEDED",
        SucceededShards: "18",
        ShardCount: "20",
        JobRef: "array-1",
        FailedShards: "3,11",
      },
    });
  });

  it("fails and terminates the rest as soon as more shards failed than the ratio allows", () => {
    const outcome = decideOutcome(jobs(20, [3, 5, 7], 4, 0.9));
    expect(outcome).to.deep.include({ decision: "fail" });
    expect(outcome && outcome.decision === "fail" && outcome.reason).to.equal(
      "3 of 20 shards failed (minSuccessRatio 0.9 allows 2): shard 3 (exit code 1), shard 5 (exit code 1), shard 7 (exit code 1)",
    );
  });

  it("fails on the first failed shard without a ratio, and answers FailedShards empty on a full success", () => {
    expect(decideOutcome(jobs(20, [3], 5))).to.deep.include({ decision: "fail" });
    const outcome = decideOutcome(jobs(20, [], 0));
    expect(outcome && outcome.decision === "succeed" && outcome.outputs.FailedShards).to.equal("");
  });

  it("keeps FailedShards within a step output's 1,024 characters, counting the shards it cannot name", () => {
    const shards = Array.from({ length: 1000 }, (_, i) => 9000 + i);
    const list = failedShardList(shards, 1000, 1024);
    expect(list.length).to.be.at.most(1024);
    expect(list).to.match(/^9000,9001,.* and \d+ more$/);
    const named = list.split(" ")[0].split(",").length;
    expect(list.endsWith(` and ${1000 - named} more`)).to.equal(true);
  });

  describe("as a step argument, checked before any job is submitted", () => {
    const settings: SubmitSettings = {
      jobQueue: "queue",
      jobDefinition: "definition",
      jobNamePrefix: "bridge",
      submitMode: "array",
      minSuccessRatio: 0.8,
      jobKinds: { gpu: { jobDefinition: "gpu-definition", submitMode: "array", minSuccessRatio: 0.5 } },
      inputUriPrefix: "s3://data/input/",
      outputUriPrefix: "s3://data/output/",
      statusTable: "table",
      cleanupQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cleanup",
    };
    const event = (more: Record<string, unknown>) => ({
      executionArn: "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/e1",
      inputUri: "s3://data/input/",
      outputUri: "s3://data/output/",
      shardCount: 20,
      ...more,
    });

    it("takes the step's own ratio, else its kind's, else the stack's", () => {
      expect(validateSubmitArguments(event({ minSuccessRatio: "0.95" }), settings).minSuccessRatio).to.equal(
        0.95,
      );
      expect(validateSubmitArguments(event({ jobKind: "gpu" }), settings).minSuccessRatio).to.equal(0.5);
      expect(validateSubmitArguments(event({}), settings).minSuccessRatio).to.equal(0.8);
    });

    it("refuses a ratio outside 0 < r <= 1, naming the argument", () => {
      for (const bad of [0, "1.5", "most", -0.1]) {
        expect(() => validateSubmitArguments(event({ minSuccessRatio: bad }), settings)).to.throw(
          /minSuccessRatio must be a number greater than 0 and at most 1, e\.g\. 0\.9, got/,
        );
      }
    });
  });
});
