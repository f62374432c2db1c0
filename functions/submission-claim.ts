/**
 * One submission per execution: a claim in the status table, so that two submit invocations for one
 * execution at once (a retried Lambda step while the first call is still running, a second caller) never
 * create two job sets. Its item, `<execution job name>#submission`, sits beside the execution's wait item
 * (status-table-items.ts) and moves through:
 *
 *   (none) ──claim──► submitting ──► submitted (the outputs, returned to every later call)
 *                        │    └────► failed (the reason; the next call claims and submits again)
 *                        └── lease over (the holder was ended at its timeout): the next call claims it
 *
 * A claim is a conditional UpdateItem, so exactly one caller holds it. Its lease lasts the holder's own
 * invocation and a margin: a holder that Lambda ended at its timeout can be taken over once it surely runs
 * no more, and the taker finds the jobs it submitted by their names (job-names.ts), which Batch lists by
 * then, and submits only the missing ones.
 */
import { randomUUID } from "node:crypto";
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall, type NativeAttributeValue } from "@aws-sdk/util-dynamodb";
import type { Clock } from "./clock";
import type { JobMode, SubmitOutputs } from "./step-contract";
import { itemExpiry, statusTableKey, type StatusTable } from "./status-table-items";

/**
 * After the holder's invocation has ended, its claim lasts this much longer: for clocks that differ
 * between Lambda hosts, and for Batch to list the jobs it submitted last (its listings are eventually
 * consistent; see listingGraceSeconds in decision.ts).
 */
export const submissionLeaseMarginMs = 60_000;

export type SubmissionState = "submitting" | "submitted" | "failed";

/** The submission item of an execution. */
export interface SubmissionRecord {
  state: SubmissionState;
  claimId: string;
  /** Epoch ms: until then the holder may still be submitting. */
  leaseUntil: number;
  /** With `submitted`: the step outputs every call for the execution returns. */
  outputs?: SubmitOutputs;
  /** With `failed`: why. */
  failureReason?: string;
}

/** The status table key of an execution's submission. */
export function submissionKey(executionJobName: string): string {
  return `${executionJobName}#submission`;
}

/** The result of a claim: the claim's ID, and the record it replaced (a lapsed or failed one), if any. */
export type SubmissionClaim =
  | { claimed: true; claimId: string; replaced?: SubmissionRecord }
  | { claimed: false; current?: SubmissionRecord };

/**
 * Claims the execution's submission until `leaseUntil`: granted when no call has claimed it, when the
 * last submission failed, or when its holder's lease is over; refused while another call holds it and once
 * the jobs are submitted.
 */
export async function claimSubmission(
  table: StatusTable,
  executionJobName: string,
  now: number,
  leaseUntil: number,
): Promise<SubmissionClaim> {
  const claimId = randomUUID();
  try {
    const output = await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: key(executionJobName),
        UpdateExpression:
          "SET #state = :submitting, #claimId = :claimId, #leaseUntil = :leaseUntil, #expiresAt = :expiresAt " +
          "REMOVE #outputs, #failureReason",
        ConditionExpression:
          "attribute_not_exists(#state) OR #state = :failed OR (#state = :submitting AND #leaseUntil < :now)",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ...marshall({
            ":submitting": "submitting",
            ":failed": "failed",
            ":claimId": claimId,
            ":leaseUntil": leaseUntil,
            ":now": now,
          }),
          ":expiresAt": itemExpiry(now),
        },
        ReturnValues: "ALL_OLD",
      }),
    );
    const replaced = output.Attributes ? submissionRecord(output.Attributes) : undefined;
    return { claimed: true, claimId, ...(replaced ? { replaced } : {}) };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return { claimed: false, current: await readSubmission(table, executionJobName) };
  }
}

/** Records the claimed submission done, with its outputs; false if the claim was no longer the caller's. */
export function recordSubmitted(
  table: StatusTable,
  executionJobName: string,
  claimId: string,
  outputs: SubmitOutputs,
  now: number,
): Promise<boolean> {
  return endClaim(table, executionJobName, claimId, now, "submitted", {
    UpdateExpression: "SET #outputs = :outputs",
    values: {
      ":outputs": {
        jobMode: outputs.jobMode,
        jobRef: outputs.jobRef,
        shardCount: outputs.shardCount,
        jobName: outputs.jobName,
        outputUri: outputs.outputUri,
        minSuccessRatio: outputs.minSuccessRatio,
      },
    },
  });
}

/** Records the claimed submission failed, with why; false if the claim was no longer the caller's. */
export function recordSubmissionFailed(
  table: StatusTable,
  executionJobName: string,
  claimId: string,
  reason: string,
  now: number,
): Promise<boolean> {
  return endClaim(table, executionJobName, claimId, now, "failed", {
    UpdateExpression: "SET #failureReason = :failureReason",
    values: { ":failureReason": reason },
  });
}

/** The execution's submission item (strongly consistent), or undefined when no call has claimed it. */
export async function readSubmission(
  table: StatusTable,
  executionJobName: string,
): Promise<SubmissionRecord | undefined> {
  const output = await table.dynamodb.send(
    new GetItemCommand({ TableName: table.tableName, Key: key(executionJobName), ConsistentRead: true }),
  );
  return output.Item ? submissionRecord(output.Item) : undefined;
}

const names = {
  "#state": "submissionState",
  "#claimId": "claimId",
  "#leaseUntil": "leaseUntil",
  "#outputs": "outputs",
  "#failureReason": "failureReason",
  "#expiresAt": "expiresAt",
};

async function endClaim(
  table: StatusTable,
  executionJobName: string,
  claimId: string,
  now: number,
  state: "submitted" | "failed",
  update: { UpdateExpression: string; values: Record<string, NativeAttributeValue> },
): Promise<boolean> {
  try {
    await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: key(executionJobName),
        UpdateExpression: `${update.UpdateExpression}, #state = :state, #expiresAt = :expiresAt`,
        ConditionExpression: "#claimId = :claimId",
        ExpressionAttributeNames: Object.fromEntries(
          Object.entries(names).filter(([placeholder]) =>
            `${update.UpdateExpression} #state #expiresAt #claimId`.includes(placeholder),
          ),
        ),
        ExpressionAttributeValues: {
          ...marshall({ ...update.values, ":state": state, ":claimId": claimId }),
          ":expiresAt": itemExpiry(now),
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

function key(executionJobName: string): Record<string, AttributeValue> {
  return { [statusTableKey]: { S: submissionKey(executionJobName) } };
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string })?.name === "ConditionalCheckFailedException"
  );
}

/** The item as it is stored (every attribute may be missing). */
interface SubmissionItem {
  executionJobName?: string;
  submissionState?: string;
  claimId?: string;
  leaseUntil?: number;
  outputs?: Partial<Record<keyof SubmitOutputs, string>>;
  failureReason?: string;
}

function submissionRecord(stored: Record<string, AttributeValue>): SubmissionRecord | undefined {
  const item = unmarshall(stored) as SubmissionItem;
  const state = item.submissionState;
  if (state !== "submitting" && state !== "submitted" && state !== "failed") return undefined;
  const outputs = item.outputs;
  const jobMode = outputs?.jobMode;
  return {
    state,
    claimId: item.claimId ?? "",
    leaseUntil: item.leaseUntil ?? 0,
    ...(outputs && (jobMode === "array" || jobMode === "jobs")
      ? {
          outputs: {
            jobMode: jobMode as JobMode,
            jobRef: outputs.jobRef ?? "",
            shardCount: outputs.shardCount ?? "",
            jobName: outputs.jobName ?? item.executionJobName ?? "",
            outputUri: outputs.outputUri ?? "",
            // A submission recorded before the ratio was: every shard must succeed.
            minSuccessRatio: outputs.minSuccessRatio ?? "1",
          },
        }
      : {}),
    ...(item.failureReason !== undefined ? { failureReason: item.failureReason } : {}),
  };
}

/** How often a call that found another one submitting looks whether it has finished. */
export const submissionPollMs = 2_000;

/** What a call for an execution does: submit, holding the claim, or return the submission another made. */
export type SubmissionTurn =
  { submit: true; claimId: string; tookOver: boolean } | { submit: false; outputs: SubmitOutputs };

/**
 * Claims the execution's submission, or waits for the call that holds it: its outputs once it has
 * submitted, its failure (thrown) if it failed, the claim itself once its lease is over. Throws when
 * `deadline` (epoch ms) comes first.
 */
export async function claimOrAwaitSubmission(
  table: StatusTable,
  executionJobName: string,
  clock: Clock,
  deadline: number,
  leaseUntil: number,
): Promise<SubmissionTurn> {
  for (;;) {
    const claim = await claimSubmission(table, executionJobName, clock.now(), leaseUntil);
    if (claim.claimed) {
      return { submit: true, claimId: claim.claimId, tookOver: claim.replaced?.state === "submitting" };
    }
    const holder = claim.current;
    if (holder?.state === "submitted" && holder.outputs) return { submit: false, outputs: holder.outputs };
    if (holder?.state === "submitting") {
      const ended = await awaitClaimEnd(table, executionJobName, holder, clock, deadline);
      if (ended?.state === "submitted" && ended.outputs) return { submit: false, outputs: ended.outputs };
      if (ended?.state === "failed" && ended.claimId === holder.claimId) {
        throw new Error(
          `Another invocation for this execution was submitting its jobs and failed: ${ended.failureReason}`,
        );
      }
    }
    // The claim changed hands or lapsed meanwhile: claim again.
    if (clock.now() > deadline) throw new Error(`Could not claim the submission of ${executionJobName}.`);
  }
}

/** Polls the submission until `holder`'s claim has ended (or lapsed); throws at `deadline`. */
async function awaitClaimEnd(
  table: StatusTable,
  executionJobName: string,
  holder: SubmissionRecord,
  clock: Clock,
  deadline: number,
): Promise<SubmissionRecord | undefined> {
  for (;;) {
    if (clock.now() + submissionPollMs > deadline) {
      throw new Error(
        "Another invocation is submitting this execution's jobs and had not finished when this one ran " +
          `out of time; retry the step once it has (its claim lasts until ${new Date(holder.leaseUntil).toISOString()}).`,
      );
    }
    await clock.sleep(submissionPollMs);
    const current = await readSubmission(table, executionJobName);
    if (
      current?.state !== "submitting" ||
      current.claimId !== holder.claimId ||
      current.leaseUntil < clock.now()
    ) {
      return current;
    }
  }
}
