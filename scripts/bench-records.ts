/**
 * The bench's records table: records sent at a steady rate to this stack's records API and to the template's
 * design, each to its final status; per-record latency (p50, p99) and AWS calls per 1,000 records. The
 * smallest size runs for real on local servers; sizes too large to run are modelled with local mode's
 * timings (records-model.ts), and the template is modelled with its defaults and the stated assumptions.
 */
import type { RecordsSummary } from "../local/runner/records-run";
import {
  latencyPercentiles,
  stackLatencies,
  templateAssumptions,
  templateCalls,
  templateLatencies,
  type StackModel,
  type TemplateModel,
} from "../local/runner/records-model";
import { formatLatency } from "../local/runner/scenario";
import { benchLatency, benchStackConfig, runBenchRecords } from "./bench-runs";

/** Record counts of the table's rows: the first runs on local servers, the others are modelled. */
export const benchRecordCounts = [1_000, 100_000];
/** Records sent a second: the default usage plan's steady rate (apiRateLimit). */
export const benchRecordRate = 100;

/** This stack's timings in local mode, which the model follows (see StackModel). */
export function localStackModel(settings: {
  batchSize: number;
  windowSeconds: number;
  recordsPerShard: number;
  concurrentJobs: number;
}): StackModel {
  return {
    ...settings,
    jobDurationSeconds: 120,
    queuedSeconds: 11,
    startingSeconds: 20,
    eventDelaySeconds: 1,
  };
}

/** The model of a stack's records API from its config, with local mode's timings. */
export function stackModelOf(stack: string): StackModel {
  const config = benchStackConfig(stack);
  return localStackModel({
    batchSize: config.recordBatchSize,
    windowSeconds: config.recordBatchWindowSeconds,
    recordsPerShard: config.recordsPerShard,
    concurrentJobs: Math.max(1, Math.floor(config.maxVcpus / config.vcpu)),
  });
}

/** Runs the smallest size on local servers and models the rest; resolves to the table's rows. */
export async function runRecordsBench(
  stack = "dev",
): Promise<{ rows: RecordsBenchRow[]; model: StackModel }> {
  const measured = await runBenchRecords({
    records: benchRecordCounts[0],
    recordRate: benchRecordRate,
    stack,
  });
  const model = stackModelOf(stack);
  return { rows: recordsBenchRows(measured, model), model };
}

export const templateModel: TemplateModel = {
  batchSize: 100,
  windowSeconds: 60,
  instanceStartSeconds: 300,
  jobDurationSeconds: 120,
  s3EventSeconds: 1,
};

/** One row's figures for one design. */
export interface RecordsFigures {
  source: "local run" | "model";
  p50: number;
  p99: number;
  callsPerThousand: number;
}

export interface RecordsBenchRow {
  records: number;
  stack: RecordsFigures;
  template: RecordsFigures;
}

/**
 * AWS calls of a local run, per 1,000 records: API Gateway requests, Lambda invocations and every call the
 * functions and jobs made; Lambda's polling of the queues (ReceiveMessage) is left out, as the template's
 * Kinesis polling is.
 */
export function callsPerThousand(summary: RecordsSummary): number {
  let calls = Object.values(summary.lambdaInvocations).reduce((sum, n) => sum + n, 0);
  for (const [service, operations] of Object.entries(summary.apiCalls)) {
    for (const [operation, count] of Object.entries(operations)) {
      if (service === "SQS" && operation === "ReceiveMessage") continue;
      calls += count;
    }
  }
  return Math.round((calls * 1000) / summary.records.submitted);
}

/**
 * The rows: the first size from `measured` (a local run of that many records), the others from the model,
 * whose calls per 1,000 records are the local run's (every count grows with the records or with the
 * batches, which are full at this rate).
 */
export function recordsBenchRows(measured: RecordsSummary, model: StackModel): RecordsBenchRow[] {
  return benchRecordCounts.map((records, i) => {
    const template = latencyPercentiles(templateLatencies(records, benchRecordRate, templateModel));
    const templateFigures: RecordsFigures = {
      source: "model",
      p50: template.p50,
      p99: template.p99,
      callsPerThousand: Math.round((templateCalls(records, benchRecordRate, templateModel) * 1000) / records),
    };
    if (i === 0) {
      return {
        records,
        stack: {
          source: "local run",
          ...benchLatency(measured),
          callsPerThousand: callsPerThousand(measured),
        },
        template: templateFigures,
      };
    }
    const stack = latencyPercentiles(stackLatencies(records, benchRecordRate, model));
    return {
      records,
      stack: {
        source: "model",
        p50: stack.p50,
        p99: stack.p99,
        callsPerThousand: callsPerThousand(measured),
      },
      template: templateFigures,
    };
  });
}

/** The table, its legend and every modelled assumption. */
export function recordsBenchTable(rows: RecordsBenchRow[], model: StackModel): string {
  const cell = (f: RecordsFigures) => [
    f.source,
    formatLatency(f.p50),
    formatLatency(f.p99),
    String(f.callsPerThousand),
  ];
  const headers = ["records", "source", "p50", "p99", "calls", "source", "p50", "p99", "calls"];
  const cells = rows.map((row) => [String(row.records), ...cell(row.stack), ...cell(row.template)]);
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i].length)));
  const line = (row: string[]) =>
    [
      row[0].padStart(widths[0]),
      row
        .slice(1, 5)
        .map((c, i) => (i === 0 ? c.padEnd(widths[1 + i]) : c.padStart(widths[1 + i])))
        .join("  "),
      row
        .slice(5)
        .map((c, i) => (i === 0 ? c.padEnd(widths[5 + i]) : c.padStart(widths[5 + i])))
        .join("  "),
    ].join("  | ");
  const group = (from: number) => widths.slice(from, from + 4).reduce((sum, w) => sum + w, 0) + 6;
  const titles = [
    " ".repeat(widths[0]),
    "this stack's records API".padEnd(group(1)),
    "the template's design",
  ].join("  | ");
  return [
    `Records: sent at ${benchRecordRate} a second, each to its final status (simulated)`,
    "",
    titles.trimEnd(),
    line(headers),
    ...cells.map(line),
    "",
    "p50, p99: latency from a record's POST to its final status. calls: AWS calls per 1,000 records (API",
    "Gateway requests, Lambda invocations, and every call the functions and jobs make; Lambda's polling of",
    "SQS or Kinesis left out). local run: npm start -- --records on local servers; model: records-model.ts.",
    "",
    "Assumptions:",
    `  this stack (dev config): batches of ${model.batchSize} records or ${model.windowSeconds} s, ${model.recordsPerShard} records a shard, ` +
      `${model.jobDurationSeconds / 60} min jobs, at most ${model.concurrentJobs} jobs`,
    `  at once; a job waits ${model.queuedSeconds} s to run and starts in ${model.startingSeconds} s (local Batch); each event is delivered ` +
      `after ${model.eventDelaySeconds} s; calls per`,
    "  1,000 records as the local run's (every count grows with the records or the full batches).",
    ...templateAssumptions.map((text) => `  ${text}`),
  ].join("\n");
}
