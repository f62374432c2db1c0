import { expect } from "chai";
import {
  counted,
  formatDuration,
  formatLatency,
  parseDuration,
  resolveScenario,
  ScenarioError,
} from "../../../local/runner/scenario";

describe("local execution scenarios", () => {
  it("reads durations with units, combined units and plain seconds", () => {
    expect(parseDuration("90s")).to.equal(90);
    expect(parseDuration("30m")).to.equal(1800);
    expect(parseDuration("2h")).to.equal(7200);
    expect(parseDuration("1h30m")).to.equal(5400);
    expect(parseDuration("1.5h")).to.equal(5400);
    expect(parseDuration("500ms")).to.equal(0.5);
    expect(parseDuration("45")).to.equal(45);
    for (const bad of ["", "2 hours", "h", "10x", "-5s"]) {
      expect(() => parseDuration(bad), bad).to.throw(
        /is not a duration: use a number with a unit, e\.g\. 90s/,
      );
    }
    expect([90, 5400, 7200, 0.5, 0, 7233, 3660, 86_433].map(formatDuration)).to.deep.equal([
      "1m30s",
      "1h30m",
      "2h",
      "0.5s",
      "0s",
      "2h00m33s",
      "1h01m",
      "1d00h00m33s",
    ]);
    for (const seconds of [7233, 3660, 86_433, 5400]) {
      expect(parseDuration(formatDuration(seconds)), String(seconds)).to.equal(seconds);
    }
  });

  it("prints latencies alike (tenths under a minute) and counts with the right plural", () => {
    expect([1, 0.5, 12.34, 59.96, 158].map(formatLatency)).to.deep.equal([
      "1.0s",
      "0.5s",
      "12.3s",
      "1m",
      "2m38s",
    ]);
    expect([counted(1, "shard"), counted(4, "shard"), counted(0, "job")]).to.deep.equal([
      "1 shard",
      "4 shards",
      "0 jobs",
    ]);
  });

  it("applies the defaults: the dev stack, 4 shards of 2-minute jobs, seed 1, a 1 s event delay", () => {
    expect(resolveScenario()).to.deep.include({
      design: "bridge",
      stack: "dev",
      shards: 4,
      jobDurationSeconds: 120,
      failShards: [],
      throttleRate: 0,
      duplicateDeliveries: false,
      seed: 1,
      eventDelaySeconds: 1,
    });
  });

  it("lists every bad field with what it accepts", () => {
    let error: ScenarioError | undefined;
    try {
      resolveScenario({
        shards: 10_001,
        failShards: [4],
        throttleRate: 2,
        mode: "batch" as never,
        speed: 3,
      } as never);
    } catch (e) {
      error = e as ScenarioError;
    }
    expect(error).to.be.instanceOf(ScenarioError);
    expect(error!.problems).to.have.members([
      "speed is not a scenario field (fields: design, stack, config, shards, parameters, mode, jobDurationSeconds, stepDurationSeconds, failShards, stopAfterSeconds, throttleRate, duplicateDeliveries, seed, eventDelaySeconds, malformedMessage, noAnswerAfterSeconds, timeLimitSeconds, maxConcurrentJobs, listingLagSeconds, functionLogs, worker, inputDirectory, engine, modelTimeoutSeconds).",
      "shards must be a whole number from 1 to 10000, got 10001.",
      "failShards: 4 is not a shard of this execution (0 to 3).",
      "throttleRate must be a fraction from 0 to 1, got 2.",
      'mode must be one of array, jobs, got "batch".',
    ]);
  });

  it("refuses on the transform engine what shapes Batch jobs or the callback step, and a model timeout without it", () => {
    const problems = (input: object): string[] => {
      try {
        resolveScenario(input as never);
      } catch (e) {
        return (e as ScenarioError).problems;
      }
      return [];
    };
    expect(
      problems({ engine: "transform", throttleRate: 0.2, mode: "jobs", duplicateDeliveries: true }),
    ).to.deep.equal([
      "mode cannot be combined with engine transform: it chooses how Batch jobs are submitted.",
      "throttleRate cannot be combined with engine transform: it throttles Batch calls, and a transform job makes none.",
      "duplicateDeliveries cannot be combined with engine transform: it duplicates callback messages and Batch events, and a Transform step has neither.",
    ]);
    expect(problems({ engine: "transform", design: "bridge", duplicateDeliveries: false })).to.deep.equal([]);
    expect(problems({ modelTimeoutSeconds: 5 })).to.deep.equal([
      "modelTimeoutSeconds needs engine transform and a worker: it bounds the model's answer.",
    ]);
    expect(problems({ engine: "spark" })).to.deep.equal([
      'engine must be one of batch, transform, got "spark".',
    ]);
  });
});
