import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { runExecution, type Summary } from "../../local/runner/run";
import type { RenderedStack } from "../../render/rendered-stack";
import { start } from "../../scripts/start";
import { changedStack } from "../support/fixture-stack";

/** Runs `npm start -- ... --json` in this process: its exit code and summary. */
async function runStart(argv: string[]): Promise<{ code: number; summary: Summary }> {
  let out = "";
  const code = await start([...argv, "--json"], { out: (text) => (out += text), err: () => undefined });
  return { code, summary: JSON.parse(out) as Summary };
}

/** The step report the run kept for the user. */
async function reportOf(summary: Summary) {
  expect(summary.reportFile, "the run keeps the report in a file").to.be.a("string");
  return JSON.parse(await readFile(summary.reportFile!, "utf8")) as {
    failedShards: { shardIndex: number; logGroupName?: string; logStreamName?: string; logLink?: string }[];
  };
}

/**
 * The stack with its submit step's minSuccessRatio a pipeline parameter (default `ratio`), which the
 * execution resolves when the step runs: the definition as SageMaker gets it.
 */
function ratioParameter(ratio: number) {
  return changedStack((rendered: RenderedStack) => {
    const index = rendered.resources.findIndex((r) => r.type === "aws:sagemaker/pipeline:Pipeline");
    const pipeline = rendered.resources[index];
    const definition = JSON.parse(String(pipeline.inputs.pipelineDefinition)) as {
      Parameters?: Record<string, unknown>[];
      Steps: { Type: string; Arguments: Record<string, unknown> }[];
    };
    definition.Parameters = [
      ...(definition.Parameters ?? []),
      { Name: "MinSuccessRatio", Type: "Float", DefaultValue: ratio },
    ];
    const submit = definition.Steps.find((step) => step.Type === "Lambda")!;
    submit.Arguments.minSuccessRatio = { Get: "Parameters.MinSuccessRatio" };
    const pipelineDefinition = JSON.stringify(definition);
    rendered.resources[index] = {
      ...pipeline,
      inputs: { ...pipeline.inputs, pipelineDefinition },
      state: { ...pipeline.state, pipelineDefinition },
    };
  });
}

describe("npm start with minSuccessRatio (partial success)", function () {
  this.timeout(180_000);

  it("succeeds with 19 of 20 shards at minSuccessRatio 0.9, naming shard 3 in FailedShards", async () => {
    const { code, summary } = await runStart([
      "--shards",
      "20",
      "--fail-shards",
      "3",
      "--set",
      "minSuccessRatio=0.9",
    ]);

    expect(summary.outcome).to.equal("succeeded");
    expect(summary.stepOutputs).to.deep.include({
      Status: "SUCCEEDED",
      SucceededShards: "19",
      FailedShards: "3",
    });
    expect(summary.stepOutputs?.ReportUri).to.match(/^s3:\/\/.*\/_bridge\/report-\w+-callback\.json$/);
    expect(summary.reportUri).to.equal(summary.stepOutputs?.ReportUri);
    const report = await reportOf(summary);
    expect(report.failedShards.map((s) => s.shardIndex)).to.deep.equal([3]);
    expect(summary.jobsLeftRunning).to.equal(0);
    expect(code).to.equal(0);
  });

  it("answers a jobs-mode step with a failed shard within seconds of its last shard, by completion events", async () => {
    const { summary } = await runStart([
      ...["--shards", "20", "--mode", "jobs", "--fail-shards", "3", "--set", "minSuccessRatio=0.9"],
    ]);

    expect(summary).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    expect(summary.stepOutputs).to.deep.include({ SucceededShards: "19", FailedShards: "3" });
    expect(summary.stepOutputs?.ReportUri).to.match(/^s3:\/\/.*\/_bridge\/report-\w+-callback\.json$/);
    // Simulated seconds: the job-event function answers, not the monitor's safety-net check 6 hours on.
    expect(summary.resumeLatencyFrom).to.equal("last job ended");
    expect(summary.resumeLatencySeconds).to.be.below(10);
    expect(summary.lambdaInvocations["batch-bridge-monitor"]).to.equal(1);
  });

  it("takes minSuccessRatio from a pipeline expression resolved at run time, in jobs mode with events", async () => {
    const config = { submitMode: "jobs" };
    const within = await runExecution(
      { shards: 10, failShards: [4], config },
      { prepareDesign: ratioParameter(0.9) },
    );
    expect(within).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    expect(within.stepOutputs).to.deep.include({ SucceededShards: "9", FailedShards: "4" });
    expect(within.resumeLatencySeconds).to.be.below(10);

    const beyond = await runExecution(
      { shards: 10, failShards: [4, 6], config },
      { prepareDesign: ratioParameter(0.9) },
    );
    expect(beyond).to.deep.include({ outcome: "failed", expected: true, jobsLeftRunning: 0 });
    expect(beyond.failureReason).to.match(/^2 of 10 shards failed \(minSuccessRatio 0\.9 allows 1\): /);
    expect(beyond.resumeLatencyFrom).to.equal("first shard failed");
  });

  it("fails as soon as more shards failed than the ratio allows, saying so", async () => {
    const { code, summary } = await runStart([
      ...["--shards", "20", "--fail-shards", "3,5,7", "--set", "minSuccessRatio=0.9"],
    ]);

    expect(summary.outcome).to.equal("failed");
    expect(summary.failureReason).to.match(
      /^3 of 20 shards failed \(minSuccessRatio 0\.9 allows 2\): shard 3 /,
    );
    expect(code).to.equal(0);
  });

  it("fails on one failed shard without a ratio, with a report naming shard 3 and its log link", async () => {
    const { summary } = await runStart(["--shards", "20", "--fail-shards", "3"]);

    expect(summary.outcome).to.equal("failed");
    expect(summary.failureReason).to.match(/^1 of 20 shards failed: shard 3 /);
    expect(summary.reportUri).to.match(/^s3:\/\/.*\/_bridge\/report-\w+-callback\.json$/);
    expect(summary.failureReason!.endsWith(` Report: ${summary.reportUri}`)).to.equal(true);
    const report = await reportOf(summary);
    expect(report.failedShards).to.have.length(1);
    expect(report.failedShards[0].shardIndex).to.equal(3);
    expect(report.failedShards[0].logLink).to.match(
      /^https:\/\/[a-z0-9-]+\.console\.aws\.amazon\.com\/cloudwatch\//,
    );
    // The stack's job definition names its log group and stream prefix, and local Batch returns them.
    expect(report.failedShards[0]).to.deep.include({ logGroupName: "/aws/batch/batch-bridge-dev-job" });
    expect(report.failedShards[0].logStreamName).to.match(/^job\/default\/[0-9a-f]{32}$/);
    expect(report.failedShards[0].logLink).to.include(
      "log-group/$252Faws$252Fbatch$252Fbatch-bridge-dev-job/",
    );
  });

  it("refuses a ratio outside 0 < r <= 1 before anything runs, naming the key", async () => {
    let err = "";
    const code = await start(["--set", "minSuccessRatio=1.5"], {
      out: () => undefined,
      err: (t) => (err += t),
    });

    expect(code).to.equal(1);
    expect(err).to.include(
      "sagemaker-batch-bridge:minSuccessRatio must be a number greater than 0 and at most 1",
    );
  });
});
