import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bench, benchDesigns } from "../../scripts/bench";
import { decades } from "../../scripts/svg/log-chart";
import { el, svgDocument, text } from "../../scripts/svg/svg";
import { byClass, findAll, parseSvg } from "../support/svg-tree";

describe("the SVG writer", () => {
  it("writes well-formed XML whatever the text holds", () => {
    const svg = svgDocument(100, 50, 'a <b> & "c"', [
      text(1, 2, "shards < 10 & jobs > 3"),
      el("g", { class: "x" }),
    ]);
    const root = parseSvg(svg);
    expect(findAll(root, (n) => n.name === "title")[0].text).to.equal('a <b> & "c"');
    expect(findAll(root, (n) => n.name === "text")[0].text).to.equal("shards < 10 & jobs > 3");
  });

  it("spans every positive value with whole decades, at least one", () => {
    expect(decades([1, 10_000])).to.deep.equal({ lo: 0, hi: 4 });
    expect(decades([0, 3, 1004])).to.deep.equal({ lo: 0, hi: 4 });
    expect(decades([0])).to.deep.equal({ lo: 0, hi: 1 });
    expect(decades([2.5])).to.deep.equal({ lo: 0, hi: 1 });
  });
});

describe("npm run bench -- --svg FILE", function () {
  this.timeout(300_000);
  let folder: string;
  before(() => (folder = mkdtempSync(path.join(os.tmpdir(), "bench-svg-test-"))));
  after(() => rmSync(folder, { recursive: true, force: true }));

  const run = async (argv: string[], plan?: Parameters<typeof bench>[2]) => {
    let err = "";
    const code = await bench(argv, { out: () => undefined, err: (t) => (err += `${t}\n`) }, plan);
    return { code, err };
  };

  it("refuses a file that is not .svg, or in no folder, before running anything", async () => {
    const notSvg = await run(["--svg", path.join(folder, "bench.png")]);
    expect(notSvg.code).to.equal(2);
    expect(notSvg.err).to.match(/^--svg must be a file name ending \.svg, got ".*bench\.png"\./);
    const noFolder = await run(["--svg", path.join(folder, "missing", "bench.svg")]);
    expect(noFolder.code).to.equal(2);
    expect(noFolder.err).to.include("there is no folder");
  });

  it("draws each measure against shards on log scales, with a series per design and submit mode", async () => {
    const file = path.join(folder, "bench.svg");
    const designs = benchDesigns();
    const ran = await run(["--svg", file, "--throttle-max-shards", "0"], {
      designs,
      shards: { array: [1, 10], jobs: [1, 10] },
      jobDurationsSeconds: [120],
    });
    expect(ran.code, ran.err).to.equal(0);
    const root = parseSvg(readFileSync(file, "utf8"));
    const panels = byClass(root, "panel");
    expect(panels.map((p) => p.attributes["data-metric"])).to.deep.equal([
      "resume-120",
      "lambda-120",
      "batch-120",
      "left-120",
    ]);
    const titles = panels.map((p) => p.children.find((c) => c.name === "text")!.text);
    expect(titles).to.deep.equal([
      "Resume latency, 2m jobs",
      "Lambda invocations, 2m jobs",
      "Batch API calls, 2m jobs",
      "Jobs left running, 2m jobs",
    ]);
    for (const panel of panels) {
      const axes = byClass(panel, "axis");
      expect(axes.map((a) => [a.attributes.class, a.attributes["data-scale"]])).to.deep.equal([
        ["axis x-axis", "log"],
        ["axis y-axis", "log"],
      ]);
      const xTicks = findAll(axes[0], (n) => n.name === "text").map((t) => t.text);
      expect(xTicks).to.deep.equal(["1", "10"]);
      const series = byClass(panel, "series").map((s) => s.attributes["data-series"]);
      // Every design has a series; the stack's designs in both submit modes, the reference in its one.
      for (const design of designs) {
        expect(
          series.some((name) => name.startsWith(design.label)),
          `${design.label} in ${panel.attributes["data-metric"]}`,
        ).to.equal(true);
      }
      expect(series).to.have.length(2 * designs.length - 1);
    }
    const resumeTicks = findAll(byClass(panels[0], "y-axis")[0], (n) => n.name === "text").map((t) => t.text);
    expect(resumeTicks.every((t) => t.endsWith("s"))).to.equal(true);
    // No job was left running: the zero sits on its own line under the decades.
    const leftTicks = findAll(byClass(panels[3], "y-axis")[0], (n) => n.name === "text").map((t) => t.text);
    expect(leftTicks[0]).to.equal("0");
    // A marker per run of each series: two shard counts.
    for (const series of byClass(panels[2], "series")) {
      expect(findAll(series, (n) => n.name === "circle")).to.have.length(2);
    }
    const legend = byClass(root, "legend-entry").map((e) => e.attributes["data-series"]);
    expect(legend).to.deep.equal(byClass(panels[0], "series").map((s) => s.attributes["data-series"]));
  });
});
