import { expect } from "chai";
import { bridgePipelineDefinition } from "../../../infra/pipeline-definition";
import {
  conditionsHold,
  executionPlan,
  failStepMessage,
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
      minSuccessRatio: "1",
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
    expect(() =>
      resolveArguments(
        { x: { Get: "Steps.Train.Properties.ModelArtifacts.S3ModelArtifacts" } },
        scope(),
        "S",
      ),
    ).to.throw(/steps of other types run simulated, without properties/);
  });

  it("reads a Transform step's properties, as DescribeTransformJob returns them, for later steps", () => {
    const transformed = scope({
      stepProperties: {
        TransformRecords: {
          TransformJobName: "pipelines-was98kwzp9qr-TransformRecords-transform",
          TransformOutput: { S3OutputPath: "s3://data/output/" },
          Environment: { MODE: "fast" },
          Tags: [{ Key: "team", Value: "ml" }],
        },
      },
    });
    const args = {
      name: { Get: "Steps.TransformRecords.TransformJobName" },
      output: { Get: "Steps.TransformRecords.TransformOutput.S3OutputPath" },
      mode: { Get: "Steps.TransformRecords.Environment['MODE']" },
      team: { Get: "Steps.TransformRecords.Tags[0].Value" },
      joined: {
        "Std:Join": { On: "", Values: [{ Get: "Steps.TransformRecords.TransformOutput.S3OutputPath" }, "x"] },
      },
    };
    expect(resolveArguments(args, transformed, "Report")).to.deep.equal({
      name: "pipelines-was98kwzp9qr-TransformRecords-transform",
      output: "s3://data/output/",
      mode: "fast",
      team: "ml",
      joined: "s3://data/output/x",
    });
    expect(() =>
      resolveArguments({ x: { Get: "Steps.TransformRecords.TransformOutput.KmsKeyId" } }, transformed, "S"),
    ).to.throw(/step TransformRecords has no property TransformOutput\.KmsKeyId/);
    expect(() =>
      resolveArguments({ x: { Get: "Steps.TransformRecords.TransformOutput" } }, transformed, "S"),
    ).to.throw(/property TransformOutput of step TransformRecords is not a single value/);
    expect(
      executionPlan({
        Steps: [
          { Name: "Report", Type: "Fail", Arguments: args },
          { Name: "TransformRecords", Type: "Transform", Arguments: {} },
        ],
      }).map((p) => p.step.Name),
    ).to.deep.equal(["TransformRecords", "Report"]);
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

describe("a user's pipeline definition as local mode runs it", () => {
  const step = (Name: string, fields: Record<string, unknown> = {}) => ({
    Name,
    Type: "Training",
    ...fields,
  });
  const order = (steps: unknown[]) => executionPlan({ Steps: steps }).map((p) => p.step.Name);
  const outputScope = scope({
    parameters: { ShardCount: 4, Threshold: 0.5, Region: "eu-west-1" },
    stepOutputs: { Embed: { SucceededShards: "4", ShardCount: "4", Status: "Succeeded" } },
  });
  const holds = (...conditions: unknown[]) =>
    conditionsHold({ Name: "Check", Type: "Condition", Arguments: { Conditions: conditions } }, outputScope);
  const embed = (output: string) => ({ Get: `Steps.Embed.OutputParameters['${output}']` });

  it("runs a step after the steps of its DependsOn and the steps its references read, listed order otherwise", () => {
    expect(
      order([
        step("Report", { Arguments: { Uri: embed("OutputUri") } }),
        step("Embed", { DependsOn: ["Tokenize"] }),
        step("Tokenize"),
        step("Audit"),
      ]),
    ).to.deep.equal(["Tokenize", "Embed", "Report", "Audit"]);
  });

  it("runs the steps of a Condition step's branches after it, each marked with its branch", () => {
    const plan = executionPlan({
      Steps: [
        {
          Name: "Check",
          Type: "Condition",
          Arguments: {
            Conditions: [{ Type: "Equals", LeftValue: embed("Status"), RightValue: "Succeeded" }],
            IfSteps: [step("Publish")],
            ElseSteps: [{ Name: "Missing", Type: "Fail", Arguments: { ErrorMessage: "no" } }],
          },
        },
        step("Embed"),
      ],
    });
    expect(plan.map((p) => [p.step.Name, p.dependsOn, p.branchOf?.branch])).to.deep.equal([
      ["Embed", [], undefined],
      ["Check", ["Embed"], undefined],
      ["Publish", ["Check"], "IfSteps"],
      ["Missing", ["Check"], "ElseSteps"],
    ]);
  });

  it("refuses steps that wait on each other or on a step the definition has not, naming them", () => {
    expect(() =>
      order([step("A", { DependsOn: ["B"] }), step("B", { DependsOn: ["A"] }), step("C")]),
    ).to.throw("Steps A, B depend on each other: none of them can start.");
    expect(() =>
      order([step("A", { Arguments: { x: { Get: "Steps.Gone.OutputParameters['o']" } } })]),
    ).to.throw("Step A depends on step Gone, which the definition has not.");
  });

  it("compares a Callback step's String outputs with each other and with numbers, as Equals and NotEquals", () => {
    expect(
      holds({ Type: "Equals", LeftValue: embed("SucceededShards"), RightValue: embed("ShardCount") }),
    ).to.equal(true);
    expect(holds({ Type: "Equals", LeftValue: embed("SucceededShards"), RightValue: 5 })).to.equal(false);
    expect(
      holds({
        Type: "Equals",
        LeftValue: embed("SucceededShards"),
        RightValue: { Get: "Parameters.ShardCount" },
      }),
    ).to.equal(true);
    expect(holds({ Type: "NotEquals", LeftValue: embed("Status"), RightValue: "Failed" })).to.equal(true);
  });

  it("orders numbers with GreaterThan, GreaterThanOrEqualTo, LessThan and LessThanOrEqualTo, and refuses text", () => {
    const compare = (Type: string, LeftValue: unknown, RightValue: unknown) =>
      holds({ Type, LeftValue, RightValue });
    expect(compare("GreaterThan", embed("SucceededShards"), 3)).to.equal(true);
    expect(compare("GreaterThan", embed("SucceededShards"), 4)).to.equal(false);
    expect(compare("GreaterThanOrEqualTo", embed("SucceededShards"), 4)).to.equal(true);
    expect(compare("LessThan", { Get: "Parameters.Threshold" }, 0.75)).to.equal(true);
    expect(compare("LessThanOrEqualTo", 0.75, { Get: "Parameters.Threshold" })).to.equal(false);
    expect(() => compare("LessThan", embed("Status"), 3)).to.throw(
      'step Check Arguments.Conditions[0]: LessThan compares numbers, got "Succeeded" and 3.',
    );
  });

  it("evaluates In in both spellings, Not and Or, and requires every one of the step's conditions", () => {
    expect(
      holds({ Type: "In", QueryValue: { Get: "Parameters.Region" }, Values: ["us-east-1", "eu-west-1"] }),
    ).to.equal(true);
    expect(holds({ Type: "In", Value: embed("Status"), In: ["Failed", "Stopped"] })).to.equal(false);
    expect(holds({ Type: "NotIn", Value: embed("Status"), In: ["Failed"] })).to.equal(true);
    const isSucceeded = { Type: "Equals", LeftValue: embed("Status"), RightValue: "Succeeded" };
    expect(holds({ Type: "Not", Expression: isSucceeded })).to.equal(false);
    expect(
      holds({ Type: "Or", Conditions: [{ Type: "Not", Expression: isSucceeded }, isSucceeded] }),
    ).to.equal(true);
    expect(
      holds(isSucceeded, { Type: "GreaterThan", LeftValue: embed("ShardCount"), RightValue: 4 }),
    ).to.equal(false);
  });

  it("refuses a condition type SageMaker does not have, or a reference to a step that has not run", () => {
    expect(() => holds({ Type: "Contains", LeftValue: "a", RightValue: "b" })).to.throw(
      /"Contains" is not a condition type \(Equals, NotEquals/,
    );
    expect(() =>
      holds({
        Type: "Equals",
        LeftValue: { Get: "Steps.Tokenize.OutputParameters['Status']" },
        RightValue: "x",
      }),
    ).to.throw("step Check Arguments.Conditions[0].LeftValue: step Tokenize has not run before this step");
  });

  it("gives a Fail step's ErrorMessage resolved, Std:Join and references included", () => {
    const fail = {
      Name: "Missing",
      Type: "Fail",
      Arguments: {
        ErrorMessage: {
          "Std:Join": {
            On: " ",
            Values: ["Only", embed("SucceededShards"), "of", { Get: "Parameters.ShardCount" }, "shards."],
          },
        },
      },
    };
    expect(failStepMessage(fail, outputScope)).to.equal("Only 4 of 4 shards.");
    expect(failStepMessage({ Name: "Bare", Type: "Fail", Arguments: {} }, outputScope)).to.equal("");
  });
});
