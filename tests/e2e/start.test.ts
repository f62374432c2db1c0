import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { renderStack } from "../../render/render-stack";
import { repoRoot } from "../../render/stack-files";
import type { Summary } from "../../local/runner/run";
import { parseStartArgs, start } from "../../scripts/start";
import { npmScriptNodeArgs } from "../support/npm-script";

/** Runs `npm start` in this process and collects what it prints. */
async function runStart(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await start(argv, {
    out: (text) => (out += `${text}\n`),
    err: (text) => (err += `${text}\n`),
  });
  return { code, out, err };
}

describe("npm start", function () {
  this.timeout(120_000);

  // Started first so that the separate process runs while the other tests run in this one. Its default run
  // renders the dev stack as the runs here do: rendered here first, it finds the render kept on disk.
  let jsonRun: Promise<{ code: number; stdout: string; stderr: string }>;
  before(async () => {
    await renderStack({ stack: "dev", config: {} });
    jsonRun = promisify(execFile)(process.execPath, npmScriptNodeArgs("start", ["--json"]), {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  });

  it("reads every option, as --name value or --name=value", () => {
    const options = parseStartArgs([
      "--shards",
      "12",
      "--mode=jobs",
      "--job-duration",
      "1h30m",
      "--fail-shards",
      "0,11",
      "--stop-after",
      "20m",
      "--throttle",
      "0.25",
      "--duplicate-deliveries",
      "--stack",
      "dev",
      "--seed",
      "42",
      "--event-delay",
      "500ms",
      "--design",
      "reference",
      "--json",
    ]);
    expect(options).to.deep.equal({
      json: true,
      help: false,
      scenario: {
        shards: 12,
        mode: "jobs",
        jobDurationSeconds: 5400,
        failShards: [0, 11],
        stopAfterSeconds: 1200,
        throttleRate: 0.25,
        duplicateDeliveries: true,
        stack: "dev",
        seed: 42,
        eventDelaySeconds: 0.5,
        design: "reference",
      },
    });
  });

  it("refuses a bad option naming it and what is allowed, exit code 2 and nothing on stdout", async () => {
    const cases: [string[], string][] = [
      [["--shards", "0"], '--shards must be a whole number from 1 to 10000, got "0".'],
      [["--shards"], "--shards needs a value: a whole number from 1 to 10000."],
      [["--mode", "batch"], '--mode must be array or jobs, got "batch".'],
      [
        ["--job-duration", "2 hours"],
        '--job-duration must be a duration up to 2d, e.g. 90s, 30m, 2h, got "2 hours".',
      ],
      [
        ["--fail-shards", "1,4"],
        '--fail-shards must list shard indexes from 0 to 3 separated by commas, got "1,4".',
      ],
      [["--throttle", "1.5"], '--throttle must be a fraction from 0 to 1, e.g. 0.2, got "1.5".'],
      [
        ["--stack", "staging"],
        "--stack staging: there is no Pulumi.staging.yaml; stacks with a file: dev, example-pipeline, prod.",
      ],
      [["--seed", "-1"], '--seed must be a whole number from 0 to 2147483647, got "-1".'],
      [
        ["--json", "--function-logs"],
        "--function-logs cannot be combined with --json: both write to stdout.",
      ],
      [["--verbose"], 'Unknown option "--verbose".'],
      [["--shard", "5"], 'Unknown option "--shard": did you mean --shards?'],
    ];
    for (const [argv, message] of cases) {
      const result = await runStart(argv);
      expect(result.code, argv.join(" ")).to.equal(2);
      expect(result.out, argv.join(" ")).to.equal("");
      expect(result.err, argv.join(" ")).to.include(message);
      expect(result.err).to.include('Run "npm start -- --help" for the options.');
    }
  });

  it("lists its options with --help", async () => {
    const result = await runStart(["--help"]);
    expect(result.code).to.equal(0);
    for (const option of [
      "--shards N",
      "--mode array|jobs",
      "--job-duration D",
      "--fail-shards i,j",
      "--stop-after D",
      "--throttle RATE",
      "--duplicate-deliveries",
      "--stack NAME",
      "--seed N",
      "--event-delay D",
      "--json",
    ]) {
      expect(result.out).to.include(`  ${option}`);
    }
  });

  it("shows progress while it runs and a readable summary at the end, exit code 0", async () => {
    const result = await runStart(["--shards", "3", "--fail-shards", "1"]);
    expect(result.code).to.equal(0);
    expect(result.err).to.match(/^\+00:00:00 {2}SubmitBatchJobs running +jobs: none yet$/m);
    expect(result.err).to.match(/^\+00:00:31 {2}WaitForBatchJobs waiting +jobs: 3 RUNNING$/m);
    // The jobs the bridge terminated are not shown as failures of their own.
    expect(result.err).to.match(/ WaitForBatchJobs answered +jobs: 1 FAILED, 2 terminated$/m);
    expect(result.out).to.include("Outcome            failed (as expected)");
    expect(result.out).to.match(
      /Failure reason {5}1 of 3 shards failed: shard 1 \(exit code 1: injected failure of shard 1\)/,
    );
    expect(result.out).to.match(/Resume latency {5}\d+\.\ds from first shard failed to the step's answer/);
    expect(result.out).to.match(/Lambda invocations \d+: .*batch-bridge-submit 1/);
    expect(result.out).to.match(/\n {2}Batch {12}.*SubmitJob 1.*TerminateJob 1/);
    expect(result.out).to.include("Jobs left running  0");
  });

  it("says up front when the run raises the job timeout, and at the end when a planned stop never came", async () => {
    const result = await runStart(["--shards", "1", "--job-duration", "2h", "--stop-after", "3h"]);
    expect(result.code).to.equal(0);
    const lines = result.err.split("\n");
    expect(lines[0]).to.equal(
      "Running one execution of the stack locally (dev config, 1 shard, 2h jobs, seed 1); times are simulated:",
    );
    expect(lines[1]).to.match(
      /^Stack config for this run: jobTimeoutSeconds = 9000 \(the stack's \d+ s job timeout is shorter than the 7200 s jobs\)$/,
    );
    expect(result.out).to.include("Outcome            succeeded (as expected)\n");
    expect(result.out).to.match(
      /\nNote {15}no stop happened: the execution ended after 2h00m3\ds, before the stop planned at 3h\n/,
    );
  });

  it("exits 1 when the execution did not end as the scenario expects", async () => {
    const result = await runStart(["--design", "reference", "--shards", "30"]);
    expect(result.code).to.equal(1);
    expect(result.out).to.include("Outcome            failed (expected: succeeded)");
    expect(result.out).to.include("Not as expected    30 job(s) left running");
  });

  it("with --json prints one JSON object on stdout, and exits 0 for the default execution", async () => {
    const { code, stdout, stderr } = await jsonRun;
    expect(code, stderr).to.equal(0);
    const summary = JSON.parse(stdout) as Summary;
    expect(stdout.trim().split("\n")).to.have.length(1);
    expect(summary).to.deep.include({ outcome: "succeeded", expected: true, shards: 4, jobsLeftRunning: 0 });
    expect(summary.resumeLatencySeconds).to.be.a("number");
    expect(summary.apiCalls.Batch).to.have.property("SubmitJob", 1);
    expect(stderr).to.match(/WaitForBatchJobs answered/);
  });
});
