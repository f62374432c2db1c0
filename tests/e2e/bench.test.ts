import { expect } from "chai";
import {
  bench,
  benchDesigns,
  benchJobDurationsSeconds,
  benchShards,
  benchThrottleCases,
  type BenchRun,
} from "../../scripts/bench";
import type { ThrottledSubmitResult } from "../../local/runner/throttled-submit";
import { recordsBenchTable, stackModelOf } from "../../scripts/bench-records";
import { engineBenchRecordCounts, runEngineBench } from "../../scripts/bench-engines";
import { transformInstanceHourPrices } from "../../scripts/prices";

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

  it("covers both submit modes, 1 to 10,000 shards (1,000 one job per shard) with 2-minute and 2-hour jobs, for the stack and the reference design", () => {
    expect(benchShards).to.deep.equal({ array: [1, 10, 100, 1_000, 10_000], jobs: [1, 10, 100, 1_000] });
    expect(benchJobDurationsSeconds).to.deep.equal([120, 7200]);
    expect(benchDesigns().map((design) => design.label)).to.include.members([
      "this stack, event-driven",
      "reference design",
    ]);
    expect(reference.mode, "the reference submits one job per shard").to.equal("jobs");
  });

  it("prints a row per submit mode, shard count and job duration, a column group per design, and why a run broke", async () => {
    const result = await runBench([], {
      designs: [stack, reference],
      // 30 job IDs overflow the reference's 1,024-character step output, as the bench's 100 do.
      shards: { array: [10], jobs: [10, 30] },
      jobDurationsSeconds: [120],
    });
    expect(result.code).to.equal(0);
    const lines = result.out.split("\n");
    const titles = lines.findIndex((line) => line.includes(`| ${stack.label}`));
    expect(lines[titles]).to.include("| reference design");
    expect(lines[titles + 1]).to.match(
      /^submit {2}shards {2}jobs +\| outcome +resume +Lambda +Batch +left +wall +\| outcome/,
    );
    // The reference has one submit mode: its cells in the array row are empty.
    expect(lines[titles + 2]).to.match(/^array +10 {2}2m +\| succeeded .*\| - +- +- +- +- +-$/);
    // One job per shard: the stack submits 10 jobs; the reference resumes when its message returns, at most
    // 900 s after its monitor last threw.
    expect(lines[titles + 3]).to.match(
      /^jobs +10 {2}2m +\| succeeded +1\.0s +\d+ +1\d +0 +[\d.]+s +\| succeeded +12m29s +3 +12 +0 +[\d.]+s$/,
    );
    expect(lines[titles + 4]).to.match(/^jobs +30 {2}2m +\| succeeded .*\| failed +- +1 +3\d +30 +[\d.]+s$/);
    expect(result.out).to.match(
      /reference design, jobs mode, 30 shards, 2m jobs: Output jobIds of SubmitBatchJobs is 1109 characters long; .* 30 jobs left running\./,
    );
    expect(result.err).to.include("reference design, jobs mode, 30 shards, 2m jobs: failed");
    expect(result.err).to.include(`${stack.label}, array mode, 10 shards, 2m jobs: succeeded`);
  });

  it("measures the submit function under throttling at 200 shards and 90%, 1,000 and 50%, 10,000 and 10% (600 s timeout)", () => {
    expect(benchThrottleCases).to.deep.equal([
      { shards: 200, throttleRate: 0.9, timeoutSeconds: 300 },
      { shards: 1_000, throttleRate: 0.5, timeoutSeconds: 300 },
      { shards: 10_000, throttleRate: 0.1, timeoutSeconds: 600 },
    ]);
  });

  it("prints a submit-under-throttling table: a row per shard count and throttle rate next to the ideal time, and why a row did not finish", async () => {
    const result = await runBench([], {
      designs: [stack],
      shards: { array: [1] },
      jobDurationsSeconds: [120],
      throttleCases: [
        { shards: 40, throttleRate: 0.5, timeoutSeconds: 300 },
        // 10,000 separate jobs do not fit in 300 s: the function refuses them before submitting any.
        { shards: 10_000, throttleRate: 0.1, timeoutSeconds: 300 },
      ],
    });
    expect(result.code).to.equal(0);
    const lines = result.out.split("\n");
    const title = lines.findIndex((line) => line.startsWith("Submit under throttling:"));
    expect(title, "the table comes after the bench's own").to.be.greaterThan(
      lines.findIndex((line) => line.startsWith("array")),
    );
    const header = lines.indexOf("", title) + 1;
    expect(lines[header].trim().split(/\s+/)).to.deep.equal([
      "shards",
      "throttle",
      "timeout",
      "submit",
      "ideal",
      "finished",
      "SubmitJob",
      "throttled",
      "wall",
    ]);
    expect(lines[header + 1]).to.match(/^ +40 +50% +300s +[\d.]+s +2\.0s +yes +\d+ +\d+ +[\d.]+s$/);
    expect(lines[header + 2]).to.match(/^ 10000 +10% +300s +[\d.]+s +277\.8s +no +0 +0 +[\d.]+s$/);
    expect(lines[header + 3]).to.equal("");
    expect(result.out).to.match(
      /Rows that did not finish:\n {2}10000 shards at 10%: Submitting 10000 jobs one by one/,
    );
    expect(result.err).to.include("submit under throttling, 40 shards at 50%: finished");
    expect(lines.at(-2)).to.match(/^Total wall time \d+ s\.$/);
  });

  it("--throttle-max-shards limits or skips that table, and refuses a value that is not a shard count", async () => {
    const plan = {
      designs: [stack],
      shards: { array: [1] },
      jobDurationsSeconds: [120],
      throttleCases: [
        { shards: 10, throttleRate: 0.5, timeoutSeconds: 300 },
        { shards: 10_000, throttleRate: 0.1, timeoutSeconds: 300 },
      ],
    };
    const limited = await runBench(["--throttle-max-shards", "1000", "--json"], plan);
    expect(limited.code).to.equal(0);
    const { submitUnderThrottling } = JSON.parse(limited.out) as {
      submitUnderThrottling: ThrottledSubmitResult[];
    };
    expect(submitUnderThrottling.map((r) => [r.shards, r.finished])).to.deep.equal([[10, true]]);
    expect(submitUnderThrottling[0].submitJobCalls).to.be.at.least(10);

    const skipped = await runBench(["--throttle-max-shards=0"], plan);
    expect(skipped.code).to.equal(0);
    expect(skipped.out).to.include("| this stack").and.not.include("Submit under throttling");

    const refused = await runBench(["--throttle-max-shards", "lots"], plan);
    expect(refused.code).to.equal(2);
    expect(refused.err).to.equal(
      '--throttle-max-shards must be a whole number from 0 to 10000, got "lots".\n' +
        'Run "npm run bench -- --help" for the options.\n',
    );
  });

  it("with --json prints every run's summary, and refuses an unknown argument with exit code 2", async () => {
    const result = await runBench(["--json"], {
      designs: [stack],
      shards: { jobs: [1] },
      jobDurationsSeconds: [120],
    });
    expect(result.code).to.equal(0);
    const { runs } = JSON.parse(result.out) as { runs: BenchRun[] };
    expect(runs).to.have.length(1);
    expect(runs[0]).to.deep.include({ design: stack.name, mode: "jobs", shards: 1, jobDurationSeconds: 120 });
    expect(runs[0].summary).to.deep.include({ outcome: "succeeded", mode: "jobs" });

    const refused = await runBench(["--shards", "10"]);
    expect(refused.code).to.equal(2);
    expect(refused.err).to.equal(
      'Unknown option "--shards".\nRun "npm run bench -- --help" for the options.\n',
    );
  });

  it("prints the records table: a row per size, its source, p50, p99 and calls a design, every assumption", () => {
    const model = stackModelOf("dev");
    const figures = (source: "local run" | "model", p50: number, callsPerThousand = 6390) => ({
      source,
      p50,
      p99: p50 + 1,
      callsPerThousand,
    });
    const table = recordsBenchTable(
      [
        { records: 1000, stack: figures("local run", 154.2), template: figures("model", 422.2, 4120) },
        { records: 100000, stack: figures("model", 190.9), template: figures("model", 422.2, 4120) },
      ],
      model,
    ).split("\n");
    expect(table[0]).to.equal("Records: sent at 100 a second, each to its final status (simulated)");
    expect(table[2]).to.match(/^ +\| this stack's records API +\| the template's design$/);
    expect(table[3].split(/\s+/)).to.deep.equal([
      "records",
      "|",
      "source",
      "p50",
      "p99",
      "calls",
      "|",
      "source",
      "p50",
      "p99",
      "calls",
    ]);
    expect(table[4]).to.match(/^ +1000 {2}\| local run +2m34s +2m35s +6390 {2}\| model +7m02s +7m03s +4120$/);
    expect(table[5]).to.match(/^ +100000 {2}\| model +3m11s +3m12s +6390 {2}\| model/);
    expect(table.join("\n")).to.include("at most 128 jobs");
    expect(table.join("\n")).to.include("the job's instance start-up is assumed 5 min");
  });

  it("compares both engines on the same records: a row per size, p50, p99, jobs, billed hours and cost per 1,000 records each, from the runs", async () => {
    expect(engineBenchRecordCounts).to.deep.equal([200, 1_000]);
    const result = await runBench([], {
      designs: [stack],
      shards: { array: [1] },
      jobDurationsSeconds: [120],
      // Twenty records in batches of ten make two batches, as the bench's 200 in the dev config's 100 do.
      engines: { recordBatchSize: 10 },
      engineRecordCounts: [20],
    });
    expect(result.code).to.equal(0);
    const lines = result.out.split("\n");
    const title = lines.findIndex((line) => line.startsWith("Engines: the same records through each engine"));
    expect(title, "the engine table comes after the bench's own").to.be.greaterThan(
      lines.findIndex((line) => line.startsWith("array")),
    );
    expect(lines[title + 2]).to.match(/^ +\| AWS Batch \(Fargate\) +\| SageMaker Batch Transform$/);
    expect(lines[title + 3].trim().split(/\s+/)).to.deep.equal([
      "records",
      "|",
      "p50",
      "p99",
      "jobs",
      "hours",
      "$/1000",
      "|",
      "p50",
      "p99",
      "jobs",
      "hours",
      "$/1000",
    ]);
    const row = lines[title + 4].trim().split(/\s+/);
    expect(row[0]).to.equal("20");
    expect(lines[title + 5]).to.equal("");
    // 20 records at 100 a second make two batches of 10: two jobs through each engine.
    expect([row[4], row[10]]).to.deep.equal(["2", "2"]);
    // A transform job's instances are billed from their provisioning (5 min assumed) to the job's end.
    const [batchHours, transformHours] = [Number(row[5]), Number(row[11])];
    expect(transformHours).to.be.closeTo((2 * (300 + 120)) / 3600, 0.01);
    expect(batchHours).to.be.closeTo((2 * (20 + 120)) / 3600, 0.01);
    const cost = (cell: string) => Number(cell.replace("$", ""));
    const price = transformInstanceHourPrices["ml.m5.xlarge"];
    expect(cost(row[12])).to.be.closeTo((transformHours * price * 1000) / 20, 0.01);
    expect(cost(row[6])).to.be.greaterThan(0).and.lessThan(cost(row[12]));
    expect(result.out).to.include("List prices in us-east-1, on demand, from the AWS pricing pages");
    expect(result.out).to.include("1 ml.m5.xlarge instance(s) a job ($0.23 an hour)");
    expect(result.out).to.include("its instances provisioned in 300 s");
    expect(result.out).to.include("job and batches of 10 records (the same records make the same batches).");
    expect(result.err).to.include("engines: 20 records through both engines done");

    // A slower provisioning raises the transform engine's latency and billed time, and nothing of Batch's.
    const latencySeconds = (cell: string) => {
      const match = /^(?:(\d+)m)?([\d.]+)s$/.exec(cell)!;
      return Number(match[1] ?? 0) * 60 + Number(match[2]);
    };
    const slower = await runEngineBench({ transformProvisioningSeconds: 900, recordBatchSize: 10 }, [20]);
    const [slow] = slower.rows;
    expect(slow.transform.p50 - latencySeconds(row[8])).to.be.closeTo(600, 1);
    expect(slow.transform.billedHours - transformHours).to.be.closeTo((2 * 600) / 3600, 0.01);
    expect(slow.batch.p50).to.be.closeTo(latencySeconds(row[2]), 1);
    expect(slow.batch.billedHours).to.be.closeTo(batchHours, 0.001);
  });
});
