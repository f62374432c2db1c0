import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { callbackOutputNames, submitOutputNames } from "../../functions/step-contract";
import {
  planPipelineDefinition,
  type PipelineDocument,
  type StepDocument,
} from "../../infra/batch-bridge-steps";
import { readPipelineDefinitionFile } from "../../infra/pipeline";
import { compileSchema, relaxedPipelineSchema } from "../support/pipeline-schema";

const targets = {
  submitFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:batch-bridge-submit-1a2b3c4",
  callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
};
const jobKinds = ["default", "tokenize", "embed"];
const options = { jobKinds, source: "pipelines/test.json" };

/** A definition with these steps and an InputUri parameter. */
function definition(...steps: Record<string, unknown>[]): Record<string, unknown> {
  return {
    Version: "2020-12-01",
    Parameters: [{ Name: "InputUri", Type: "String", DefaultValue: "s3://data-bucket/input/docs/" }],
    Steps: steps,
  };
}

/** A BatchBridge step; `args` are set over valid arguments (undefined removes one). */
function bridgeStep(name: string, args: Record<string, unknown> = {}, more: Record<string, unknown> = {}) {
  const all: Record<string, unknown> = {
    InputUri: { Get: "Parameters.InputUri" },
    OutputUri: `s3://data-bucket/output/${name.toLowerCase()}/`,
    ShardCount: 4,
    ...args,
  };
  for (const key of Object.keys(all)) if (all[key] === undefined) delete all[key];
  return { Name: name, Type: "BatchBridge", Arguments: all, ...more };
}

function expanded(document: Record<string, unknown>): PipelineDocument {
  return planPipelineDefinition(document, options).expand(targets);
}

function step(document: PipelineDocument, name: string): StepDocument {
  const found = document.Steps.find((s) => s.Name === name);
  expect(found, `step ${name}`).to.not.equal(undefined);
  return found!;
}

/** The problems a definition is refused with (fails the test when it is accepted). */
function problemsOf(document: unknown): string {
  try {
    planPipelineDefinition(document, options);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the definition was accepted");
}

describe("BatchBridge steps in a pipeline definition", () => {
  describe("expanded", () => {
    const tokenize = bridgeStep(
      "Tokenize",
      { JobKind: "tokenize" },
      { DependsOn: ["Prepare"], Description: "Tokens." },
    );
    const prepare = { Name: "Prepare", Type: "Fail", Arguments: { ErrorMessage: "stand-in" } };
    const result = expanded(definition(prepare, tokenize));

    it("becomes a Lambda step <Name>-Submit calling the submit function, which keeps the step's DependsOn", () => {
      expect(step(result, "Tokenize-Submit")).to.deep.equal({
        Name: "Tokenize-Submit",
        Type: "Lambda",
        DependsOn: ["Prepare"],
        FunctionArn: targets.submitFunctionArn,
        Arguments: {
          executionArn: { Get: "Execution.PipelineExecutionArn" },
          inputUri: { Get: "Parameters.InputUri" },
          outputUri: "s3://data-bucket/output/tokenize/",
          shardCount: 4,
          jobKind: "tokenize",
          stepName: "Tokenize",
        },
        OutputParameters: submitOutputNames.map((name) => ({ OutputName: name, OutputType: "String" })),
      });
    });

    it("and a Callback step <Name> that waits on the callback queue and returns OutputUri and SucceededShards", () => {
      const wait = step(result, "Tokenize");
      expect(wait).to.deep.include({
        Type: "Callback",
        SqsQueueUrl: targets.callbackQueueUrl,
        Description: "Tokens.",
      });
      expect(wait.Arguments).to.deep.equal(
        Object.fromEntries(
          submitOutputNames.map((name) => [
            name,
            { Get: `Steps.Tokenize-Submit.OutputParameters['${name}']` },
          ]),
        ),
      );
      expect(wait.OutputParameters).to.deep.equal(
        callbackOutputNames.map((name) => ({ OutputName: name, OutputType: "String" })),
      );
      expect(callbackOutputNames).to.include.members(["OutputUri", "SucceededShards"]);
    });

    it("in place, leaving the other steps as written", () => {
      expect(result.Steps.map((s) => s.Name)).to.deep.equal(["Prepare", "Tokenize-Submit", "Tokenize"]);
      expect(step(result, "Prepare")).to.deep.equal(prepare);
      expect(result.Parameters).to.deep.equal(definition().Parameters);
    });

    it("passes expressions through for SageMaker to resolve, and leaves JobKind out when the step gives none", () => {
      const join = {
        "Std:Join": {
          On: "",
          Values: ["s3://data-bucket/output/x/", { Get: "Execution.PipelineExecutionId" }],
        },
      };
      const submit = step(
        expanded(
          definition(bridgeStep("Embed", { OutputUri: join, ShardCount: { Get: "Parameters.InputUri" } })),
        ),
        "Embed-Submit",
      );
      expect(submit.Arguments).to.deep.include({
        outputUri: join,
        shardCount: { Get: "Parameters.InputUri" },
      });
      expect(submit.Arguments).to.not.have.property("jobKind");
    });

    it("inside a Condition step's branches too", () => {
      const condition = {
        Name: "Check",
        Type: "Condition",
        Arguments: {
          Conditions: [{ Type: "Equals", LeftValue: { Get: "Parameters.InputUri" }, RightValue: "x" }],
          IfSteps: [bridgeStep("Again")],
          ElseSteps: [{ Name: "Stop", Type: "Fail", Arguments: { ErrorMessage: "no" } }],
        },
      };
      const branches = step(expanded(definition(condition)), "Check").Arguments as Record<
        string,
        StepDocument[]
      >;
      expect(branches.IfSteps.map((s) => [s.Name, s.Type])).to.deep.equal([
        ["Again-Submit", "Lambda"],
        ["Again", "Callback"],
      ]);
      expect(branches.ElseSteps.map((s) => s.Name)).to.deep.equal(["Stop"]);
    });

    it("names the steps whose permissions the bridge's pipeline role does not hold", () => {
      const processing = { Name: "Report", Type: "Processing", Arguments: {} };
      expect(
        planPipelineDefinition(definition(tokenize, prepare, processing), options)
          .stepsNeedingOtherPermissions,
      ).to.deep.equal(["Report"]);
    });
  });

  describe("refused at preview, naming the step and the field", () => {
    const cases: [string, unknown, string][] = [
      ["a document that is no object", [], "must be a JSON object with Version and Steps, got []."],
      [
        "another definition version",
        { ...definition(bridgeStep("A")), Version: "2021-01-01" },
        'Version must be "2020-12-01", got "2021-01-01".',
      ],
      [
        "an argument a BatchBridge step does not take",
        definition(bridgeStep("Embed", { JobKnid: "embed" })),
        "step Embed, Arguments.JobKnid: not an argument of a BatchBridge step (JobKind, InputUri, OutputUri, ShardCount, MinSuccessRatio and Engine).",
      ],
      [
        "a missing argument",
        definition(bridgeStep("Embed", { ShardCount: undefined })),
        "step Embed, Arguments.ShardCount: missing; a BatchBridge step needs InputUri, OutputUri and ShardCount.",
      ],
      [
        "a job kind the stack does not declare",
        definition(bridgeStep("Embed", { JobKind: "gpu" })),
        'step Embed, Arguments.JobKind: must be one of the stack\'s job kinds (default, tokenize or embed) or an expression, got "gpu".',
      ],
      [
        "a shard count out of range",
        definition(bridgeStep("Embed", { ShardCount: 10_001 })),
        "step Embed, Arguments.ShardCount: must be a whole number from 1 to 10,000 or an expression, got 10001.",
      ],
      [
        "a URI that is not S3's",
        definition(bridgeStep("Embed", { InputUri: "/data/docs" })),
        'step Embed, Arguments.InputUri: must be an S3 URI (s3://bucket/prefix/) or an expression, got "/data/docs".',
      ],
      [
        "a field a BatchBridge step does not have",
        definition(bridgeStep("Embed", {}, { RetryPolicies: [] })),
        "step Embed, RetryPolicies: a BatchBridge step has only Name, Type, Arguments, DependsOn, DisplayName and Description.",
      ],
      [
        "a name taken twice once expanded",
        definition(bridgeStep("Embed"), { Name: "Embed-Submit", Type: "Fail", Arguments: {} }),
        'step Embed-Submit: the name "Embed-Submit" is also taken by step Embed (its Lambda step Embed-Submit).',
      ],
      [
        "a name too long once expanded",
        definition(bridgeStep("E".repeat(60))),
        `step ${"E".repeat(60)}, Name: at most 57 characters, so that its Lambda step "${"E".repeat(60)}-Submit" is within SageMaker's 64, got 60.`,
      ],
      [
        "a reference to a missing step",
        definition(
          bridgeStep("Embed", { InputUri: { Get: "Steps.Tokenise.OutputParameters['OutputUri']" } }),
        ),
        "step Embed, Arguments.InputUri: refers to step Tokenise, which the definition does not have.",
      ],
      [
        "a reference to an output the step does not have",
        definition(
          bridgeStep("Tokenize"),
          bridgeStep("Embed", { InputUri: { Get: "Steps.Tokenize.OutputParameters['outputUri']" } }),
        ),
        "step Embed, Arguments.InputUri: refers to output outputUri of step Tokenize, which has Status, " +
          "SucceededShards, ShardCount, JobRef, OutputUri, FailedShards and ReportUri.",
      ],
      [
        "a reference to a missing parameter",
        definition(bridgeStep("Embed", { ShardCount: { Get: "Parameters.Shards" } })),
        "step Embed, Arguments.ShardCount: refers to parameter Shards, which the definition does not declare (InputUri).",
      ],
      [
        "a DependsOn naming no step",
        definition(bridgeStep("Embed", {}, { DependsOn: ["Tokenize"] })),
        'step Embed, DependsOn: "Tokenize" is not a step of this definition.',
      ],
      [
        "a reference from another step to a missing output of a bridge step",
        definition(bridgeStep("Embed"), {
          Name: "Stop",
          Type: "Fail",
          Arguments: { ErrorMessage: { Get: "Steps.Embed.OutputParameters['Output']" } },
        }),
        "step Stop, Arguments.ErrorMessage: refers to output Output of step Embed, which has",
      ],
    ];
    for (const [what, document, expected] of cases) {
      it(what, () => {
        const message = problemsOf(document);
        expect(message).to.match(/^Invalid pipeline definition pipelines\/test.json:\n {2}- /);
        expect(message).to.contain(expected);
      });
    }

    it("every problem at once", () => {
      const message = problemsOf(
        definition(bridgeStep("Embed", { JobKind: "gpu", ShardCount: 0 }, { DependsOn: ["Nothing"] })),
      );
      expect(message.split("\n  - ")).to.have.length(4);
    });
  });

  describe("read from a file", () => {
    let directory: string;
    before(() => {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), "bridge-definition-"));
    });
    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    it("names the key, the file, and the line and column where it stops being JSON", () => {
      fs.writeFileSync(
        path.join(directory, "broken.json"),
        '{\n  "Version": "2020-12-01",\n  "Steps": [1 2]\n}\n',
      );
      expect(() => readPipelineDefinitionFile("broken.json", directory)).to.throw(
        /^sagemaker-batch-bridge:pipelineDefinitionFile names broken.json, which is not JSON at line 3, column 15: Expected ',' or ']'/,
      );
    });

    it("names the key and the file when there is no such file", () => {
      expect(() => readPipelineDefinitionFile("missing.json", directory)).to.throw(
        /^sagemaker-batch-bridge:pipelineDefinitionFile names missing.json, which cannot be read \(ENOENT/,
      );
    });
  });

  describe("the example definition (examples/pipelines/two-kinds.json)", () => {
    const file = path.join(__dirname, "..", "..", "examples", "pipelines", "two-kinds.json");
    const document = JSON.parse(fs.readFileSync(file, "utf8"));
    const result = planPipelineDefinition(document, options).expand(targets);
    const validate = compileSchema(relaxedPipelineSchema());

    it("expands into a definition AWS's schema accepts", () => {
      const valid = validate(JSON.parse(JSON.stringify(result)));
      expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).to.deep.equal([]);
      expect(valid).to.equal(true);
    });

    it("the schema check rejects the definition as written (so the check above means something)", () => {
      expect(validate(document)).to.equal(false);
    });

    it("runs two bridge steps of different kinds, the second reading the first's output", () => {
      const submits = result.Steps.filter((s) => s.Type === "Lambda");
      expect(submits.map((s) => [s.Name, (s.Arguments as Record<string, unknown>).jobKind])).to.deep.equal([
        ["Tokenize-Submit", "tokenize"],
        ["Embed-Submit", "embed"],
      ]);
      expect((step(result, "Embed-Submit").Arguments as Record<string, unknown>).inputUri).to.deep.equal({
        Get: "Steps.Tokenize.OutputParameters['OutputUri']",
      });
    });

    it("holds a Condition step and a Fail step", () => {
      const condition = step(result, "CheckEmbeddings");
      expect(condition.Type).to.equal("Condition");
      expect(
        (condition.Arguments as { ElseSteps: StepDocument[] }).ElseSteps.map((s) => s.Type),
      ).to.deep.equal(["Fail"]);
    });
  });
});
