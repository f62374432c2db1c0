import { expect } from "chai";
import {
  bench,
  benchDesigns,
  benchJobDurationsSeconds,
  benchShards,
  type BenchRun,
} from "../../scripts/bench";

/** Runs the bench in this process and collects what it prints. */
async function runBench(
  argv: string[],
  plan?: Parameters<typeof bench>[2],
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await bench(
    argv,
    { out: (text) => (out += `${text}\n`), err: (text) => (err += `${text}\n`) },
    plan,
  );
  return { code, out, err };
}

describe("npm run bench", function () {
  this.timeout(120_000);

  const stack = benchDesigns()[0];
  const reference = benchDesigns().find((design) => design.name === "reference")!;

  it("covers 1 to 10,000 shards with 2-minute and 2-hour jobs, for the stack and the reference design", () => {
    expect(benchShards).to.deep.equal([1, 10, 100, 1_000, 10_000]);
    expect(benchJobDurationsSeconds).to.deep.equal([120, 7200]);
    expect(benchDesigns().map((design) => design.label)).to.include.members([
      "this stack, event-driven",
      "reference design",
    ]);
  });

  it("prints a row per shard count and job duration, a column group per design, and why a run broke", async () => {
    const result = await runBench([], {
      designs: [stack, reference],
      shards: [10, 100],
      jobDurationsSeconds: [120],
    });
    expect(result.code).to.equal(0);
    const lines = result.out.split("\n");
    const titles = lines.findIndex((line) => line.includes(`| ${stack.label}`));
    expect(lines[titles]).to.include("| reference design");
    expect(lines[titles + 1]).to.match(
      /^shards {2}jobs +\| outcome +resume +Lambda +Batch +left +wall +\| outcome/,
    );
    // The reference resumes when its message returns, at most 900 s after its monitor last threw (its jobs
    // wait 1 s SUBMITTED before RUNNABLE).
    expect(lines[titles + 2]).to.match(
      /^ +10 {2}2m +\| succeeded .*\| succeeded +12m29s +3 +12 +0 +[\d.]+s$/,
    );
    expect(lines[titles + 3]).to.match(/^ +100 {2}2m +\| succeeded .*\| failed +- +1 +10\d +100 +[\d.]+s$/);
    expect(result.out).to.match(
      /reference design, 100 shards, 2m jobs: Output jobIds of SubmitBatchJobs is 3699 characters long; .* 100 jobs left running\./,
    );
    expect(result.err).to.include("reference design, 100 shards, 2m jobs: failed");
  });

  it("with --json prints every run's summary, and refuses an unknown argument with exit code 2", async () => {
    const result = await runBench(["--json"], { designs: [stack], shards: [1], jobDurationsSeconds: [120] });
    expect(result.code).to.equal(0);
    const { runs } = JSON.parse(result.out) as { runs: BenchRun[] };
    expect(runs).to.have.length(1);
    expect(runs[0]).to.deep.include({ design: stack.name, shards: 1, jobDurationSeconds: 120 });
    expect(runs[0].summary.outcome).to.equal("succeeded");

    const refused = await runBench(["--shards", "10"]);
    expect(refused.code).to.equal(2);
    expect(refused.err).to.equal(
      'Unknown option "--shards".\nRun "npm run bench -- --help" for the options.\n',
    );
  });
});
