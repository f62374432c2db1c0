import { expect } from "chai";
import { runExecution } from "../../local/runner/run";
import { changedStack, replaceFunctionCode } from "../support/fixture-stack";

describe("local mode on the dev stack with a function or rule changed by the test", function () {
  // The first run renders the stack under the mock engine; later runs reuse the render.
  this.timeout(120_000);

  it("stops a submit function at its timeout: the Lambda step fails then, and what it would do later never happens", async () => {
    // A submit function that waits past its deadline, then submits a job.
    const overstaying = `
      const { BatchClient, SubmitJobCommand } = require("@aws-sdk/client-batch");
      exports.handler = async (event, context) => {
        const batch = new BatchClient({});
        await new Promise((resolve) => setTimeout(resolve, context.getRemainingTimeInMillis() + 1000));
        await batch.send(new SubmitJobCommand({ jobName: "late", jobQueue: "late", jobDefinition: "late" }));
        return { jobRef: "late" };
      };`;
    const summary = await runExecution(
      { shards: 2 },
      {
        prepareDesign: changedStack((rendered) =>
          replaceFunctionCode(rendered, "batch-bridge-submit", overstaying),
        ),
      },
    );
    expect(summary).to.deep.include({
      outcome: "failed",
      failureReason: "Step SubmitBatchJobs failed: Task timed out after 300.00 seconds",
      executionSeconds: 300,
      lambdaTimeouts: { "batch-bridge-submit": 1 },
      lambdaErrors: { "batch-bridge-submit": 1 },
    });
    expect(summary.apiCalls.Batch).to.deep.equal({});
  });
});
