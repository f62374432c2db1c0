/**
 * `npm test`: the project's checks at once, each in its own process (the type check, Oxlint, Prettier and
 * the mocha suites in parallel workers), so that they share the machine's cores; a line as each starts and
 * ends, the failing checks' output, and a closing count of the tests. `npm run typecheck`, `lint` and
 * `unit` run one check; `npm run format` rewrites the files instead of checking them.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cacheFolder as projectCacheFolder } from "../render/render-cache";
import { compileProject } from "./ts-compile-cache";
import {
  flagGiven,
  optionsHint,
  optionValue,
  parseArgs,
  runCli,
  UsageError,
  usageText,
  type CliCommand,
  type CliOutput,
} from "./cli";

const repoRoot = path.resolve(__dirname, "..");
const cacheFolder = projectCacheFolder(repoRoot);

/** One check: a tool run as a separate process. */
export interface Check {
  name: CheckName;
  title: string;
  /** The tool's script and its arguments, run with this Node.js. */
  command: string[];
  /** With --fix: the command that rewrites what the check would refuse (none: the check is skipped). */
  fix?: string[];
}

export const checkNames = ["typecheck", "lint", "prettier", "unit"] as const;
export type CheckName = (typeof checkNames)[number];

/**
 * Mocha's workers, each running whole test files in its own process: one per core. A third worker on two
 * cores fills the waits of the suites that wait on child processes, but costs more CPU than it saves
 * (its own first render and module loads): 58 s of wall time against 55 s for npm test on cold caches.
 */
export const mochaWorkers = Math.max(2, os.availableParallelism());

/** A package's command-line script, as its package.json names it (`npx <name>` runs the same). */
function bin(packageName: string, name = packageName): string {
  const folder = path.join(repoRoot, "node_modules", packageName);
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, "package.json"), "utf8")) as {
    bin: string | Record<string, string>;
  };
  return path.join(folder, typeof manifest.bin === "string" ? manifest.bin : manifest.bin[name]);
}

/**
 * Suites that take longest (the 10,000-shard steps, whole executions, real worker processes and child
 * processes whose waits other suites fill), longest first: they start first, so that no worker is left
 * running one alone at the end.
 */
const longestSuites = [
  "tests/e2e/local-execution.test.ts",
  "tests/functions/job-event-handler.test.ts",
  // About 10 s of executions served by npm start -- --serve at 100x: mostly waiting.
  "tests/e2e/bridge.test.ts",
  "tests/readme.test.ts",
  "tests/e2e/transform-records.test.ts",
  "tests/e2e/bench.test.ts",
  "tests/e2e/user-pipeline.test.ts",
  "tests/e2e/worker.test.ts",
  "tests/e2e/records.test.ts",
  "tests/infra/user-pipeline.test.ts",
  "tests/functions/submit-throttling.test.ts",
  "tests/functions/submit-cleanup.test.ts",
  "tests/e2e/success-ratio.test.ts",
  "tests/infra/records-stack.test.ts",
  "tests/functions/entrypoints.test.ts",
  "tests/e2e/transform-execution.test.ts",
  "tests/local/batch/server.test.ts",
  "tests/e2e/fixture-stacks.test.ts",
  "tests/infra/alarms.test.ts",
  "tests/infra/stack.test.ts",
  "tests/infra/plan.test.ts",
  "tests/infra/kinds-and-pipelines.test.ts",
  "tests/e2e/start.test.ts",
  "tests/scripts/cli.test.ts",
];

/** Every test file under tests/, the longest suites first. */
export function allTestFiles(): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, folder), { withFileTypes: true })) {
      const file = path.posix.join(folder, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (file.endsWith(".test.ts")) found.push(file);
    }
  };
  walk("tests");
  const rank = (file: string) => (longestSuites.includes(file) ? longestSuites.indexOf(file) : Infinity);
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The checks, the unit tests on `testFiles` (default: every suite). */
export function checks(testFiles: string[]): Check[] {
  const files = testFiles.length > 0 ? testFiles : allTestFiles();
  const parallel = files.length === 1 ? [] : ["--parallel", "--jobs", String(mochaWorkers)];
  return [
    {
      name: "typecheck",
      title: "type check (tsc --noEmit, strict)",
      // TypeScript 7's native compiler checks what 5.9 (ts-node's and Pulumi's) would, for a fifth of the
      // CPU. --incremental keeps what it learnt for the next run; the first run costs the same. One thread:
      // its parallel checkers each check the shared declarations again, a fifth more CPU, and the other
      // checks keep the cores busy anyway.
      command: [
        bin("typescript-7", "tsc"),
        "--noEmit",
        "--singleThreaded",
        "--incremental",
        "--tsBuildInfoFile",
        path.join(cacheFolder, "tsconfig.tsbuildinfo"),
      ],
    },
    {
      name: "lint",
      // The rules of ESLint's and typescript-eslint's recommended sets, as Oxlint has them (.oxlintrc.json,
      // docs/lint.md): a fifth of a second of CPU for the whole repository, so no cache.
      title: "lint (Oxlint)",
      command: [bin("oxlint"), "."],
      fix: [bin("oxlint"), "--fix", "."],
    },
    {
      name: "prettier",
      title: "format (Prettier)",
      command: [bin("prettier"), "--check", "--cache", "--log-level", "warn", "."],
      fix: [bin("prettier"), "--write", "--log-level", "warn", "."],
    },
    {
      name: "unit",
      title: `unit tests (mocha${parallel.length > 0 ? `, ${mochaWorkers} workers` : ""})`,
      command: [bin("mocha"), ...parallel, ...files],
    },
  ];
}

/** The npm scripts and the checks each runs. */
const npmScriptChecks: Record<string, readonly CheckName[]> = {
  test: checkNames,
  typecheck: ["typecheck"],
  lint: ["lint", "prettier"],
  unit: ["unit"],
  format: ["prettier", "lint"],
};

/** `npm test` and the scripts that run part of it: their options and usage. */
export const checkCommand: CliCommand = {
  usage: [
    "npm test [-- options] [test files]",
    "npm run typecheck | npm run lint | npm run unit [-- test files] | npm run format",
  ],
  npmScripts: Object.keys(npmScriptChecks),
  description:
    "Runs the project's checks at once, each in its own process: the type check (tsc), lint (Oxlint), the\n" +
    "format check (Prettier) and the unit tests (mocha, in parallel workers). Prints a line as each check\n" +
    "starts and ends, the output of those that fail, and the count of tests. Exit code 0 when all pass.",
  options: [
    {
      name: "--only",
      value: "CHECKS",
      allowed: `checks separated by commas: ${checkNames.join(", ")}`,
      help: `run only these checks, separated by commas: ${checkNames.join(", ")}`,
    },
    { name: "--fix", help: "rewrite files as Prettier and Oxlint would have them (npm run format)" },
  ],
  operands: "Test files given run alone (the unit check), e.g. npm run unit -- tests/e2e/start.test.ts",
  examples: [
    "npm test",
    "npm run unit -- tests/e2e/start.test.ts",
    "npm test -- --only typecheck,lint",
    "npm run format",
  ],
};

/** Runs the checks `argv` selects; resolves to the exit code. */
export async function check(argv: string[], output: CliOutput, env = process.env): Promise<number> {
  let selected: readonly CheckName[];
  let fix: boolean;
  let testFiles: string[];
  try {
    const parsed = parseArgs(argv, checkCommand);
    if (parsed.help) {
      output.out(usageText(checkCommand));
      return 0;
    }
    fix = flagGiven(parsed, "--fix") || env.npm_lifecycle_event === "format";
    testFiles = parsed.operands;
    selected = selectedChecks(optionValue(parsed, "--only"), env.npm_lifecycle_event, testFiles);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\n${optionsHint(checkCommand)}`);
    return 2;
  }
  const toRun = checks(testFiles)
    .filter((c) => selected.includes(c.name))
    .filter((c) => !fix || c.fix);
  const started = performance.now();
  if (toRun.some((c) => c.name === "unit")) compileForTests(output, started);
  output.err(`Running ${toRun.map((c) => c.title).join(", ")}${fix ? ", fixing" : " at once"}:`);
  const results = await runChecks(toRun, fix, output, started);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const failed = results.filter((r) => r.code !== 0);
  output.err(
    `${failed.length === 0 ? "All" : `${results.length - failed.length} of`} ${results.length} checks ` +
      `passed in ${seconds} s${failed.length > 0 ? `; failed: ${failed.map((r) => r.name).join(", ")}` : ""}.`,
  );
  const unit = results.find((r) => r.name === "unit");
  if (unit) {
    // The closing line CI reads: mocha's own counts.
    const count = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(unit.text)?.[1] ?? 0);
    output.out(`tests: ${count("passing")} passed, ${count("failing")} failed`);
  }
  return failed.length === 0 ? 0 : 1;
}

/**
 * Compiles the TypeScript files the tests run that are not compiled yet, all at once (see
 * ts-compile-cache.js), before mocha's workers start: each would otherwise load TypeScript and compile the
 * same files as the others (about 16 s of CPU on a fresh clone, against 1.4 s).
 */
function compileForTests(output: CliOutput, started: number): void {
  const compiled = compileProject(bin("typescript-7", "tsc"));
  if (compiled > 0) {
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    output.err(
      `Compiled ${compiled} TypeScript file(s) for the tests (tsc 7, no type check) in ${seconds} s.`,
    );
  }
}

function selectedChecks(
  only: string | undefined,
  npmScript: string | undefined,
  testFiles: string[],
): readonly CheckName[] {
  if (only !== undefined) {
    const names = only.split(",").map((name) => name.trim());
    const unknown = names.find((name) => !(checkNames as readonly string[]).includes(name));
    if (unknown !== undefined) {
      throw new UsageError(`--only must list ${checkCommand.options[0].allowed}, got "${unknown}".`);
    }
    return names as CheckName[];
  }
  if (testFiles.length > 0) return ["unit"];
  return npmScriptChecks[npmScript ?? "test"] ?? checkNames;
}

/**
 * The niceness of the static checks while the unit tests run: mocha's workers, the longest check, have the
 * cores first, and the static checks take what the tests leave while they wait on servers and timers.
 */
export const staticCheckNiceness = 10;

/** Runs the checks, at once (one after the other when they rewrite files); resolves to their results. */
export async function runChecks(
  toRun: readonly Check[],
  fix: boolean,
  output: CliOutput,
  started = performance.now(),
): Promise<CheckResult[]> {
  const withUnitTests = toRun.some((c) => c.name === "unit");
  const run = (c: Check) =>
    runCheck(c, fix ? c.fix! : c.command, {
      live: c.name === "unit",
      niceness: withUnitTests && c.name !== "unit" ? staticCheckNiceness : 0,
      output,
      started,
    });
  if (!fix) return Promise.all(toRun.map(run));
  // Both rewrite files: one after the other.
  const results: CheckResult[] = [];
  for (const c of toRun) results.push(await run(c));
  return results;
}

export interface CheckResult {
  name: CheckName;
  code: number;
  text: string;
}

/**
 * Runs one check at `niceness`; streams its output when `live` (mocha prints each file's results as it
 * ends), else holds it and prints it only if the check fails.
 */
function runCheck(
  c: Check,
  command: string[],
  {
    live,
    niceness,
    output,
    started,
  }: { live: boolean; niceness: number; output: CliOutput; started: number },
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, command, {
      cwd: repoRoot,
      env: {
        ...process.env,
        FORCE_COLOR: process.stdout.isTTY ? "1" : "0",
        // The SDK warns once per process that its 2027 releases will need Node 22; this project runs on 20.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (niceness !== 0 && child.pid !== undefined) os.setPriority(child.pid, niceness);
    let text = "";
    const take = (chunk: Buffer) => {
      text += chunk.toString();
      if (live) process.stdout.write(chunk);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (code, signal) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      const result = code === 0 ? "passed" : `FAILED (${signal ?? `exit code ${code}`})`;
      if (code !== 0 && !live) output.err(text.trimEnd());
      output.err(`${c.title}: ${result} after ${seconds} s`);
      resolve({ name: c.name, code: code ?? 1, text });
    });
  });
}

if (require.main === module) {
  runCli(checkCommand, check);
}
