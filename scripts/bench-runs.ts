/**
 * What the bench's records tables share: a stack's config as the program reads it, and a records run of that
 * stack on local servers with its latency.
 */
import type { LatencySummary, RecordsScenario, RecordsSummary } from "../local/runner/records-run";
import { parseConfig, projectName, type BridgeConfig } from "../infra/config";
import { stackConfig } from "../render/stack-files";

/** A stack's config (its stack file over the Pulumi.yaml defaults), checked and typed as the program reads it. */
export function benchStackConfig(stack: string): BridgeConfig {
  const prefix = `${projectName}:`;
  const raw = Object.fromEntries(
    Object.entries(stackConfig(stack))
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
  return parseConfig(raw);
}

/** Runs records through the stack on local servers (the runner loads only now, so --help stays quick). */
export async function runBenchRecords(scenario: RecordsScenario): Promise<RecordsSummary> {
  const { runRecords } = await import("../local/runner/records-run");
  return runRecords(scenario);
}

/** A run's p50 and p99 latency (NaN when no record reached a final status). */
export function benchLatency(summary: RecordsSummary): Pick<LatencySummary, "p50" | "p99"> {
  const latency = summary.recordLatencySeconds ?? { p50: NaN, p99: NaN };
  return { p50: latency.p50, p99: latency.p99 };
}
