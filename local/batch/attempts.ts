/**
 * A job's attempts as AWS Batch records them: what an ended attempt leaves (exit code, container reason,
 * status reason), and whether the job's retry strategy runs another. A timed-out attempt is never retried;
 * another failure is retried while attempts remain and the first `evaluateOnExit` entry it matches says
 * RETRY, or when it matches none.
 */
import type { AttemptDetail, RetryStrategy } from "@aws-sdk/client-batch";
import type { AttemptFailure, RunningContainer } from "./scenario";

/** The attempt a RUNNING job is on: when it started and how it ends. */
export interface RunningAttempt {
  startedAt: number;
  failure?: AttemptFailure;
  timedOut: boolean;
  logStreamName: string;
  /** The attempt's real container, while it runs (scenarios with a container runtime). */
  container?: RunningContainer;
}

/** What an ended attempt leaves on the job and in its `attempts`. */
export interface EndedAttempt {
  detail: AttemptDetail;
  exitCode: number | undefined;
  containerReason: string | undefined;
  statusReason: string | undefined;
  failed: boolean;
  timedOut: boolean;
}

const exitStatusReason = "Essential container in task exited";
const timeoutStatusReason = "Job attempt duration exceeded timeout";

/** The attempt ended at `at`: by its container's exit, its failure, or its timeout. */
export function endAttempt(attempt: RunningAttempt, at: number): EndedAttempt {
  const { startedAt, failure, timedOut, logStreamName } = attempt;
  const exitCode = timedOut ? undefined : failure ? failure.exitCode : 0;
  const containerReason = timedOut ? undefined : failure?.reason;
  const statusReason = timedOut
    ? timeoutStatusReason
    : failure
      ? (failure.statusReason ?? (failure.exitCode !== undefined ? exitStatusReason : failure.reason))
      : exitStatusReason;
  return {
    detail: {
      container: { exitCode, reason: containerReason, logStreamName },
      startedAt,
      stoppedAt: at,
      statusReason,
    },
    exitCode,
    containerReason,
    statusReason,
    failed: timedOut || failure !== undefined,
    timedOut,
  };
}

/** AWS rules: retry while attempts remain and the first matching evaluateOnExit says RETRY (no match: retry). */
export function retryStrategyRetries(
  strategy: RetryStrategy | undefined,
  attemptsMade: number,
  ended: Pick<EndedAttempt, "statusReason" | "exitCode" | "containerReason">,
): boolean {
  if (attemptsMade >= (strategy?.attempts ?? 1)) return false;
  for (const rule of strategy?.evaluateOnExit ?? []) {
    const matches =
      globMatches(rule.onStatusReason, ended.statusReason) &&
      globMatches(rule.onReason, ended.containerReason) &&
      globMatches(rule.onExitCode, ended.exitCode === undefined ? undefined : String(ended.exitCode));
    if (matches) return rule.action?.toUpperCase() === "RETRY";
  }
  return true;
}

/**
 * A Batch pattern: exact, or a prefix when it ends with `*`; an unset pattern matches anything. A pattern
 * that is only `*` matches an attempt without that field too: AWS documents `{"onReason": "*", "action":
 * "EXIT"}` as the final entry "that exits for any reason" (AWS Batch User Guide, "Automated job retries"),
 * and an attempt whose container exited non-zero has no container reason.
 */
function globMatches(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined || pattern === "*") return true;
  if (value === undefined) return false;
  return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}
