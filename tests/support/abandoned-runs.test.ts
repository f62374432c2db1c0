import { expect } from "chai";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const repoRoot = path.resolve(__dirname, "../..");

describe("a test that times out during a local run", function () {
  this.timeout(180_000);

  it("gives the run up, so that the next test of the worker runs its own execution", () => {
    const mocha = path.join(repoRoot, "node_modules", "mocha", "bin", "mocha.js");
    const result = spawnSync(
      process.execPath,
      [mocha, "--reporter", "dot", "tests/support/fixtures/timed-out-run.ts"],
      { cwd: repoRoot, encoding: "utf8" },
    );
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output, output).to.match(/1 passing/);
    expect(output, output).to.match(/1 failing/);
    expect(output, output).to.match(/Timeout of 500ms exceeded/);
    expect(output, output).to.include("failed with a local run in progress: the run was given up.");
    expect(output, output).to.not.include("already running in this process");
  });
});
