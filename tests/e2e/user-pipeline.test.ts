import { expect } from "chai";
import { runExecution, type Summary } from "../../local/runner/run";
import type { RenderedStack } from "../../render/rendered-stack";
import { changedStack } from "../support/fixture-stack";

const stack = "example-pipeline";

/** The steps of a run as `name status`, in the order they ran. */
function stepStatuses(summary: Summary): string[] {
  return summary.steps.map((step) => `${step.name} ${step.status}`);
}

/** The example stack with its Condition step changed by `change` (the rendered definition, as SageMaker gets it). */
function withCondition(change: (condition: Record<string, unknown>) => void) {
  return changedStack((rendered: RenderedStack) => {
    const index = rendered.resources.findIndex((r) => r.type === "aws:sagemaker/pipeline:Pipeline");
    const pipeline = rendered.resources[index];
    const definition = JSON.parse(String(pipeline.inputs.pipelineDefinition)) as {
      Steps: { Name: string; Arguments: Record<string, unknown> }[];
    };
    change(definition.Steps.find((s) => s.Name === "CheckEmbeddings")!.Arguments);
    const pipelineDefinition = JSON.stringify(definition);
    rendered.resources[index] = {
      ...pipeline,
      inputs: { ...pipeline.inputs, pipelineDefinition },
      state: { ...pipeline.state, pipelineDefinition },
    };
  });
}

describe("local mode on the example-pipeline stack: a definition of its own with two job kinds", function () {
  // The first run renders the stack under the mock engine; later runs reuse the render.
  this.timeout(180_000);

  /** The example stack's own execution: the run that the step-duration test compares with. */
  let plain: Summary;

  before(async () => {
    plain = await runExecution({ stack, shards: 2 });
  });

  it("runs both bridge steps on their kinds' job definitions (which local Batch must know), then the Condition step, which skips the Fail step", () => {
    expect(plain).to.deep.include({ outcome: "succeeded", expected: true, jobsLeftRunning: 0 });
    expect(stepStatuses(plain)).to.deep.equal([
      "Tokenize-Submit Succeeded",
      "Tokenize Succeeded",
      "Embed-Submit Succeeded",
      "Embed Succeeded",
      "CheckEmbeddings Succeeded",
      "EmbeddingsMissing Not run",
    ]);
    expect(plain.steps[4].detail).to.equal("true: IfSteps");
    // Tokenize: one array job of 2 children (the stack's default mode); Embed: 2 jobs (its kind's jobs mode);
    // a job definition local Batch did not know would have failed its SubmitJob.
    expect(plain.jobsByState.SUCCEEDED).to.equal(4);
    expect(plain.apiCalls.Batch.SubmitJob).to.equal(3);
    // Embed wrote where the definition's Std:Join put it, under the execution's ID.
    expect(plain.stepOutputs).to.deep.include({
      Status: "SUCCEEDED",
      SucceededShards: "2",
      ShardCount: "2",
    });
    expect(plain.stepOutputs!.OutputUri).to.match(
      /^s3:\/\/example-pipeline-data\/output\/embeddings\/[a-z0-9]{12}\/$/,
    );
  });

  it("fails the execution with the Fail step's message when the Condition step chooses it", async () => {
    const summary = await runExecution(
      { stack, shards: 2 },
      {
        prepareDesign: withCondition(
          (args) => ((args.Conditions as { RightValue: unknown }[])[0].RightValue = 5),
        ),
      },
    );
    expect(summary).to.deep.include({
      outcome: "failed",
      expected: false,
      failureReason: "Not every shard of Embed wrote its embeddings.",
      jobsLeftRunning: 0,
    });
    expect(stepStatuses(summary).slice(-2)).to.deep.equal([
      "CheckEmbeddings Succeeded",
      "EmbeddingsMissing Failed",
    ]);
    expect(summary.steps[4].detail).to.equal("false: ElseSteps");
  });

  it("runs a step of another type in the chosen branch for --step-duration", async () => {
    const summary = await runExecution(
      { stack, shards: 2, stepDurationSeconds: 300 },
      {
        prepareDesign: withCondition((args) => {
          args.IfSteps = [{ Name: "Publish", Type: "RegisterModel", Arguments: {} }];
        }),
      },
    );
    expect(summary).to.deep.include({ outcome: "succeeded", expected: true });
    expect(stepStatuses(summary).slice(-2)).to.deep.equal(["Publish Succeeded", "EmbeddingsMissing Not run"]);
    expect(summary.executionSeconds - plain.executionSeconds).to.equal(300);
  });

  it("stops during the second bridge step: its jobs are terminated and no later step runs", async () => {
    // Tokenize's 2-minute jobs end after about 2.5 minutes; Embed's run from then on.
    const summary = await runExecution({ stack, shards: 2, stopAfterSeconds: 240 });
    expect(summary).to.deep.include({ outcome: "stopped", expected: true, jobsLeftRunning: 0 });
    expect(stepStatuses(summary)).to.deep.equal([
      "Tokenize-Submit Succeeded",
      "Tokenize Succeeded",
      "Embed-Submit Succeeded",
      "Embed Stopped",
      "CheckEmbeddings Not run",
      "EmbeddingsMissing Not run",
    ]);
    expect(summary.resumeLatencyFrom).to.equal("stop requested");
  });

  it("fails at the first bridge step when one of its shards fails, and runs no later step", async () => {
    const summary = await runExecution({ stack, shards: 2, failShards: [1] });
    expect(summary).to.deep.include({ outcome: "failed", expected: true, jobsLeftRunning: 0 });
    expect(summary.failureReason).to.include("injected failure of shard 1");
    expect(stepStatuses(summary)).to.deep.equal([
      "Tokenize-Submit Succeeded",
      "Tokenize Failed",
      "Embed-Submit Not run",
      "Embed Not run",
      "CheckEmbeddings Not run",
      "EmbeddingsMissing Not run",
    ]);
  });
});
