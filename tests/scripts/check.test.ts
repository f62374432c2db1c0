import { expect } from "chai";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checks, runChecks, staticCheckNiceness, type Check } from "../../scripts/check";

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
      [reportingCheck("lint", path.join(folder, "lint")), reportingCheck("unit", path.join(folder, "unit"))],
      false,
      quiet,
    );
    expect(results.map((r) => r.code)).to.deep.equal([0, 0]);
    expect(priorityOf("lint")).to.equal(staticCheckNiceness);
    expect(priorityOf("unit")).to.equal(os.getPriority());
  });

  it("runs the static checks at the usual priority without the unit tests (npm run lint)", async () => {
    await runChecks([reportingCheck("prettier", path.join(folder, "prettier"))], false, quiet);
    expect(priorityOf("prettier")).to.equal(os.getPriority());
  });
});

describe("npm test's lint check (Oxlint, .oxlintrc.json)", () => {
  let folder: string;
  before(() => (folder = fs.mkdtempSync(path.join(os.tmpdir(), "check-lint-"))));
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  /** The lint check's result on one file holding `source`, with the repository's rules. */
  async function lint(name: string, source: string) {
    const file = path.join(folder, name);
    fs.writeFileSync(file, source);
    const lintCheck = checks([]).find((c) => c.name === "lint")!;
    const onFile = { ...lintCheck, command: lintCheck.command.map((arg) => (arg === "." ? file : arg)) };
    const [result] = await runChecks([onFile], false, { out: () => {}, err: () => {} });
    return result;
  }

  it("passes a file that breaks none of the rules, an unused argument named _-first included", async () => {
    const result = await lint("clean.ts", "export const double = (n: number, _unit: string) => n * 2;\n");
    expect(result.code, result.text).to.equal(0);
  });

  it("fails on a variable declared and never read", async () => {
    const result = await lint("unused.ts", "export const shown = 1;\nconst forgotten = 2;\n");
    expect(result.code).to.equal(1);
    expect(result.text)
      .to.match(/no-unused-vars/)
      .and.to.include("forgotten");
  });

  it("fails on // @ts-ignore, which hides a type error from the type check", async () => {
    const result = await lint("ts-ignore.ts", '// @ts-ignore\nexport const count: number = "three";\n');
    expect(result.code).to.equal(1);
    expect(result.text).to.match(/ban-ts-comment/);
  });

  it("fails on an explicit any, which turns the type check off for what it touches", async () => {
    const result = await lint("any.ts", "export const parsed: any = JSON.parse('{}');\n");
    expect(result.code).to.equal(1);
    expect(result.text).to.match(/no-explicit-any/);
  });
});
