import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { configKeys, documentedTypeOf, type KeySpec } from "../infra/config";
import { formatDuration } from "../local/runner/scenario";
import {
  bench,
  benchDesigns,
  benchJobDurationsSeconds,
  benchRows,
  benchShards,
  benchTable,
  benchThrottleCases,
  throttleTable,
} from "../scripts/bench";
import { benchRecordCounts, recordsBenchTable, stackModelOf } from "../scripts/bench-records";
import { engineBenchRecordCounts, engineBenchTable, engineSizesOf } from "../scripts/bench-engines";
import type { CliOutput } from "../scripts/cli";
import { api } from "../scripts/api";
import { plan } from "../scripts/plan";
import { readmeOutputBlocks, readmePath, runReadmeCommand } from "../scripts/readme";
import { start } from "../scripts/start";

interface ReadmeRow {
  type: string;
  defaultText: string;
  meaning: string;
}

/** The README's configuration table, by key. */
function readmeConfigTable(): Map<string, ReadmeRow> {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const rows = new Map<string, ReadmeRow>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const key = /^`([A-Za-z]+)`$/.exec(cells[1] ?? "");
    // Only the configuration table has four columns: key, type, default, meaning.
    if (key && cells.length === 6)
      rows.set(key[1], { type: cells[2], defaultText: cells[3], meaning: cells[4] });
  }
  return rows;
}

function defaultText(value: unknown): string {
  if (typeof value === "object") return `\`${JSON.stringify(value)}\``;
  return value === "" ? '`""`' : `\`${String(value)}\``;
}

describe("README", () => {
  it("lists every config key with the type Pulumi checks (map: none), the default the program applies and its meaning", () => {
    const table = readmeConfigTable();
    for (const [key, spec] of Object.entries(configKeys) as [string, KeySpec][]) {
      expect(table.get(key), `README row for ${key}`).to.deep.equal({
        type: documentedTypeOf(spec.type),
        defaultText: defaultText(spec.default),
        meaning: spec.description,
      });
    }
    expect([...table.keys()]).to.have.members(Object.keys(configKeys));
  });
});

/** The `npm` command lines of the README's `sh` code blocks, continuation lines joined, comments kept. */
function readmeCommands(readme: string): { line: string; comment: string }[] {
  const commands: { line: string; comment: string }[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].replace(/\\\n\s*/g, "").split("\n");
    for (const text of lines) {
      const [, line, comment = ""] = /^(npm [^#]*?)\s*(?:#\s*(.*))?$/.exec(text) ?? [];
      if (line) commands.push({ line, comment });
    }
  }
  return commands;
}

/** Splits a command line as a POSIX shell does for plain words and single or double quotes. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/**
 * README commands another suite runs as typed, by the suite and the test that runs them: they are not run
 * again here, and the test fails if that suite no longer holds the command in that test.
 */
const runBySuite: Record<string, { suite: string; test: string }> = {
  "npm start -- --records 200 --engine transform --fail-records 3": {
    suite: "tests/e2e/transform-records.test.ts",
    test: "fails every record of a batch whose transform job failed, each with the job's reason",
  },
};

/** Whether the suite's test (from its `it(` to the next) holds the command line as one string. */
function suiteRunsCommand(line: string, { suite, test }: { suite: string; test: string }): boolean {
  const text = fs.readFileSync(path.join(__dirname, "..", suite), "utf8");
  const start = text.indexOf(`it(${JSON.stringify(test)}`);
  if (start < 0) return false;
  const end = text.indexOf("\n  it(", start + 1);
  const body = text.slice(start, end < 0 ? undefined : end);
  const constant = /^const (\w+) = (".*");$/gm;
  const literals = [...text.matchAll(constant)].filter(([, , value]) => value === JSON.stringify(line));
  return literals.some(([, name]) => new RegExp(`\\b${name}\\b`).test(body));
}

async function captured(run: (output: CliOutput) => Promise<number>) {
  let out = "";
  let err = "";
  const code = await run({ out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

describe("README commands and outputs", function () {
  this.timeout(600_000);
  const readme = fs.readFileSync(readmePath, "utf8");

  it("every npm command it shows that needs no AWS account runs on a clone and exits 0", async () => {
    const commands = readmeCommands(readme);
    expect(commands.map((c) => c.line)).to.include.members(["npm ci", "npm test", "npm start"]);
    const mains: Record<string, (argv: string[], output: CliOutput) => Promise<number>> = {
      "npm start": start,
      "npm run plan": plan,
      // It serves until interrupted: here it starts, answers, and is interrupted at once.
      "npm run api": (argv, output) => api(argv, output, { stopped: Promise.resolve() }),
      // The full bench takes minutes: the same code path with the same arguments, on one small row.
      "npm run bench": (argv, output) =>
        bench(argv, output, {
          designs: benchDesigns().slice(0, 1),
          shards: { array: [1] },
          jobDurationsSeconds: [120],
        }),
    };
    // A command whose output the README shows runs in the test of that output.
    const shownOutputs = new Set(readmeOutputBlocks(readme).map((block) => block.command));
    for (const [line, runner] of Object.entries(runBySuite)) {
      expect(
        commands.map((c) => c.line),
        "a command the README still shows",
      ).to.include(line);
      expect(suiteRunsCommand(line, runner), `${runner.suite} runs "${line}" in "${runner.test}"`).to.equal(
        true,
      );
    }
    for (const { line, comment } of commands) {
      // npm ci installed what this runs with, npm test is this run, and a "yours:" line stands for the
      // reader's own worker and files.
      if (
        line === "npm ci" ||
        line === "npm test" ||
        comment.startsWith("yours:") ||
        shownOutputs.has(line) ||
        line in runBySuite
      ) {
        continue;
      }
      const [npm, first, second, ...rest] = shellWords(line);
      const script = first === "run" ? `${npm} run ${second}` : `${npm} ${first}`;
      const args = first === "run" ? rest : [second, ...rest].filter((a) => a !== undefined);
      expect(args[0] ?? "--", `${line}: options after --`).to.equal("--");
      expect(mains, line).to.have.property(script);
      const result = await captured((output) => mains[script](args.slice(1), output));
      expect(result.code, `${line}\n${result.err}`).to.equal(0);
    }
  });

  for (const command of ["npm start", "npm start -- --stack example-pipeline"]) {
    it(`shows ${command}'s output as a run prints it today (only the wall time may differ)`, async () => {
      const [block] = readmeOutputBlocks(readme).filter((b) => b.command === command);
      expect(block, `an output block for ${command}`).to.not.equal(undefined);
      const run = await runReadmeCommand(command);
      const wallless = (text: string) => text.replace(/^(Wall time +)\S+$/m, "$1(wall)");
      expect(wallless(block.text), "run npm run readme").to.equal(wallless(run.text));
    });
  }

  it("shows npm start --records' output as a run prints it today (only the wall time may differ)", async () => {
    const command = "npm start -- --records 200 --fail-records 3,7";
    const [block] = readmeOutputBlocks(readme).filter((b) => b.command === command);
    expect(block, `an output block for ${command}`).to.not.equal(undefined);
    const run = await runReadmeCommand(command);
    expect(run.code).to.equal(0);
    const wallless = (text: string) => text.replace(/^(Wall time +)\S+$/m, "$1(wall)");
    expect(wallless(block.text), "run npm run readme").to.equal(wallless(run.text));
  });

  it("shows the bench's records table with today's titles and a row per size", () => {
    const [block] = readmeOutputBlocks(readme).filter((b) => b.command === "npm run bench");
    const shown = block.text.split("\n");
    const empty = recordsBenchTable([], stackModelOf("dev")).split("\n");
    const start = shown.indexOf(empty[0]);
    expect(start, "the records table's first line").to.be.greaterThan(0);
    const words = (line: string) => line.trim().split(/\s+/);
    expect(words(shown[start + 2])).to.deep.equal(words(empty[2]));
    expect(words(shown[start + 3])).to.deep.equal(words(empty[3]));
    expect(
      shown.slice(start + 4, start + 4 + benchRecordCounts.length).map((row) => words(row)[0]),
    ).to.deep.equal(benchRecordCounts.map(String));
    const assumptions = empty.slice(empty.indexOf("Assumptions:"));
    expect(
      shown.slice(shown.indexOf("Assumptions:"), shown.indexOf("Assumptions:") + assumptions.length),
    ).to.deep.equal(assumptions);
  });

  it("shows the bench's engine table with today's titles, columns, a row per size and its assumptions", () => {
    const [block] = readmeOutputBlocks(readme).filter((b) => b.command === "npm run bench");
    const shown = block.text.split("\n");
    const empty = engineBenchTable([], engineSizesOf("dev")).split("\n");
    const start = shown.indexOf(empty[0]);
    expect(start, "the engine table's first line").to.be.greaterThan(0);
    const words = (line: string) => line.trim().split(/\s+/);
    expect(words(shown[start + 2])).to.deep.equal(words(empty[2]));
    expect(words(shown[start + 3])).to.deep.equal(words(empty[3]));
    const rows = shown.slice(start + 4, shown.indexOf("", start + 4));
    expect(rows.map((row) => words(row)[0])).to.deep.equal(engineBenchRecordCounts.map(String));
    for (const row of rows) expect(words(row), row).to.have.length(words(empty[3]).length);
    const legend = shown.indexOf(empty[5], start);
    expect(shown.slice(legend, legend + empty.length - 5)).to.deep.equal(empty.slice(5));
  });

  it("shows the bench's table with today's titles, columns, rows and legend", () => {
    const [block] = readmeOutputBlocks(readme).filter((b) => b.command === "npm run bench");
    expect(block, "an output block for npm run bench").to.not.equal(undefined);
    const empty = benchTable([], benchDesigns(), 0).split("\n");
    const shown = block.text.split("\n");
    const words = (line: string) => line.trim().split(/\s+/);
    const header = shown.findIndex((line) => line.startsWith("submit"));
    expect(shown[0], "the bench's first line").to.equal(empty[0]);
    expect(words(shown[header - 1]), "design titles").to.deep.equal(words(empty[2]));
    expect(words(shown[header]), "column headers").to.deep.equal(words(empty[3]));
    const rows = shown.slice(header + 1, shown.indexOf("", header));
    expect(rows.map((row) => words(row).slice(0, 3).join(" "))).to.deep.equal(
      benchRows({ shards: benchShards, jobDurationsSeconds: benchJobDurationsSeconds }).map(
        (r) => `${r.mode} ${r.shards} ${formatDuration(r.jobDurationSeconds)}`,
      ),
    );
    for (const row of rows) expect(words(row), row).to.have.length(words(shown[header]).length);
    const legend = empty.slice(5, empty.indexOf("", 5));
    expect(shown.slice(header + 2 + rows.length, header + 2 + rows.length + legend.length)).to.deep.equal(
      legend,
    );
    // Then the submit-under-throttling table: its title, columns, a row per case, and its legend.
    const throttleEmpty = throttleTable([]).split("\n");
    const throttleTitle = shown.indexOf(throttleEmpty[0]);
    expect(throttleTitle, "the submit-under-throttling table").to.be.greaterThan(header);
    expect(shown[throttleTitle + 1]).to.equal(throttleEmpty[1]);
    const throttleHeader = throttleTitle + 3;
    expect(words(shown[throttleHeader]), "its column headers").to.deep.equal(words(throttleEmpty[3]));
    const throttleRows = shown.slice(throttleHeader + 1, shown.indexOf("", throttleHeader));
    expect(throttleRows.map((row) => words(row).slice(0, 3).join(" "))).to.deep.equal(
      benchThrottleCases.map((c) => `${c.shards} ${Math.round(c.throttleRate * 100)}% ${c.timeoutSeconds}s`),
    );
    for (const row of throttleRows) expect(words(row), row).to.have.length(words(throttleEmpty[3]).length);
    const throttleLegend = throttleEmpty.slice(5);
    const legendStart = throttleHeader + 2 + throttleRows.length;
    expect(shown.slice(legendStart, legendStart + throttleLegend.length)).to.deep.equal(throttleLegend);
  });
});
