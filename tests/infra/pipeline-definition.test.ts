import { expect } from "chai";
import {
  bridgePipelineDefinition,
  buildPipelineDefinition,
  parameterRef,
  serializePipelineDefinition,
  stepOutputRef,
  type PipelineDefinition,
} from "../../infra/pipeline-definition";
import { compileSchema, relaxedPipelineSchema } from "../support/pipeline-schema";
import { callbackOutputNames, submitOutputNames } from "../../functions/step-contract";

const settings = {
  submitFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:batch-bridge-submit-1a2b3c4",
  callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
  inputUri: "s3://data-bucket/input/",
  outputUri: "s3://data-bucket/output/",
  defaultShardCount: 8,
};

/** Every `Get` string anywhere in the value. */
function references(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(references);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const own = typeof record.Get === "string" ? [record.Get] : [];
    return [...own, ...Object.values(record).flatMap(references)];
  }
  return [];
}

function stepNamed(definition: PipelineDefinition, name: string) {
  const step = definition.Steps.find((s) => s.Name === name);
  if (!step) throw new Error(`no step ${name}`);
  return step;
}

describe("pipeline definition", () => {
  const validate = compileSchema(relaxedPipelineSchema());
  const definition = bridgePipelineDefinition(settings);
  const text = serializePipelineDefinition(definition);

  it("validates against the official SageMaker pipeline definition schema", () => {
    const valid = validate(JSON.parse(text));
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).to.deep.equal([]);
    expect(valid).to.equal(true);
  });

  it("the schema check rejects a broken definition (so the check above means something)", () => {
    const broken = JSON.parse(text);
    broken.Steps[0].Type = "Lamda";
    expect(validate(broken)).to.equal(false);
  });

  it("declares InputUri, OutputUri and ShardCount with the stack's defaults", () => {
    expect(JSON.parse(text).Parameters).to.deep.equal([
      { DefaultValue: "s3://data-bucket/input/", Name: "InputUri", Type: "String" },
      { DefaultValue: "s3://data-bucket/output/", Name: "OutputUri", Type: "String" },
      { DefaultValue: 8, Name: "ShardCount", Type: "Integer" },
    ]);
  });

  it("resolves every Get to a parameter, an execution property or an earlier step's output", () => {
    const declared = new Set([
      ...definition.Parameters.map((p) => `Parameters.${p.Name}`),
      "Execution.PipelineExecutionArn",
    ]);
    const parsed = JSON.parse(text) as PipelineDefinition;
    const refs: string[] = [];
    for (const step of parsed.Steps) {
      for (const ref of references(step.Arguments)) {
        expect(declared.has(ref), `${step.Name} refers to ${ref}`).to.equal(true);
        refs.push(ref);
      }
      for (const output of step.OutputParameters ?? []) {
        declared.add(`Steps.${step.Name}.OutputParameters['${output.OutputName}']`);
      }
    }
    expect(refs).to.have.length(4 + submitOutputNames.length);
  });

  it("calls the submit function with the execution ARN and the three parameters", () => {
    const submit = stepNamed(JSON.parse(text), "SubmitBatchJobs");
    expect(submit).to.deep.include({ Type: "Lambda", FunctionArn: settings.submitFunctionArn });
    expect(submit.Arguments).to.deep.equal({
      executionArn: { Get: "Execution.PipelineExecutionArn" },
      inputUri: { Get: "Parameters.InputUri" },
      outputUri: { Get: "Parameters.OutputUri" },
      shardCount: { Get: "Parameters.ShardCount" },
    });
    expect(submit.OutputParameters).to.deep.equal(
      submitOutputNames.map((name) => ({ OutputName: name, OutputType: "String" })),
    );
  });

  it("sends the submit step's outputs to the callback queue and expects String outputs back, OutputUri among them", () => {
    const wait = stepNamed(JSON.parse(text), "WaitForBatchJobs");
    expect(wait).to.deep.include({ Type: "Callback", SqsQueueUrl: settings.callbackQueueUrl });
    expect(wait.Arguments).to.deep.equal({
      jobMode: { Get: "Steps.SubmitBatchJobs.OutputParameters['jobMode']" },
      jobRef: { Get: "Steps.SubmitBatchJobs.OutputParameters['jobRef']" },
      shardCount: { Get: "Steps.SubmitBatchJobs.OutputParameters['shardCount']" },
      jobName: { Get: "Steps.SubmitBatchJobs.OutputParameters['jobName']" },
      outputUri: { Get: "Steps.SubmitBatchJobs.OutputParameters['outputUri']" },
      minSuccessRatio: { Get: "Steps.SubmitBatchJobs.OutputParameters['minSuccessRatio']" },
    });
    expect(wait.OutputParameters).to.deep.equal(
      callbackOutputNames.map((name) => ({ OutputName: name, OutputType: "String" })),
    );
  });

  it("serializes the same definition to the same text whatever order its keys were built in", () => {
    const reordered = JSON.parse(text);
    const reversed = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reversed);
      if (value !== null && typeof value === "object") {
        return Object.fromEntries(
          Object.entries(value)
            .reverse()
            .map(([k, v]) => [k, reversed(v)]),
        );
      }
      return value;
    };
    expect(serializePipelineDefinition(reversed(reordered) as PipelineDefinition)).to.equal(text);
    expect(text.indexOf('"Parameters"')).to.be.lessThan(text.indexOf('"Steps"'));
    expect(text.indexOf('"Steps"')).to.be.lessThan(text.indexOf('"Version"'));
  });

  it("rejects a reference to an undeclared parameter or a later step's output", () => {
    expect(() =>
      buildPipelineDefinition({
        parameters: [],
        steps: [
          {
            type: "Callback",
            name: "Wait",
            sqsQueueUrl: settings.callbackQueueUrl,
            arguments: { a: parameterRef("Missing"), b: stepOutputRef("Later", "x") },
            outputs: [],
          },
          {
            type: "Lambda",
            name: "Later",
            functionArn: settings.submitFunctionArn,
            arguments: {},
            outputs: [{ name: "x", type: "String" }],
          },
        ],
      }),
    ).to.throw(/argument a refers to unknown "Parameters.Missing"[\s\S]*argument b refers to unknown/);
  });

  it("rejects names SageMaker does not accept and repeated names", () => {
    expect(() =>
      buildPipelineDefinition({
        parameters: [
          { name: "Input Uri", type: "String", defaultValue: "" },
          { name: "Twice", type: "String", defaultValue: "" },
          { name: "Twice", type: "Integer", defaultValue: 1 },
        ],
        steps: [],
      }),
    ).to.throw(/"Input Uri" is not a valid name[\s\S]*"Twice" is declared twice/);
  });
});
