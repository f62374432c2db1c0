import { expect } from "chai";
import { bridgePipelineDefinition } from "../../../infra/pipeline-definition";
import {
  lambdaStepOutputs,
  resolveArguments,
  resolveParameters,
  type ExecutionScope,
} from "../../../local/runner/pipeline-interpreter";

const executionArn =
  "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge-dev/execution/was98kwzp9qr";
const definition = bridgePipelineDefinition({
  submitFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:batch-bridge-submit",
  callbackQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/batch-bridge-dev-callbacks",
  inputUri: "s3://data/input/",
  outputUri: "s3://data/output/",
  defaultShardCount: 8,
});

function scope(overrides: Partial<ExecutionScope> = {}): ExecutionScope {
  return {
    executionArn,
    executionId: "was98kwzp9qr",
    pipelineName: "batch-bridge-dev",
    parameters: resolveParameters(definition, {}),
    stepOutputs: {},
    ...overrides,
  };
}

describe("pipeline definitions as local mode runs them", () => {
  it("starts from the parameters' defaults, typed as declared, and applies the execution's values", () => {
    expect(resolveParameters(definition, {})).to.deep.equal({
      InputUri: "s3://data/input/",
      OutputUri: "s3://data/output/",
      ShardCount: 8,
    });
    expect(
      resolveParameters(definition, { ShardCount: "10000", InputUri: "s3://data/input/run-2" }),
    ).to.include({
      ShardCount: 10000,
      InputUri: "s3://data/input/run-2",
    });
  });

  it("refuses an unknown parameter or a value of the wrong type, naming it", () => {
    expect(() => resolveParameters(definition, { Shards: 4 })).to.throw(
      /the pipeline has no parameter Shards \(it has InputUri, OutputUri, ShardCount\)/,
    );
    expect(() => resolveParameters(definition, { ShardCount: "four" })).to.throw(
      /parameter ShardCount must be of type Integer, got "four"/,
    );
  });

  it("resolves the Lambda step's arguments: parameters and the execution ARN", () => {
    const [submit] = definition.Steps;
    expect(resolveArguments(submit.Arguments, scope(), submit.Name)).to.deep.equal({
      executionArn,
      inputUri: "s3://data/input/",
      outputUri: "s3://data/output/",
      shardCount: 8,
    });
  });

  it("resolves the Callback step's arguments from the Lambda step's outputs, and Std:Join", () => {
    const [, wait] = definition.Steps;
    const submitted = {
      jobMode: "array",
      jobRef: "a08ff49b",
      shardCount: "8",
      jobName: "bridge-dev-was98kwzp9qr",
      outputUri: "s3://data/output/",
    };
    const outputs = { SubmitBatchJobs: submitted };
    expect(resolveArguments(wait.Arguments, scope({ stepOutputs: outputs }), wait.Name)).to.deep.equal(
      submitted,
    );
    const joined = resolveArguments(
      {
        label: {
          "Std:Join": {
            On: "/",
            Values: [{ Get: "Execution.PipelineName" }, { Get: "Execution.PipelineExecutionId" }, 3],
          },
        },
      },
      scope(),
      "Label",
    );
    expect(joined).to.deep.equal({ label: "batch-bridge-dev/was98kwzp9qr/3" });
  });

  it("refuses a reference to a step that has not run or an output it does not have", () => {
    const [, wait] = definition.Steps;
    expect(() => resolveArguments(wait.Arguments, scope(), wait.Name)).to.throw(
      /step WaitForBatchJobs Arguments\.jobMode: step SubmitBatchJobs has not run before this step/,
    );
    expect(() =>
      resolveArguments(
        { x: { Get: "Steps.SubmitBatchJobs.OutputParameters['jobIds']" } },
        scope({ stepOutputs: { SubmitBatchJobs: {} } }),
        "S",
      ),
    ).to.throw(/step SubmitBatchJobs has no output jobIds/);
    expect(() => resolveArguments({ x: { Get: "Execution.StartTime" } }, scope(), "S")).to.throw(
      /Execution\.StartTime is not an execution property/,
    );
  });

  it("fails a Lambda step, as SageMaker does, on a missing output, a non-string, or a value over 1,024 characters", () => {
    const step = {
      Name: "SubmitBatchJobs",
      OutputParameters: [{ OutputName: "jobIds", OutputType: "String" }],
    };
    const ids = (count: number) =>
      Array.from({ length: count }, (_, i) => `${String(i).padStart(8, "0")}-6f77-4632-716c-43069c43a8c3`);
    expect(lambdaStepOutputs(step, { jobIds: ids(27).join(" ") })).to.deep.include({ ok: true });
    expect(lambdaStepOutputs(step, { jobIds: ids(28).join(" ") })).to.deep.equal({
      ok: false,
      reason:
        "Output jobIds of SubmitBatchJobs is 1035 characters long; a step output value holds at most 1024.",
    });
    expect(lambdaStepOutputs(step, {})).to.deep.equal({
      ok: false,
      reason: "The Lambda function's output has no jobIds, a declared output of SubmitBatchJobs.",
    });
    expect(lambdaStepOutputs(step, { jobIds: 3 })).to.deep.include({ ok: false });
  });
});
