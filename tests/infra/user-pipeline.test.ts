import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { BatchBridge as BatchBridgeType } from "../../infra/bridge";
import { AwsMocks } from "../../render/aws-mocks";
import { renderStack } from "../../render/render-stack";
import { plan } from "../../scripts/plan";
import { compileSchema, relaxedPipelineSchema } from "../support/pipeline-schema";

interface PlannedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** `npm run plan -- <argv>` in-process: its exit code and what it printed. */
async function runPlan(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await plan(argv, { out: (text) => (out += `${text}\n`), err: (text) => (err += `${text}\n`) });
  return { code, out, err };
}

/** The value of an Output, as a test reads it. */
function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

describe("a user's pipeline definition", () => {
  describe("npm run plan -- --stack example-pipeline", () => {
    let document: { resources: PlannedResource[]; outputs: Record<string, unknown> };
    let definition: { Steps: { Name: string; Type: string; FunctionArn?: string; SqsQueueUrl?: string }[] };
    before(async () => {
      const run = await runPlan(["--stack", "example-pipeline", "--json"]);
      expect(run.code, run.err).to.equal(0);
      document = JSON.parse(run.out);
      const pipeline = document.resources.find((r) => r.type === "aws:sagemaker/pipeline:Pipeline")!;
      definition = JSON.parse(pipeline.inputs.pipelineDefinition as string);
    });

    it("plans the pipeline with a definition AWS's schema accepts", () => {
      const validate = compileSchema(relaxedPipelineSchema());
      const valid = validate(definition);
      expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).to.deep.equal([]);
      expect(valid).to.equal(true);
    });

    it("makes each BatchBridge step the bridge's two steps, on the stack's function and queue", () => {
      expect(definition.Steps.map((s) => [s.Name, s.Type])).to.deep.equal([
        ["Tokenize-Submit", "Lambda"],
        ["Tokenize", "Callback"],
        ["Embed-Submit", "Lambda"],
        ["Embed", "Callback"],
        ["CheckEmbeddings", "Condition"],
      ]);
      for (const submit of definition.Steps.filter((s) => s.Type === "Lambda")) {
        expect(submit.FunctionArn).to.equal(document.outputs.submitFunctionArn);
      }
      for (const wait of definition.Steps.filter((s) => s.Type === "Callback")) {
        expect(wait.SqsQueueUrl).to.equal(document.outputs.callbackQueueUrl);
      }
    });

    it("gives each of the two job kinds its own job definition", () => {
      const names = document.resources
        .filter((r) => r.type === "aws:batch/jobDefinition:JobDefinition")
        .map((r) => r.inputs.name);
      expect(names).to.have.members([
        "example-pipeline-job",
        "example-pipeline-job-tokenize",
        "example-pipeline-job-embed",
      ]);
    });
  });

  describe("a definition with a mistake", () => {
    let directory: string;
    before(() => {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), "bridge-pipeline-"));
    });
    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    it("fails the program before anything is created, naming the file, the step and the field", async () => {
      const file = path.join(directory, "definition.json");
      const embed = {
        Name: "Embed",
        Type: "BatchBridge",
        Arguments: {
          JobKind: "gpu",
          InputUri: "s3://data-bucket/input/",
          OutputUri: "s3://data-bucket/output/",
          ShardCount: 2,
        },
      };
      fs.writeFileSync(file, JSON.stringify({ Version: "2020-12-01", Steps: [embed] }));
      const relative = path.relative(process.cwd(), file);

      const error = await renderStack({
        stack: "dev",
        config: { pipelineDefinitionFile: relative, jobKinds: JSON.stringify({ embed: {} }) },
      }).then(
        () => expect.fail("the stack rendered"),
        (e: Error) => e,
      );

      expect(error.message).to.equal(
        `Invalid pipeline definition ${relative}:\n` +
          "  - step Embed, Arguments.JobKind: must be one of the stack's job kinds (default or embed) " +
          'or an expression, got "gpu".',
      );
    });
  });

  describe("built in code, through the BatchBridge component", () => {
    const resources: PlannedResource[] = [];
    let bridge: BatchBridgeType;
    let BatchBridge: typeof BatchBridgeType;
    const config = { pipelineName: "team-pipeline", jobKinds: { embed: { vcpu: 4, memoryMiB: 8192 } } };
    const definition = {
      Version: "2020-12-01",
      Steps: [
        {
          Name: "Embed",
          Type: "BatchBridge",
          Arguments: {
            JobKind: "embed",
            InputUri: "s3://bucket/input/",
            OutputUri: "s3://bucket/output/",
            ShardCount: 2,
          },
        },
      ],
    };
    before(async () => {
      await pulumi.runtime.setMocks(
        new AwsMocks("eu-west-1", (args) =>
          resources.push({ type: args.type, name: args.name, inputs: args.inputs }),
        ),
        "sagemaker-batch-bridge",
        "code",
        false,
      );
      ({ BatchBridge } = await import("../../infra/bridge"));
      bridge = new BatchBridge("bridge", { config, pipelineDefinition: definition });
    });

    it("deploys a definition given as an object, its BatchBridge steps expanded", async () => {
      await promiseOf(bridge.pipelineArn);
      const pipeline = resources.find((r) => r.type === "aws:sagemaker/pipeline:Pipeline")!;
      const steps = JSON.parse(pipeline.inputs.pipelineDefinition as string).Steps;
      expect(steps.map((s: { Name: string }) => s.Name)).to.deep.equal(["Embed-Submit", "Embed"]);
    });

    it("returns the two steps of a BatchBridge step for a definition the program builds itself", async () => {
      const steps = await promiseOf(
        bridge.batchBridgeSteps({
          Name: "Score",
          Arguments: {
            InputUri: { Get: "Parameters.InputUri" },
            OutputUri: "s3://bucket/output/scores/",
            ShardCount: 8,
          },
          DependsOn: ["Train"],
        }),
      );
      expect(steps.map((s) => [s.Name, s.Type, s.DependsOn])).to.deep.equal([
        ["Score-Submit", "Lambda", ["Train"]],
        ["Score", "Callback", undefined],
      ]);
      expect(steps[0].FunctionArn).to.equal(await promiseOf(bridge.submitFunctionArn));
      expect(steps[1].SqsQueueUrl).to.equal(await promiseOf(bridge.callbackQueueUrl));
    });

    it("checks those steps as a definition file's are, when the program asks for them", () => {
      expect(() =>
        bridge.batchBridgeSteps({
          Name: "Score",
          Arguments: {
            JobKind: "gpu",
            InputUri: "s3://bucket/input/",
            OutputUri: "s3://bucket/output/",
            ShardCount: 8,
          },
        }),
      ).to.throw(
        "Invalid pipeline definition step Score:\n  - step Score, Arguments.JobKind: must be one of the " +
          'stack\'s job kinds (default or embed) or an expression, got "gpu".',
      );
    });

    it("refuses a definition in code and a definition file at once", () => {
      expect(
        () =>
          new BatchBridge("both", {
            config: { ...config, pipelineDefinitionFile: "examples/pipelines/two-kinds.json" },
            pipelineDefinition: definition,
          }),
      ).to.throw(
        "sagemaker-batch-bridge:pipelineDefinitionFile and the pipelineDefinition argument both give a " +
          "pipeline definition: give one.",
      );
    });
  });
});
