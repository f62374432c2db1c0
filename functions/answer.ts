/**
 * Answers a Callback step exactly once. Every answer for a token carries the same ClientRequestToken, so a
 * repeated answer (duplicate delivery, retry after a lost response) is one request to SageMaker; and
 * SageMaker's refusals for a token already answered or unknown are final, never a reason to retry.
 */
import { createHash } from "node:crypto";
import {
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
  type SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import { describeError, retryThrottled } from "./aws-errors";
import type { Clock } from "./clock";
import type { CallbackOutputs } from "./step-contract";

/** SendPipelineExecutionStepFailure takes a FailureReason of at most 256 characters. */
export const failureReasonLimit = 256;

export type StepAnswer =
  { outcome: "success"; outputs: CallbackOutputs } | { outcome: "failure"; reason: string };

/** What happened to an answer. */
export type AnswerResult =
  | { delivered: true }
  /** SageMaker refused it for good (already answered, unknown token, ...): log it and move on. */
  | { delivered: false; refusal: string };

/** SageMaker errors that mean "this token will never take this answer". */
const finalErrorNames: readonly string[] = [
  "ConflictException",
  "ResourceNotFound",
  "ResourceNotFoundException",
  "ValidationException",
];

/** The idempotency token for answers to `callbackToken` (ClientRequestToken takes 32-128 characters). */
export function clientRequestToken(callbackToken: string): string {
  return createHash("sha256").update(`sagemaker-batch-bridge:${callbackToken}`).digest("hex");
}

/**
 * Shortens `text` to `limit` UTF-16 code units, marking the cut. A cut between the two halves of a
 * surrogate pair (an emoji, say) drops the high half too: a lone half turns into U+FFFD once encoded.
 */
export function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let kept = text.slice(0, limit - 3);
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  return `${kept}...`;
}

/**
 * Sends the answer. Throws on errors worth retrying later (throttling after a few quick retries, 5xx,
 * network); returns a refusal for final errors.
 */
export async function answerStep(
  sagemaker: SageMakerClient,
  callbackToken: string,
  answer: StepAnswer,
  clock: Clock,
): Promise<AnswerResult> {
  const ClientRequestToken = clientRequestToken(callbackToken);
  const send = async () => {
    if (answer.outcome === "success") {
      await sagemaker.send(
        new SendPipelineExecutionStepSuccessCommand({
          CallbackToken: callbackToken,
          ClientRequestToken,
          OutputParameters: Object.entries(answer.outputs).map(([Name, Value]) => ({ Name, Value })),
        }),
      );
    } else {
      await sagemaker.send(
        new SendPipelineExecutionStepFailureCommand({
          CallbackToken: callbackToken,
          ClientRequestToken,
          FailureReason: truncate(answer.reason, failureReasonLimit),
        }),
      );
    }
  };
  try {
    await retryThrottled(send, clock, 3);
    return { delivered: true };
  } catch (error) {
    if (finalErrorNames.includes((error as { name?: string })?.name ?? "")) {
      return { delivered: false, refusal: describeError(error) };
    }
    throw error;
  }
}
