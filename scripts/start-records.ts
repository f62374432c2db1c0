/**
 * `npm start -- --records N`: the records API's part of `npm start`. Its options, the records run they ask
 * for, and the run itself: progress on stderr, the summary on stdout (with --json, one JSON object).
 */
import type { Scenario } from "../local/runner/scenario";
import type { RecordsScenario } from "../local/runner/records-run";
import { UsageError, type CliOption, type CliOutput, type ParsedArgs } from "./cli";
import { workerCommandProblem } from "../local/containers/worker-command";

/** The most records one run sends, and the default rate (kept here so that --help loads no runner). */
const maxRecords = 100_000;
const defaultRecordRate = 50;

export const recordsOptions: CliOption[] = [
  {
    name: "--records",
    value: "N",
    allowed: `a whole number from 1 to ${maxRecords}`,
    help:
      "send N records over HTTP to the stack's records API (recordApi on for the run)\n" +
      "and run each to its final status",
  },
  {
    name: "--record-rate",
    value: "R",
    allowed: "a number of records a second above 0, up to 10000",
    help: `with --records: records sent a second, simulated (default ${defaultRecordRate})`,
  },
  {
    name: "--fail-records",
    value: "i,j",
    allowed: "record indexes separated by commas, e.g. 0,3",
    help:
      "with --records: these records (0-based, in sending order) get an error line from the job;\n" +
      "with --engine transform the model fails on them, failing their batch's transform job",
  },
  {
    name: "--engine",
    value: "E",
    allowed: "batch or transform",
    help:
      "what runs the work, AWS Batch jobs or a SageMaker Batch Transform job (default: the stack's\n" +
      "engine key); transform: one job over the shards, each an input object of 10 records,\n" +
      "or over each batch with --records; its model is the built-in one, or --worker",
  },
  {
    name: "--model-timeout",
    value: "D",
    allowed: "a duration from 1ms to 1h, e.g. 30s",
    help:
      "with --engine transform and --worker: how long the model may take to answer one input\n" +
      "object, in wall time (default 600s, SageMaker's InvocationsTimeoutInSeconds)",
  },
];

/** Options of a single-execution run that mean nothing to a records run. */
const executionOnly: Partial<Record<keyof Scenario, string>> = {
  shards: "--shards",
  failShards: "--fail-shards",
  throttleRate: "--throttle",
  duplicateDeliveries: "--duplicate-deliveries",
  worker: "--worker",
  inputDirectory: "--input",
  modelTimeoutSeconds: "--model-timeout",
};

/**
 * The records run the command line asks for, or undefined without --records. Throws a UsageError for a
 * bad value, or for an option of a single execution given with --records.
 */
export function recordsScenarioOf(
  values: ParsedArgs["values"],
  scenario: Scenario,
): RecordsScenario | undefined {
  const given = new Map(values.map(([name, value]) => [name, String(value)]));
  const refuse = (name: string): never => {
    const allowed = recordsOptions.find((option) => option.name === name)!.allowed;
    throw new UsageError(`${name} must be ${allowed}, got "${given.get(name)}".`);
  };
  const recordsText = given.get("--records");
  if (recordsText === undefined) {
    for (const name of ["--record-rate", "--fail-records"]) {
      if (given.has(name)) throw new UsageError(`${name} needs --records N.`);
    }
    return undefined;
  }
  const records = /^\d+$/.test(recordsText) ? Number(recordsText) : NaN;
  if (!(records >= 1 && records <= maxRecords)) refuse("--records");
  const engine = given.get("--engine");
  // On the transform engine a worker is the model of every batch's transform job.
  const modelWorker = engine === "transform" && scenario.worker !== undefined;
  if (modelWorker) {
    const problem = workerCommandProblem(scenario.worker!);
    if (problem !== undefined)
      throw new UsageError(`--worker "${scenario.worker}" cannot start: ${problem}.`);
  }
  for (const [field, option] of Object.entries(executionOnly)) {
    if (modelWorker && (field === "worker" || field === "modelTimeoutSeconds")) continue;
    if (scenario[field as keyof Scenario] !== undefined) {
      throw new UsageError(`${option} cannot be combined with --records: it shapes a single execution.`);
    }
  }
  if (scenario.design === "reference")
    throw new UsageError("--design reference cannot be combined with --records.");
  const rateText = given.get("--record-rate");
  const recordRate = rateText === undefined ? undefined : Number(rateText);
  if (rateText !== undefined && !(rateText.trim() !== "" && recordRate! > 0 && recordRate! <= 10_000)) {
    refuse("--record-rate");
  }
  if (engine !== undefined && engine !== "batch" && engine !== "transform") refuse("--engine");
  const failText = given.get("--fail-records");
  if (modelWorker && failText !== undefined) {
    throw new UsageError(
      "--fail-records cannot be combined with --worker: the worker's answers decide what fails.",
    );
  }
  let failRecords: number[] | undefined;
  if (failText !== undefined) {
    const parts = failText.split(",").map((part) => part.trim());
    if (parts.some((part) => !/^\d+$/.test(part) || Number(part) >= records)) {
      throw new UsageError(
        `--fail-records must list record indexes from 0 to ${records - 1} separated by commas, got "${failText}".`,
      );
    }
    failRecords = [...new Set(parts.map(Number))].sort((a, b) => a - b);
  }
  return {
    records,
    ...(recordRate !== undefined ? { recordRate } : {}),
    ...(failRecords ? { failRecords } : {}),
    ...(engine === "batch" || engine === "transform" ? { engine } : {}),
    ...(scenario.stopAfterSeconds !== undefined ? { stopAfterSeconds: scenario.stopAfterSeconds } : {}),
    ...(scenario.stack !== undefined ? { stack: scenario.stack } : {}),
    ...(scenario.config !== undefined ? { config: scenario.config } : {}),
    ...(scenario.mode !== undefined ? { mode: scenario.mode } : {}),
    ...(scenario.jobDurationSeconds !== undefined ? { jobDurationSeconds: scenario.jobDurationSeconds } : {}),
    ...(scenario.seed !== undefined ? { seed: scenario.seed } : {}),
    ...(scenario.eventDelaySeconds !== undefined ? { eventDelaySeconds: scenario.eventDelaySeconds } : {}),
    ...(scenario.functionLogs ? { functionLogs: true } : {}),
    ...(modelWorker ? { worker: scenario.worker } : {}),
    ...(modelWorker && scenario.modelTimeoutSeconds !== undefined
      ? { modelTimeoutSeconds: scenario.modelTimeoutSeconds }
      : {}),
  };
}

/** Runs the records; resolves to the exit code (0 when every record ended as expected, 1 otherwise). */
export async function startRecords(
  scenario: RecordsScenario,
  json: boolean,
  output: CliOutput,
): Promise<number> {
  // Loaded only for a run: --help and a bad option answer at once.
  const { runRecords, recordsDefaults } = await import("../local/runner/records-run");
  const { formatRecordsSummary, RecordsProgressPrinter } = await import("../local/runner/records-report");
  const { formatDuration } = await import("../local/runner/scenario");
  output.err(
    `Sending ${scenario.records} record(s) to the stack's records API locally ` +
      `(${scenario.stack ?? recordsDefaults.stack} config, ${scenario.recordRate ?? recordsDefaults.recordRate} ` +
      `records/s, ${formatDuration(scenario.jobDurationSeconds ?? recordsDefaults.jobDurationSeconds)} jobs, ` +
      `seed ${scenario.seed ?? recordsDefaults.seed}); times are simulated:`,
  );
  const progress = new RecordsProgressPrinter((line) => output.err(line));
  const log = console.log;
  // Whatever the program or a library prints goes to stderr: stdout carries only the summary.
  console.log = console.error;
  let summary;
  try {
    summary = await runRecords(scenario, (p) => progress.update(p));
  } catch (error) {
    output.err(`The local records run could not run: ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  output.out(json ? JSON.stringify(summary) : `\n${formatRecordsSummary(summary)}`);
  return summary.expected ? 0 : 1;
}
