import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { BatchBridge as BatchBridgeType } from "../../infra/bridge";
import { AwsMocks } from "../../render/aws-mocks";
import { renderStack } from "../../render/render-stack";

interface PlannedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** The value of an Output, as a test reads it. */
function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

describe("a user's pipeline definition", () => {
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
