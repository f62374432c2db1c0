import { expect } from "chai";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runChecks, staticCheckNiceness, type Check } from "../../scripts/check";

/** A check whose process reports the priority it runs at, a moment after it starts, to `file`. */
function reportingCheck(name: Check["name"], file: string): Check {
  const report = `setTimeout(() => require("fs").writeFileSync(${JSON.stringify(file)}, String(require("os").getPriority())), 300)`;
  return { name, title: name, command: ["-e", report] };
}

describe("npm test's checks (scripts/check.ts)", () => {
  let folder: string;
  before(() => (folder = fs.mkdtempSync(path.join(os.tmpdir(), "check-priority-"))));
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  const quiet = { out: () => {}, err: () => {} };
  const priorityOf = (name: string) => Number(fs.readFileSync(path.join(folder, name), "utf8"));

  it("runs the static checks at a lower priority than the unit tests, which have the cores first", async () => {
    const results = await runChecks(
      [
        reportingCheck("eslint", path.join(folder, "eslint")),
        reportingCheck("unit", path.join(folder, "unit")),
      ],
      false,
      quiet,
    );
    expect(results.map((r) => r.code)).to.deep.equal([0, 0]);
    expect(priorityOf("eslint")).to.equal(staticCheckNiceness);
    expect(priorityOf("unit")).to.equal(os.getPriority());
  });

  it("runs the static checks at the usual priority without the unit tests (npm run lint)", async () => {
    await runChecks([reportingCheck("prettier", path.join(folder, "prettier"))], false, quiet);
    expect(priorityOf("prettier")).to.equal(os.getPriority());
  });
});
