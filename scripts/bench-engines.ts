/**
 * The bench's engine table: the same records through each engine (AWS Batch on Fargate, SageMaker Batch
 * Transform) on local servers in simulated time; per-record latency (p50, p99) and the compute's cost per
 * 1,000 records at list prices (prices.ts), from the jobs each run billed.
 */
import type { RecordsScenario, RecordsSummary } from "../local/runner/records-run";
import { formatLatency } from "../local/runner/scenario";
import type { Engine } from "../infra/config/keys";
import { benchLatency, benchStackConfig, runBenchRecords } from "./bench-runs";
import {
  fargateMinimumSeconds,
  fargatePrices,
  priceAssumptions,
  transformInstanceHourPrices,
} from "./prices";

/** Records per row: each runs on local servers through both engines. */
export const engineBenchRecordCounts = [200, 1_000];
/** Records sent a second: the default usage plan's steady rate (apiRateLimit). */
export const engineBenchRecordRate = 100;
/** STARTING in local Batch (the image pull Fargate bills). */
export const batchStartingSeconds = 20;

export const engines: readonly Engine[] = ["batch", "transform"];

/** What each engine's jobs are sized at, from the stack's config. */
export interface EngineSizes {
  vcpu: number;
  memoryMiB: number;
  transformInstanceType: string;
  transformInstanceCount: number;
}

export function engineSizesOf(stack: string): EngineSizes {
  const config = benchStackConfig(stack);
  return {
    vcpu: config.vcpu,
    memoryMiB: config.memoryMiB,
    transformInstanceType: config.transformInstanceType,
    transformInstanceCount: config.transformInstanceCount,
  };
}

/** One engine's figures for one row. */
export interface EngineFigures {
  p50: number;
  p99: number;
  /** Batch jobs (array children included) or transform jobs the run ran. */
  jobs: number;
  /** Billed hours: Fargate task-hours, or transform instance-hours. */
  billedHours: number;
  /** Dollars per 1,000 records (null: no price for the instance type). */
  costPerThousand: number | null;
}

export interface EngineBenchRow {
  records: number;
  batch: EngineFigures;
  transform: EngineFigures;
}

/** Options of the runs (a test sets a slower provisioning, or smaller batches to run fewer records). */
export type EngineBenchOptions = Pick<RecordsScenario, "transformProvisioningSeconds"> & {
  /** Records per batch, one job through each engine (default: the stack's recordBatchSize). */
  recordBatchSize?: number;
};

/** Runs every size through both engines; resolves to the rows. */
export async function runEngineBench(
  options: EngineBenchOptions = {},
  counts: readonly number[] = engineBenchRecordCounts,
  stack = "dev",
): Promise<{ rows: EngineBenchRow[]; sizes: EngineSizes }> {
  const sizes = engineSizesOf(stack);
  const { recordBatchSize, ...scenario } = options;
  const rows: EngineBenchRow[] = [];
  for (const records of counts) {
    const summaries: Partial<Record<Engine, RecordsSummary>> = {};
    for (const engine of engines) {
      const summary = await runBenchRecords({
        records,
        recordRate: engineBenchRecordRate,
        stack,
        engine,
        ...scenario,
        ...(recordBatchSize === undefined ? {} : { config: { recordBatchSize } }),
      });
      if (!summary.expected) {
        throw new Error(`${records} records through the ${engine} engine: ${summary.unexpected.join("; ")}`);
      }
      summaries[engine] = summary;
    }
    rows.push({
      records,
      batch: batchFigures(summaries.batch!, sizes),
      transform: transformFigures(summaries.transform!, sizes),
    });
  }
  return { rows, sizes };
}

/**
 * Fargate: each job that ran, billed from its image pull (STARTING) to its end, one minute at least, at the
 * job's vCPU and memory.
 */
export function batchFigures(summary: RecordsSummary, sizes: EngineSizes): EngineFigures {
  const jobs = summary.jobsByState.SUCCEEDED + summary.jobsByState.FAILED;
  const seconds = jobs * Math.max(fargateMinimumSeconds, batchStartingSeconds + summary.jobDurationSeconds);
  const hours = seconds / 3600;
  const cost =
    hours * (sizes.vcpu * fargatePrices.vcpuHour + (sizes.memoryMiB / 1024) * fargatePrices.gbHour);
  return {
    ...benchLatency(summary),
    jobs,
    billedHours: hours,
    costPerThousand: (cost * 1000) / summary.records.submitted,
  };
}

/** Batch Transform: each job's instances, from its creation (provisioning included) to its end. */
export function transformFigures(summary: RecordsSummary, sizes: EngineSizes): EngineFigures {
  const jobs = Object.values(summary.transformJobs ?? {}).reduce((sum, n) => sum + n, 0);
  const hours = ((summary.transformJobSeconds ?? 0) * sizes.transformInstanceCount) / 3600;
  const price = transformInstanceHourPrices[sizes.transformInstanceType];
  return {
    ...benchLatency(summary),
    jobs,
    billedHours: hours,
    costPerThousand: price === undefined ? null : (hours * price * 1000) / summary.records.submitted,
  };
}

/** `$0.0123`: four significant places for a few cents. */
function dollars(amount: number | null): string {
  return amount === null ? "-" : `$${amount.toFixed(4)}`;
}

/** The table, its legend and every assumption. */
export function engineBenchTable(
  rows: EngineBenchRow[],
  sizes: EngineSizes,
  options: EngineBenchOptions = {},
): string {
  const cell = (f: EngineFigures) => [
    formatLatency(f.p50),
    formatLatency(f.p99),
    String(f.jobs),
    f.billedHours.toFixed(3),
    dollars(f.costPerThousand),
  ];
  const columns = ["p50", "p99", "jobs", "hours", "$/1000"];
  const headers = ["records", ...columns, ...columns];
  const cells = rows.map((row) => [String(row.records), ...cell(row.batch), ...cell(row.transform)]);
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i].length)));
  const group = (row: string[], from: number) =>
    row
      .slice(from, from + columns.length)
      .map((c, i) => c.padStart(widths[from + i]))
      .join("  ");
  const line = (row: string[]) =>
    [row[0].padStart(widths[0]), group(row, 1), group(row, 1 + columns.length)].join("  | ");
  const groupWidth = (from: number) =>
    widths.slice(from, from + columns.length).reduce((sum, w) => sum + w, 0) + (columns.length - 1) * 2;
  const titles = [
    " ".repeat(widths[0]),
    "AWS Batch (Fargate)".padEnd(groupWidth(1)),
    "SageMaker Batch Transform",
  ].join("  | ");
  const provisioning = options.transformProvisioningSeconds ?? 300;
  const price = transformInstanceHourPrices[sizes.transformInstanceType];
  return [
    `Engines: the same records through each engine, sent at ${engineBenchRecordRate} a second, each to its final ` +
      "status (local runs, simulated)",
    "",
    titles.trimEnd(),
    line(headers),
    ...cells.map(line),
    "",
    "p50, p99: latency from a record's POST to its final status. jobs: Batch jobs, or transform jobs, the run",
    "ran. hours: billed Fargate task-hours, or transform instance-hours. $/1000: that compute at list prices",
    "per 1,000 records (API Gateway, Lambda, SQS and DynamoDB requests, the same for both engines, left out).",
    "",
    "Assumptions:",
    `  AWS Batch: each job ${sizes.vcpu} vCPU and ${sizes.memoryMiB} MiB (dev config), billed from its image ` +
      `pull (${batchStartingSeconds} s in local Batch) to its end;`,
    `  Batch Transform: ${sizes.transformInstanceCount} ${sizes.transformInstanceType} instance(s) a job ` +
      `(${price === undefined ? "no price in the table" : `$${price} an hour`}), billed from its creation to its end;`,
    `  its instances provisioned in ${provisioning} s (AWS publishes no figure); both: 2 min of processing per`,
    options.recordBatchSize === undefined
      ? "  job and the dev config's batches (the same records make the same batches)."
      : `  job and batches of ${options.recordBatchSize} records (the same records make the same batches).`,
    ...priceAssumptions().map((text) => `  ${text}`),
  ].join("\n");
}
