import { expect } from "chai";
import { checkBatchBridgeStep, expandBatchBridgeStep } from "../../infra/batch-bridge-steps";
import { ConfigError, parseConfig, type StackSettings } from "../../infra/config";

/** The configuration error's message, or "" when the settings are accepted. */
function problems(settings: Record<string, unknown>): string {
  try {
    parseConfig(settings as StackSettings);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return "";
}

describe("minSuccessRatio at preview", () => {
  it("takes a ratio above 0 and at most 1, for the stack and for a job kind", () => {
    expect(problems({ minSuccessRatio: "0.9" })).to.equal("");
    const config = parseConfig({
      minSuccessRatio: "0.9",
      jobKinds: JSON.stringify({ gpu: { minSuccessRatio: 0.5 } }),
    });
    expect(config.kinds.map((kind) => [kind.name, kind.minSuccessRatio])).to.deep.equal([
      ["default", 0.9],
      ["gpu", 0.5],
    ]);
  });

  it("refuses a ratio outside 0 < r <= 1, naming the key", () => {
    for (const bad of ["0", "1.5", "-0.2"]) {
      expect(problems({ minSuccessRatio: bad })).to.include(
        "sagemaker-batch-bridge:minSuccessRatio must be a number greater than 0 and at most 1, e.g. 0.9, got",
      );
    }
    expect(problems({ jobKinds: JSON.stringify({ gpu: { minSuccessRatio: 2 } }) })).to.include(
      "sagemaker-batch-bridge:jobKinds.gpu.minSuccessRatio must be a number greater than 0 and at most 1",
    );
  });

  it("takes a ratio below 1 for a jobs-mode kind with completion events, whose events count failed shards", () => {
    expect(problems({ minSuccessRatio: "0.9", submitMode: "jobs" })).to.equal("");
    expect(
      problems({ jobKinds: JSON.stringify({ embed: { submitMode: "jobs", minSuccessRatio: 0.5 } }) }),
    ).to.equal("");
  });

  it("checks a BatchBridge step's MinSuccessRatio and hands it to the submit step", () => {
    const step = (ratio: unknown) => ({
      Name: "Embed",
      Type: "BatchBridge" as const,
      Arguments: {
        InputUri: "s3://data/input/",
        OutputUri: "s3://data/output/",
        ShardCount: 20,
        MinSuccessRatio: ratio,
      },
    });
    expect(checkBatchBridgeStep(step(1.5), ["default"])).to.deep.equal([
      "step Embed, Arguments.MinSuccessRatio: must be a number greater than 0 and at most 1, e.g. 0.9 or an expression, got 1.5.",
    ]);
    expect(checkBatchBridgeStep(step({ Get: "Parameters.Ratio" }), ["default"])).to.deep.equal([]);
    const [submit] = expandBatchBridgeStep(step("0.95") as never, {
      submitFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:submit",
      callbackQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks",
    });
    expect((submit.Arguments as Record<string, unknown>).minSuccessRatio).to.equal("0.95");
  });
});
