/**
 * The submit function submitting one job per shard while local Batch throttles a share of all calls, in
 * simulated time: how long it took next to the ideal, whether it finished within the function's timeout,
 * and how many SubmitJob calls it made and how many were refused.
 */
import { submitsPerSecond } from "../../functions/batch-calls";
import { submitHandlerFromEnvironment } from "../../functions/entrypoints";
import { accountId, region, SimulatedAccount } from "./simulated-account";

/** One measurement: `shards` jobs-mode shards, a share `throttleRate` of Batch calls refused. */
export interface ThrottledSubmitCase {
  shards: number;
  /** Share in [0, 1) of all Batch calls answered 429 on top of the 50/s quota. */
  throttleRate: number;
  /** The submit function's timeout (`submitTimeoutSeconds`; Lambda allows up to 900). */
  timeoutSeconds: number;
}

export interface ThrottledSubmitResult extends ThrottledSubmitCase {
  /** Simulated seconds from the invocation to its answer or its end (null: it ran into the timeout). */
  seconds: number | null;
  /** Every attempt paced at the function's rate, a share `throttleRate` refused: N / (rate x (1 - p)). */
  idealSeconds: number;
  /** Whether the function answered with its outputs within its timeout. */
  finished: boolean;
  /** Why it did not (the error it threw, or the timeout). */
  failureReason?: string;
  /** SubmitJob calls local Batch answered, and how many of them with 429. */
  submitJobCalls: number;
  submitJobThrottled: number;
  /** Wall-clock seconds the measurement took on this machine. */
  wallSeconds: number;
}

/** Seconds the ideal submission takes: every attempt paced at the function's rate, a share refused. */
export function idealSubmitSeconds(shards: number, throttleRate: number): number {
  return shards / (submitsPerSecond * (1 - throttleRate));
}

/** Runs the submit handler, as Lambda runs it, on one case against a fresh local account. */
export async function measureThrottledSubmit(
  submitCase: ThrottledSubmitCase,
  seed = 1,
): Promise<ThrottledSubmitResult> {
  const { shards, throttleRate, timeoutSeconds } = submitCase;
  if (!Number.isInteger(shards) || shards < 1 || shards > 10_000) {
    throw new Error(`shards must be a whole number from 1 to 10000, got ${shards}.`);
  }
  if (!(throttleRate >= 0 && throttleRate < 1)) {
    throw new Error(`throttleRate must be at least 0 and below 1, got ${throttleRate}.`);
  }
  if (!(timeoutSeconds >= 1 && timeoutSeconds <= 900)) {
    throw new Error(`timeoutSeconds must be from 1 to 900 (Lambda's maximum), got ${timeoutSeconds}.`);
  }
  const wallStart = performance.now();
  const account = await SimulatedAccount.start({ throttleRate, seed });
  try {
    const handler = submitHandlerFromEnvironment(process.env, account.transports);
    const executionId = `throttled${shards}`;
    const event = {
      executionArn: `arn:aws:sagemaker:${region}:${accountId}:pipeline/batch-bridge/execution/${executionId}`,
      inputUri: "s3://data-bucket/input/run-1",
      outputUri: "s3://data-bucket/output/run-1",
      shardCount: String(shards),
    };
    const startedAt = account.clock.now();
    let failureReason: string | undefined;
    let timedOut = false;
    try {
      await account.run(handler(event, account.context(timeoutSeconds)), timeoutSeconds);
    } catch (error) {
      // Lambda ends an invocation at its timeout; `run` gives up at the same simulated moment.
      timedOut = account.clock.now() - startedAt >= timeoutSeconds * 1000;
      failureReason = timedOut
        ? `did not answer within its ${timeoutSeconds} s timeout`
        : error instanceof Error
          ? error.message
          : String(error);
    }
    const calls = account.batch.calls();
    const throttled = account.batch.throttledCalls();
    return {
      ...submitCase,
      seconds: timedOut ? null : (account.clock.now() - startedAt) / 1000,
      idealSeconds: idealSubmitSeconds(shards, throttleRate),
      finished: failureReason === undefined,
      ...(failureReason === undefined ? {} : { failureReason }),
      submitJobCalls: calls.SubmitJob ?? 0,
      submitJobThrottled: throttled.SubmitJob ?? 0,
      wallSeconds: (performance.now() - wallStart) / 1000,
    };
  } finally {
    await account.stop();
  }
}
