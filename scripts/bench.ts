/**
 * `npm run bench [-- --json]`: the same execution at 1 to 10,000 shards, with 2-minute and 2-hour jobs,
 * for each design, on local servers in simulated time; a table of what each run cost and how fast its step
 * resumed. The designs are a list: a new one is a new entry (and a new column group).
 */
import { configKeys } from "../infra/config";
import type { Summary } from "../local/runner/run";
import { recordsBenchTable, runRecordsBench, type RecordsBenchRow } from "./bench-records";
import { counted, formatDuration, formatLatency, type Scenario } from "../local/runner/scenario";
import {
  flagGiven,
  parseArgs,
  runCli,
  UsageError,
  usageText,
  type CliCommand,
  type CliOutput,
  type ParsedArgs,
} from "./cli";

/** One design the bench compares. */
export interface BenchDesign {
  name: string;
  /** The column group's title. */
  label: string;
  /** What the design's runs set (the shards and the job duration are the bench's). */
  scenario: Scenario;
}

export const benchShards = [1, 10, 100, 1_000, 10_000];
export const benchJobDurationsSeconds = [120, 7200];

/**
 * Our stack answering from Batch's events (with polling as its safety net), our stack polling only, and
 * the reference design's policy. The stack's own variants are listed when it has the setting for them.
 */
export function benchDesigns(): BenchDesign[] {
  const canChooseEvents = "completionEvents" in configKeys;
  return [
    ...(canChooseEvents
      ? [
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
        ]
      : [{ name: "bridge", label: "this stack", scenario: { design: "bridge" } as Scenario }]),
    { name: "reference", label: "reference design", scenario: { design: "reference" } },
  ];
}

/** One run of the bench. */
export interface BenchRun {
  design: string;
  shards: number;
  jobDurationSeconds: number;
  summary: Summary;
}

/** `npm run bench`: its options and usage. */
export const benchCommand: CliCommand = {
  usage: ["npm run bench [-- options]"],
  npmScripts: ["bench"],
  description:
    "Runs one local execution per design, shard count (1 to 10,000) and job duration (2 minutes, 2 hours), in\n" +
    "simulated time, and prints a table of how each ended, how fast its step resumed and what it cost; then\n" +
    "the records table: 1,000 records through the records API locally, 100,000 modelled, and the template's.",
  options: [{ name: "--json", help: "print every run's summary as one JSON object on stdout" }],
  examples: ["npm run bench", "npm run bench -- --json"],
};

/** What the bench runs: every design at every shard count and job duration. */
export interface BenchPlan {
  designs: BenchDesign[];
  shards: number[];
  jobDurationsSeconds: number[];
  /** Also the records table (a local run of 1,000 records, the larger sizes modelled). */
  records?: boolean;
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
  },
): Promise<number> {
  const { designs } = plan;
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv, benchCommand);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\nRun "npm run bench -- --help" for the options.`);
    return 2;
  }
  if (parsed.help) {
    output.out(usageText(benchCommand));
    return 0;
  }
  const json = flagGiven(parsed, "--json");
  // Loaded only for a run: --help and a bad option answer at once.
  const { runExecution } = await import("../local/runner/run");
  const runs: BenchRun[] = [];
  const wallStart = performance.now();
  const log = console.log;
  // Whatever the program or a library prints goes to stderr: stdout carries only the table.
  console.log = console.error;
  try {
    for (const jobDurationSeconds of plan.jobDurationsSeconds) {
      for (const shards of plan.shards) {
        for (const design of designs) {
          const summary = await runExecution({ ...design.scenario, shards, jobDurationSeconds });
          runs.push({ design: design.name, shards, jobDurationSeconds, summary });
          output.err(
            `${design.label}, ${counted(shards, "shard")}, ${formatDuration(jobDurationSeconds)} jobs: ${summary.outcome} ` +
              `(${summary.wallSeconds.toFixed(1)} s)`,
          );
        }
      }
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
  const totalWallSeconds = (performance.now() - wallStart) / 1000;
  output.out(
    json
      ? JSON.stringify({ runs, ...(records ? { records: records.rows } : {}), totalWallSeconds })
      : [benchTable(runs, designs, totalWallSeconds), ...(records ? ["", records.table] : [])].join("\n"),
  );
  return 0;
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

/** The table: a row per shard count and job duration, a column group per design, then the notes. */
export function benchTable(runs: BenchRun[], designs: BenchDesign[], totalWallSeconds: number): string {
  const rowKeys = [...new Set(runs.map((r) => `${r.jobDurationSeconds}:${r.shards}`))];
  const cells: string[][] = rowKeys.map((key) => {
    const [duration, shards] = key.split(":").map(Number);
    const row = [String(shards), formatDuration(duration)];
    for (const design of designs) {
      const run = runs.find((r) => r.design === design.name && `${r.jobDurationSeconds}:${r.shards}` === key);
      row.push(...columns.map((column) => (run ? column.value(run.summary) : "")));
    }
    return row;
  });
  const headers = ["shards", "jobs", ...designs.flatMap(() => columns.map((c) => c.title))];
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i].length)));
  // Shards right-aligned, the job duration left; in each group the outcome left, the figures right.
  const line = (row: string[]) => {
    const lead = `${row[0].padStart(widths[0])}  ${row[1].padEnd(widths[1])}`;
    const groups = designs.map((_, d) => {
      const first = 2 + d * columns.length;
      return row
        .slice(first, first + columns.length)
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[first + c]) : cell.padStart(widths[first + c])))
        .join("  ");
    });
    return [lead, ...groups].join("  | ");
  };
  const groupWidth = (d: number) =>
    columns.reduce((sum, _, c) => sum + widths[2 + d * columns.length + c], 0) + (columns.length - 1) * 2;
  const titles = [
    " ".repeat(widths[0] + 2 + widths[1]),
    ...designs.map((design, d) => design.label.padEnd(groupWidth(d))),
  ].join("  | ");

  const notes = runs
    .filter((run) => !run.summary.expected)
    .map((run) => {
      const design = designs.find((d) => d.name === run.design)?.label ?? run.design;
      const left =
        run.summary.jobsLeftRunning > 0
          ? ` ${counted(run.summary.jobsLeftRunning, "job")} left running.`
          : "";
      return `  ${design}, ${counted(run.shards, "shard")}, ${formatDuration(run.jobDurationSeconds)} jobs: ${run.summary.failureReason ?? run.summary.outcome}${left}`;
    });
  return [
    "Local bench: one execution per row and design, in simulated time (seed 1, events delayed 1 s)",
    "",
    titles.trimEnd(),
    line(headers),
    ...cells.map(line),
    "",
    "outcome: how the execution ended. resume: simulated time from the last job's end to the step's answer.",
    "Lambda: function invocations. Batch: Batch API calls (429s included). left: jobs still running when the",
    "execution ended. wall: wall-clock time of the run on this machine (with the stack's render, the first",
    "time a configuration runs).",
    ...(notes.length > 0 ? ["", "Runs that did not end as expected:", ...notes] : []),
    "",
    `Total wall time ${totalWallSeconds.toFixed(0)} s.`,
  ].join("\n");
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

if (require.main === module) {
  // The SDK warns once per process that its 2027 releases will need Node 22; this project runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(benchCommand, bench);
}
