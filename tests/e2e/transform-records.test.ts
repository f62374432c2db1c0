import { expect } from "chai";
import { rm } from "node:fs/promises";
import type { RecordsSummary } from "../../local/runner/records-run";
import { start } from "../../scripts/start";

async function runText(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await start(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

async function run(argv: string[]): Promise<{ code: number; summary: RecordsSummary; err: string }> {
  const { code, out, err } = await runText(argv);
  return { code, summary: JSON.parse(out) as RecordsSummary, err };
}

/** Ten records a batch: 20 records make the two batches that 200 make in the dev config's batches of 100. */
const twoBatches = ["--records", "20", "--set", "recordBatchSize=10", "--engine", "transform"];

/** The README's command for a failing batch, run here as typed (the README's test leaves it to this one). */
const readmeFailingBatchCommand = "npm start -- --records 200 --engine transform --fail-records 3";

describe("records on the transform engine locally: npm start -- --engine transform --records N", function () {
  // Each run takes seconds of wall time; the stack renders once per configuration.
  this.timeout(300_000);

  it("processes records through one transform job a batch, each result the model's prediction for its record", async () => {
    const { code, summary, err } = await run([...twoBatches, "--json"]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.engine).to.equal("transform");
    expect(summary.records).to.deep.equal({ submitted: 20, processed: 20, failed: 0, lost: 0 });
    expect(summary.transformJobs).to.deep.equal({ Completed: 2 });
    // Provisioning (5 min) and processing (2 min) come after the batch's start.
    expect(summary.recordLatencySeconds!.p50).to.be.within(7 * 60, 8 * 60);
  });

  it("fails every record of a batch whose transform job failed, each with the job's reason", async () => {
    const { code, out, err } = await runText(readmeFailingBatchCommand.split(" ").slice(3));
    expect(code, `${out}\n${err}`).to.equal(0);
    expect(out).to.include(
      "Records            200 submitted: 100 processed, 100 failed, 0 lost (as expected)\n",
    );
    expect(out).to.match(/; one transform job each \(1 Failed, 1 Completed\),/);
    // The first 20 failed records are listed, each with its batch's reason.
    const failed = [...out.matchAll(/^Failed record +(\d+): (.*)$/gm)];
    expect(failed).to.have.length(20);
    expect(new Set(failed.map(([, , error]) => error))).to.deep.equal(
      new Set(["ClientError: the model answered 500 for a record: injected failure of record 3"]),
    );
    expect(failed.map(([, index]) => Number(index))).to.include(3);
  });

  it("runs --worker as every batch's model: its answers become the records' results, its failure every record's error", async () => {
    const answering =
      `node -e 'require("readline").createInterface({ input: process.stdin })` +
      `.on("line", (l) => console.log(JSON.stringify({ n: JSON.parse(l).text.length })))'`;
    const good = await run([...twoBatches, "--worker", answering, "--json"]);
    expect(good.code, `${good.summary.unexpected.join("; ")}\n${good.err}`).to.equal(0);
    expect(good.summary.records).to.deep.equal({ submitted: 20, processed: 20, failed: 0, lost: 0 });
    expect(good.summary.modelWorker?.command).to.equal(answering);

    const failing = await run([
      ...twoBatches,
      "--worker",
      "cat > /dev/null; echo 'model crashed' >&2; exit 3",
      "--json",
    ]);
    expect(failing.summary.records).to.deep.equal({ submitted: 20, processed: 0, failed: 20, lost: 0 });
    expect(failing.summary.transformJobs).to.deep.equal({ Failed: 2 });
    expect(new Set(failing.summary.failedRecords.map((r) => r.error))).to.deep.equal(
      new Set(["ClientError: the model command exited with code 3: model crashed"]),
    );
    for (const { modelWorker } of [good.summary, failing.summary]) {
      await rm(modelWorker!.logsDirectory, { recursive: true, force: true });
    }
  });

  it("stops the transform jobs of stopped executions and fails every record with the reason, none left Queued or Processing", async () => {
    const { code, summary, err } = await run([...twoBatches, "--stop-after", "3m", "--json"]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.records).to.deep.equal({ submitted: 20, processed: 0, failed: 20, lost: 0 });
    expect(summary.executions).to.deep.include({ started: 2, stopped: 2 });
    expect(summary.transformJobs).to.deep.equal({ Stopped: 2 });
    for (const record of summary.failedRecords) {
      expect(record.error).to.match(
        /^Transform job pipelines-\S+ was stopped: the pipeline execution was stopped\.$/,
      );
    }
  });
});
