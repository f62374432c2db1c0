import { readFile } from "node:fs/promises";
import { expect } from "chai";
import type { Summary } from "../../local/runner/run";
import { start } from "../../scripts/start";

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
    failedShards: { shardIndex: number; logLink?: string }[];
  };
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
