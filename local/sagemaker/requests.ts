/**
 * SageMaker's checks of the requests it takes here, in its own wording: a field that breaks a limit is a
 * ValidationException naming the field. The errors the executions answer with (ResourceNotFound,
 * ConflictException) are SageMakerErrors too.
 */
import type { OutputParameter, Parameter } from "@aws-sdk/client-sagemaker";
import { makeRequireString } from "../http";

/** Limits of SendPipelineExecutionStep{Success,Failure} and the other operations (SageMaker API reference). */
export const sageMakerLimits = {
  callbackTokenLength: 10,
  outputParameters: 50,
  outputNameLength: 256,
  outputValueLength: 1024,
  failureReasonLength: 256,
  clientRequestTokenLength: { min: 32, max: 128 },
  pipelineParameters: 200,
  displayNameLength: 82,
} as const;

/** An error SageMaker answers with its code; all of these are 400s. */
export class SageMakerError extends Error {
  constructor(
    readonly code: "ValidationException" | "ResourceNotFound" | "ConflictException" | "ResourceInUse",
    message: string,
  ) {
    super(message);
  }
}

/** A Callback step's answer as SendPipelineExecutionStep{Success,Failure} asks for it, checked. */
export interface StepAnswerRequest {
  token: string;
  outcome: "success" | "failure";
  clientRequestToken: string | undefined;
  /** Success only. */
  outputParameters: OutputParameter[] | undefined;
  /** Failure only, when given. */
  failureReason: string | undefined;
}

/** AWS's wording for a constraint violation, naming the field. */
function validation(field: string, constraint: string): SageMakerError {
  return new SageMakerError(
    "ValidationException",
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must ${constraint}`,
  );
}

export const requireString = makeRequireString((field) => validation(field, "not be null"));

/** SendPipelineExecutionStep{Success,Failure}'s fields: the token, the request token, the outputs or reason. */
export function checkStepAnswer(
  input: Record<string, unknown>,
  outcome: "success" | "failure",
): StepAnswerRequest {
  const token = requireString(input.CallbackToken, "callbackToken");
  if (token.length !== sageMakerLimits.callbackTokenLength || !/^[a-zA-Z0-9]+$/.test(token)) {
    throw validation(
      "callbackToken",
      `have length ${sageMakerLimits.callbackTokenLength} and match ^[a-zA-Z0-9]+$`,
    );
  }
  const clientRequestToken = optionalClientRequestToken(input.ClientRequestToken);
  let outputParameters: OutputParameter[] | undefined;
  let failureReason: string | undefined;
  if (outcome === "success") {
    outputParameters = checkOutputParameters(input.OutputParameters);
  } else if (input.FailureReason !== undefined) {
    failureReason = requireString(input.FailureReason, "failureReason", true);
    if (failureReason.length > sageMakerLimits.failureReasonLength) {
      throw validation(
        "failureReason",
        `have length less than or equal to ${sageMakerLimits.failureReasonLength}`,
      );
    }
  }
  return { token, outcome, clientRequestToken, outputParameters, failureReason };
}

/** StartPipelineExecution's optional display name. */
export function checkDisplayName(displayName: unknown): string | undefined {
  if (displayName === undefined) return undefined;
  const text = requireString(displayName, "pipelineExecutionDisplayName");
  if (text.length > sageMakerLimits.displayNameLength) {
    throw validation(
      "pipelineExecutionDisplayName",
      `have length less than or equal to ${sageMakerLimits.displayNameLength}`,
    );
  }
  return text;
}

function optionalClientRequestToken(value: unknown): string | undefined {
  return value === undefined ? undefined : requireClientRequestToken(value);
}

export function requireClientRequestToken(value: unknown): string {
  const token = requireString(value, "clientRequestToken");
  const { min, max } = sageMakerLimits.clientRequestTokenLength;
  if (token.length < min || token.length > max) {
    throw validation("clientRequestToken", `have length between ${min} and ${max}`);
  }
  return token;
}

function checkOutputParameters(value: unknown): OutputParameter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw validation("outputParameters", "be a list");
  if (value.length > sageMakerLimits.outputParameters) {
    throw validation(
      "outputParameters",
      `have length less than or equal to ${sageMakerLimits.outputParameters}`,
    );
  }
  return value.map((item: unknown, i) => {
    const parameter = (item ?? {}) as Record<string, unknown>;
    const name = requireString(parameter.Name, `outputParameters.${i + 1}.member.name`);
    const text = requireString(parameter.Value, `outputParameters.${i + 1}.member.value`, true);
    if (name.length > sageMakerLimits.outputNameLength) {
      throw validation(
        `outputParameters.${i + 1}.member.name`,
        `have length less than or equal to ${sageMakerLimits.outputNameLength}`,
      );
    }
    if (text.length > sageMakerLimits.outputValueLength) {
      throw validation(
        `outputParameters.${i + 1}.member.value`,
        `have length less than or equal to ${sageMakerLimits.outputValueLength}`,
      );
    }
    return { Name: name, Value: text };
  });
}

export function checkParameters(value: unknown): Parameter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw validation("pipelineParameters", "be a list");
  if (value.length > sageMakerLimits.pipelineParameters) {
    throw validation(
      "pipelineParameters",
      `have length less than or equal to ${sageMakerLimits.pipelineParameters}`,
    );
  }
  return value.map((item: unknown, i) => {
    const parameter = (item ?? {}) as Record<string, unknown>;
    return {
      Name: requireString(parameter.Name, `pipelineParameters.${i + 1}.member.name`),
      Value: requireString(parameter.Value, `pipelineParameters.${i + 1}.member.value`, true),
    };
  });
}
