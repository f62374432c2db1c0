/**
 * `npm run bench [-- --json]`: the same execution in both submit modes (one array job, one job per shard)
 * at 1 to 10,000 shards, with 2-minute and 2-hour jobs, for each design, on local servers in simulated
 * time; a table of what each run cost and how fast its step resumed. The designs are a list: a new one is
 * a new entry (and a new column group). Then a second table: the submit function submitting one job per
 * shard while Batch throttles a share of its calls, next to the ideal time. Then the records table, and the
 * engine table: the same records through AWS Batch and SageMaker Batch Transform, latency and cost.
 */
import type { JobMode } from "../functions/step-contract";
import type { Summary } from "../local/runner/run";
import { writeFileSync } from "node:fs";
import { recordsBenchTable, runRecordsBench, type RecordsBenchRow } from "./bench-records";
import {
  engineBenchTable,
  runEngineBench,
  type EngineBenchOptions,
  type EngineBenchRow,
} from "./bench-engines";
import { benchChartSvg } from "./svg/bench-chart";
import { svgFileOf, svgFileOption } from "./svg/svg-file";
import type { ThrottledSubmitCase, ThrottledSubmitResult } from "../local/runner/throttled-submit";
import { counted, formatDuration, formatLatency, type Scenario } from "../local/runner/scenario";
import {
  flagGiven,
  optionsHint,
  parseArgs,
  readOptions,
  runCli,
  UsageError,
  type CliCommand,
  type CliOutput,
  type ParsedArgs,
} from "./cli";

export const submitModes: readonly JobMode[] = ["array", "jobs"];

/** One design the bench compares. */
export interface BenchDesign {
  name: string;
  /** The column group's title. */
  label: string;
  /** What the design's runs set (the shards, the job duration and the submit mode are the bench's). */
  scenario: Scenario;
  /** The one submit mode the design has (unset: it runs in both, as the stack's submitMode says). */
  mode?: JobMode;
}

/**
 * Shard counts by submit mode. One job per shard stops at 1,000: at 10,000 every job's end is an event and
 * a job-event invocation, and one such run takes as long as the rest of the bench (`npm start -- --mode
 * jobs --shards 10000 --set submitTimeoutSeconds=600` runs it).
 */
export const benchShards: Record<JobMode, number[]> = {
  array: [1, 10, 100, 1_000, 10_000],
  jobs: [1, 10, 100, 1_000],
};
export const benchJobDurationsSeconds = [120, 7200];

/**
 * The submit-under-throttling rows: one job per shard, a share of Batch calls refused. 10,000 separate jobs
 * need the longest submit timeout the stack allows (600 s): the function refuses them up front at 300 s.
 */
export const benchThrottleCases: ThrottledSubmitCase[] = [
  { shards: 200, throttleRate: 0.9, timeoutSeconds: 300 },
  { shards: 1_000, throttleRate: 0.5, timeoutSeconds: 300 },
  { shards: 10_000, throttleRate: 0.1, timeoutSeconds: 600 },
];

/**
 * Our stack answering from Batch's events (with polling as its safety net), our stack polling only, and
 * the reference design's policy.
 */
export function benchDesigns(): BenchDesign[] {
  return [
    {
      name: "events",
      label: "this stack, event-driven",
      scenario: { design: "bridge", config: { completionEvents: true } } as Scenario,
    },
    {
      name: "polling",
      label: "this stack, polling only",
      scenario: { design: "bridge", config: { completionEvents: false } } as Scenario,
    },
    { name: "reference", label: "reference design", scenario: { design: "reference" }, mode: "jobs" },
  ];
}

/** One run of the bench. */
export interface BenchRun {
  design: string;
  mode: JobMode;
  shards: number;
  jobDurationSeconds: number;
  summary: Summary;
}

/** `npm run bench`: its options and usage. */
export const benchCommand: CliCommand = {
  usage: ["npm run bench [-- options]"],
  npmScripts: ["bench"],
  description:
    "Runs one local execution per design, submit mode (array, jobs), shard count (1 to 10,000) and job\n" +
    "duration (2 minutes, 2 hours), in simulated time, and prints a table of how each ended, how fast its\n" +
    "step resumed and what it cost; then the submit-under-throttling table, the records table (1,000\n" +
    "records through the records API locally, 100,000 modelled, and the template's design), and the engine\n" +
    "table: 200 and 1,000 records through AWS Batch and through SageMaker Batch Transform, locally, with\n" +
    "their latency (p50, p99) and a cost estimate per 1,000 records at list prices, assumptions printed.",
  options: [
    { name: "--json", help: "print every run's summary as one JSON object on stdout" },
    {
      name: "--throttle-max-shards",
      value: "N",
      allowed: "a whole number from 0 to 10000",
      help:
        "run only the submit-under-throttling rows of at most N shards (0 skips that table;\n" +
        "default: every row, the 10,000-shard one included)",
    },
    svgFileOption(
      "--svg",
      "also draw the runs as an SVG picture into FILE (log scales, a series per design)",
    ),
  ],
  examples: [
    "npm run bench",
    "npm run bench -- --svg bench.svg",
    "npm run bench -- --json",
    "npm run bench -- --throttle-max-shards 1000",
    "npm run bench -- --throttle-max-shards 0",
  ],
};

/** What the bench runs: every design in each submit mode it has, at that mode's shard counts and every duration. */
export interface BenchPlan {
  designs: BenchDesign[];
  /** Shard counts by submit mode; a mode left out is not run. */
  shards: Partial<Record<JobMode, number[]>>;
  jobDurationsSeconds: number[];
  /** Also the records table (a local run of 1,000 records, the larger sizes modelled). */
  records?: boolean;
  /** Also the engine table (both engines on the same records), with these options. */
  engines?: EngineBenchOptions;
  /** The engine table's record counts (default: 200 and 1,000). */
  engineRecordCounts?: number[];
  /** The submit-under-throttling rows (unset: none). */
  throttleCases?: ThrottledSubmitCase[];
}

/** Runs the plan (by default the full bench); resolves to the exit code. */
export async function bench(
  argv: string[],
  output: CliOutput,
  plan: BenchPlan = {
    designs: benchDesigns(),
    shards: benchShards,
    jobDurationsSeconds: benchJobDurationsSeconds,
    records: true,
    engines: {},
    throttleCases: benchThrottleCases,
  },
): Promise<number> {
  const { designs } = plan;
  const parsed = readOptions(argv, benchCommand, (args) => parseArgs(args, benchCommand), output);
  if (typeof parsed === "number") return parsed;
  const json = flagGiven(parsed, "--json");
  let throttleMaxShards: number;
  try {
    throttleMaxShards = throttleMaxShardsOption(parsed);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\n${optionsHint(benchCommand)}`);
    return 2;
  }
  let svgFile: string | undefined;
  try {
    svgFile = svgFileOf(parsed, "--svg");
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\n${optionsHint(benchCommand)}`);
    return 2;
  }
  const throttleCases = (plan.throttleCases ?? []).filter((c) => c.shards <= throttleMaxShards);
  // Loaded only for a run: --help and a bad option answer at once.
  const { runExecution } = await import("../local/runner/run");
  const { measureThrottledSubmit } = await import("../local/runner/throttled-submit");
  const runs: BenchRun[] = [];
  const throttled: ThrottledSubmitResult[] = [];
  const wallStart = performance.now();
  const log = console.log;
  // Whatever the program or a library prints goes to stderr: stdout carries only the table.
  console.log = console.error;
  try {
    for (const row of benchRows(plan)) {
      const { mode, shards, jobDurationSeconds } = row;
      for (const design of designs) {
        if (design.mode !== undefined && design.mode !== mode) continue;
        const summary = await runExecution({
          ...design.scenario,
          ...(design.mode === undefined ? { mode } : {}),
          shards,
          jobDurationSeconds,
        });
        runs.push({ design: design.name, mode, shards, jobDurationSeconds, summary });
        output.err(`${runTitle(design, row)}: ${summary.outcome} (${summary.wallSeconds.toFixed(1)} s)`);
      }
    }
    for (const submitCase of throttleCases) {
      const result = await measureThrottledSubmit(submitCase);
      throttled.push(result);
      output.err(
        `submit under throttling, ${counted(result.shards, "shard")} at ${percent(result.throttleRate)}: ` +
          `${result.finished ? "finished" : "did not finish"} (${result.wallSeconds.toFixed(1)} s)`,
      );
    }
  } finally {
    console.log = log;
  }
  let records: { rows: RecordsBenchRow[]; table: string } | undefined;
  if (plan.records) {
    console.log = console.error;
    try {
      const { rows, model } = await runRecordsBench();
      records = { rows, table: recordsBenchTable(rows, model) };
      output.err(`records: ${rows.map((row) => row.records).join(" and ")} records done`);
    } finally {
      console.log = log;
    }
  }
  let engines: { rows: EngineBenchRow[]; table: string } | undefined;
  if (plan.engines) {
    console.log = console.error;
    try {
      const { rows, sizes } = await runEngineBench(plan.engines, plan.engineRecordCounts);
      engines = { rows, table: engineBenchTable(rows, sizes, plan.engines) };
      output.err(
        `engines: ${rows.map((row) => row.records).join(" and ")} records through both engines done`,
      );
    } finally {
      console.log = log;
    }
  }
  const totalWallSeconds = (performance.now() - wallStart) / 1000;
  if (svgFile !== undefined) {
    writeFileSync(svgFile, benchChartSvg(runs, designs));
    output.err(`Wrote the picture to ${svgFile}`);
  }
  output.out(
    json
      ? JSON.stringify({
          runs,
          submitUnderThrottling: throttled,
          ...(records ? { records: records.rows } : {}),
          ...(engines ? { engines: engines.rows } : {}),
          totalWallSeconds,
        })
      : [
          benchTable(runs, designs, totalWallSeconds, throttled),
          ...(records ? ["", records.table] : []),
          ...(engines ? ["", engines.table] : []),
        ].join("\n"),
  );
  return 0;
}

/** `--throttle-max-shards N`: a whole number from 0 to 10,000 (default: no limit). */
function throttleMaxShardsOption(parsed: ParsedArgs): number {
  const given = parsed.values.filter(([name]) => name === "--throttle-max-shards").at(-1)?.[1];
  if (given === undefined || given === true) return Infinity;
  const value = Number(given);
  if (!/^\d+$/.test(given) || value > 10_000) {
    throw new UsageError(`--throttle-max-shards must be a whole number from 0 to 10000, got "${given}".`);
  }
  return value;
}

/** One row of the table: a submit mode, a shard count and a job duration. */
export interface BenchRow {
  mode: JobMode;
  shards: number;
  jobDurationSeconds: number;
}

/** The plan's rows: by job duration, then submit mode, then shard count. */
export function benchRows(plan: Pick<BenchPlan, "shards" | "jobDurationsSeconds">): BenchRow[] {
  return plan.jobDurationsSeconds.flatMap((jobDurationSeconds) =>
    submitModes.flatMap((mode) =>
      (plan.shards[mode] ?? []).map((shards) => ({ mode, shards, jobDurationSeconds })),
    ),
  );
}

/** `this stack, event-driven, jobs mode, 100 shards, 2m jobs`. */
function runTitle(design: BenchDesign, row: BenchRow): string {
  return (
    `${design.label}, ${row.mode} mode, ${counted(row.shards, "shard")}, ` +
    `${formatDuration(row.jobDurationSeconds)} jobs`
  );
}

interface Column {
  title: string;
  value(summary: Summary): string;
}

/** The columns of each design's group. */
const columns: Column[] = [
  { title: "outcome", value: (s) => s.outcome },
  {
    title: "resume",
    value: (s) => (s.resumeLatencySeconds === null ? "-" : formatLatency(s.resumeLatencySeconds)),
  },
  { title: "Lambda", value: (s) => String(total(s.lambdaInvocations)) },
  { title: "Batch", value: (s) => String(s.batchApiCalls) },
  { title: "left", value: (s) => String(s.jobsLeftRunning) },
  { title: "wall", value: (s) => `${s.wallSeconds.toFixed(1)}s` },
];

/** The table's leading columns: the row's submit mode, shard count and job duration. */
const leadTitles = ["submit", "shards", "jobs"];

/**
 * The table: a row per submit mode, shard count and job duration, a column group per design (`-` where a
 * design does not have the row's submit mode), then the notes.
 */
export function benchTable(
  runs: BenchRun[],
  designs: BenchDesign[],
  totalWallSeconds: number,
  throttled: ThrottledSubmitResult[] = [],
): string {
  const rowOf = (r: BenchRow) => `${r.jobDurationSeconds}:${r.mode}:${r.shards}`;
  const rows = [
    ...new Map(
      runs.map((r) => [
        rowOf(r),
        { mode: r.mode, shards: r.shards, jobDurationSeconds: r.jobDurationSeconds },
      ]),
    ).values(),
  ];
  const cells: string[][] = rows.map((row) => {
    const cellsOfRow = [row.mode, String(row.shards), formatDuration(row.jobDurationSeconds)];
    for (const design of designs) {
      const run = runs.find((r) => r.design === design.name && rowOf(r) === rowOf(row));
      cellsOfRow.push(...columns.map((column) => (run ? column.value(run.summary) : "-")));
    }
    return cellsOfRow;
  });
  const lead = leadTitles.length;
  const headers = [...leadTitles, ...designs.flatMap(() => columns.map((c) => c.title))];
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i].length)));
  // The mode and the job duration left-aligned, the shards right; in each group the outcome left, the
  // figures right.
  const line = (row: string[]) => {
    const leading = `${row[0].padEnd(widths[0])}  ${row[1].padStart(widths[1])}  ${row[2].padEnd(widths[2])}`;
    const groups = designs.map((_, d) => {
      const first = lead + d * columns.length;
      return row
        .slice(first, first + columns.length)
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[first + c]) : cell.padStart(widths[first + c])))
        .join("  ");
    });
    return [leading, ...groups].join("  | ");
  };
  const groupWidth = (d: number) =>
    columns.reduce((sum, _, c) => sum + widths[lead + d * columns.length + c], 0) + (columns.length - 1) * 2;
  const titles = [
    " ".repeat(widths[0] + 2 + widths[1] + 2 + widths[2]),
    ...designs.map((design, d) => design.label.padEnd(groupWidth(d))),
  ].join("  | ");

  const notes = runs
    .filter((run) => !run.summary.expected)
    .map((run) => {
      const design = designs.find((d) => d.name === run.design);
      const title = design ? runTitle(design, run) : run.design;
      const left =
        run.summary.jobsLeftRunning > 0
          ? ` ${counted(run.summary.jobsLeftRunning, "job")} left running.`
          : "";
      return `  ${title}: ${run.summary.failureReason ?? run.summary.outcome}${left}`;
    });
  return [
    "Local bench: one execution per row and design, in simulated time (seed 1, events delayed 1 s)",
    "",
    titles.trimEnd(),
    line(headers),
    ...cells.map(line),
    "",
    "submit: one array job, or one job per shard (the reference design has only the latter). outcome: how the",
    "execution ended. resume: simulated time from the last job's end to the step's answer. Lambda: function",
    "invocations. Batch: Batch API calls (429s included). left: jobs still running when the execution ended.",
    "wall: wall-clock time of the run on this machine (with the stack's render, the first time a configuration",
    "runs).",
    ...(notes.length > 0 ? ["", "Runs that did not end as expected:", ...notes] : []),
    ...(throttled.length > 0 ? ["", throttleTable(throttled)] : []),
    "",
    `Total wall time ${totalWallSeconds.toFixed(0)} s.`,
  ].join("\n");
}

/** The submit-under-throttling table's columns, after the row's shards, throttle rate and timeout. */
const throttleColumns: { title: string; value(result: ThrottledSubmitResult): string }[] = [
  { title: "submit", value: (r) => (r.seconds === null ? "-" : `${r.seconds.toFixed(1)}s`) },
  { title: "ideal", value: (r) => `${r.idealSeconds.toFixed(1)}s` },
  { title: "finished", value: (r) => (r.finished ? "yes" : "no") },
  { title: "SubmitJob", value: (r) => String(r.submitJobCalls) },
  { title: "throttled", value: (r) => String(r.submitJobThrottled) },
  { title: "wall", value: (r) => `${r.wallSeconds.toFixed(1)}s` },
];

/** Its leading columns. */
const throttleLeadTitles = ["shards", "throttle", "timeout"];

/**
 * The submit-under-throttling table: a row per shard count and throttle rate, every column right-aligned
 * but `finished`; then its legend and why a row did not finish.
 */
export function throttleTable(results: ThrottledSubmitResult[]): string {
  const headers = [...throttleLeadTitles, ...throttleColumns.map((c) => c.title)];
  const cells = results.map((r) => [
    String(r.shards),
    percent(r.throttleRate),
    `${r.timeoutSeconds}s`,
    ...throttleColumns.map((column) => column.value(r)),
  ]);
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i].length)));
  const finishedColumn = headers.indexOf("finished");
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === finishedColumn ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  const notes = results
    .filter((r) => !r.finished)
    .map((r) => `  ${counted(r.shards, "shard")} at ${percent(r.throttleRate)}: ${r.failureReason}`);
  return [
    "Submit under throttling: the submit function, one job per shard (jobs mode), local Batch refusing a share",
    "of all calls on top of its 50/s quota, in simulated time (seed 1)",
    "",
    line(headers),
    ...cells.map(line),
    "",
    "throttle: share of Batch calls answered 429. timeout: the function's (submitTimeoutSeconds). submit:",
    "simulated time from the invocation to its answer. ideal: shards / (40 x (1 - throttle)), every attempt",
    "paced at 40 SubmitJob/s and the throttled share refused. finished: answered within its timeout.",
    "SubmitJob, throttled: SubmitJob calls made, and how many Batch answered 429. wall: wall-clock time of the",
    "row on this machine (--throttle-max-shards N skips the larger rows, 0 the table).",
    ...(notes.length > 0 ? ["", "Rows that did not finish:", ...notes] : []),
  ].join("\n");
}

/** `90%`. */
function percent(rate: number): string {
  return `${Math.round(rate * 100)}%`;
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

if (require.main === module) {
  // The SDK warns once per process that its 2027 releases will need Node 22; this project runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(benchCommand, bench);
}
