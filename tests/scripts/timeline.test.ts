import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { start } from "../../scripts/start";
import { timeTicks } from "../../scripts/svg/timeline";
import { byClass, findAll, parseSvg } from "../support/svg-tree";

/** Runs `npm start` in this process; resolves to its exit code and what it printed. */
async function runStart(argv: string[]) {
  let out = "";
  let err = "";
  const code = await start(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

describe("npm start -- --timeline FILE.svg", function () {
  this.timeout(120_000);
  let folder: string;
  before(() => (folder = mkdtempSync(path.join(os.tmpdir(), "timeline-test-"))));
  after(() => rmSync(folder, { recursive: true, force: true }));

  it("refuses a file that is not .svg, or with --records, before running anything", async () => {
    const notSvg = await runStart(["--timeline", path.join(folder, "t.png")]);
    expect(notSvg.code).to.equal(2);
    expect(notSvg.err).to.match(/^--timeline must be a file name ending \.svg/);
    const records = await runStart(["--records", "5", "--timeline", path.join(folder, "t.svg")]);
    expect(records.code).to.equal(2);
    expect(records.err).to.match(/^--timeline cannot be combined with --records/);
  });

  it("draws the jobs by state over simulated time, a lane per step and the answer of a failed execution", async () => {
    const file = path.join(folder, "failed.svg");
    const ran = await runStart(["--fail-shards", "2", "--timeline", file]);
    expect(ran.code, ran.err).to.equal(0);
    expect(ran.err).to.include(`Wrote the picture to ${file}`);
    const root = parseSvg(readFileSync(file, "utf8"));
    // A band for every state the run's progress lines show, and the jobs the bridge terminated apart.
    const shownStates = new Set([...ran.err.matchAll(/\d+ ([A-Z]+)/g)].map((m) => m[1]));
    const bands = byClass(root, "band").map((b) => b.attributes["data-state"]);
    for (const state of shownStates) {
      if (state !== "FAILED") expect(bands, state).to.include(state);
    }
    expect(bands).to.include.members(["FAILED", "TERMINATED"]);
    const x = byClass(root, "x-axis")[0];
    expect(x.attributes["data-label"]).to.equal("simulated time");
    const ticks = findAll(x, (n) => n.name === "text").map((t) => t.text);
    expect(ticks[0]).to.equal("0s");
    expect(ticks).to.include("1m");
    expect(byClass(root, "step").map((s) => s.attributes["data-step"])).to.deep.equal([
      "SubmitBatchJobs",
      "WaitForBatchJobs",
    ]);
    const lanes = byClass(root, "step").map((s) => findAll(s, (n) => n.name === "text")[0].text);
    expect(lanes[1]).to.equal("WaitForBatchJobs (Callback): Failed");
    expect(byClass(root, "answer")[0].text).to.match(
      /^Answer: failed: 1 of 4 shards failed: shard 2 \(exit code 1: injected failure of shard 2\) Report: s3:\/\/\S+\/_bridge\/report-\w+-callback\.json$/,
    );
    expect(byClass(root, "legend-entry").map((e) => e.attributes["data-state"])).to.deep.equal(bands);
  });

  it("puts the time axis on round durations, at most about eight", () => {
    expect(timeTicks(152)).to.deep.equal([0, 30, 60, 90, 120, 150]);
    expect(timeTicks(7 * 3600).length).to.be.at.most(8);
  });
});
