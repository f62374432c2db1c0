import { expect } from "chai";
import { runExecution } from "../../local/runner/run";
import {
  addEventRecorder,
  changedStack,
  clearRecordedEvents,
  recordedEvents,
  replaceFunctionCode,
} from "../support/fixture-stack";

/** The dev stack's pipeline, as SageMaker names it in ARNs (lowercase). */
const pipelineArn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge-dev";

/** A rule on the dev pipeline's execution status changes (all of them, or some). */
function executionStatusPattern(statuses?: string[]): Record<string, unknown> {
  return {
    source: ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
    detail: {
      pipelineArn: [pipelineArn],
      ...(statuses ? { currentPipelineExecutionStatus: statuses } : {}),
    },
  };
}

describe("local mode on the dev stack with a function or rule changed by the test", function () {
  // The first run renders the stack under the mock engine; later runs reuse the render.
  this.timeout(120_000);
  afterEach(clearRecordedEvents);

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
    // The late SubmitJob never reaches Batch (the clean-up function only looks for the failed execution's jobs).
    expect(summary.apiCalls.Batch ?? {}).to.not.have.property("SubmitJob");
  });

  it("stops an execution during its Lambda step when the step ends, and delivers the Stopped event through the stack's rules to a function and to a queue", async () => {
    // The Lambda step submits 80 jobs for about 2 s; the stop comes at 1 s.
    const summary = await runExecution(
      { mode: "jobs", shards: 80, stopAfterSeconds: 1, jobDurationSeconds: 7200 },
      {
        prepareDesign: changedStack((rendered) => {
          addEventRecorder(rendered, "to-function", executionStatusPattern(["Stopped", "Failed"]), "lambda");
          addEventRecorder(rendered, "to-queue", executionStatusPattern(["Stopped", "Failed"]), "sqs");
        }),
      },
    );
    expect(summary.outcome).to.equal("stopped");
    expect(summary.failureReason).to.match(
      /^Pipeline execution stopped during step SubmitBatchJobs: a Lambda step runs to its end/,
    );
    // The step ran to its end: every job was submitted, and no Callback step started.
    expect(summary.apiCalls.Batch.SubmitJob).to.equal(80);
    expect(summary.apiCalls.SQS ?? {}).to.not.have.property("ChangeMessageVisibility");
    expect(summary.lambdaInvocations).to.not.have.property("batch-bridge-monitor");
    // The Stopped event matched the two recorders' rules and the stack's clean-up rule (to its queue).
    expect(summary.events.matchedBySource["aws.sagemaker"]).to.equal(3);
    expect(summary.events.deliveredToQueues).to.equal(2);
    expect(summary.jobsLeftRunning).to.equal(0);

    for (const recorder of ["to-function", "to-queue"]) {
      const received = recordedEvents(recorder);
      expect(received, recorder).to.have.length(1);
      const [{ event, receivedAt }] = received;
      expect(event).to.deep.include({
        source: "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
      });
      expect(event.detail).to.deep.include({
        pipelineArn,
        currentPipelineExecutionStatus: "Stopped",
        previousPipelineExecutionStatus: "Stopping",
        executionStartTime: "2030-01-01T00:00:00.000Z",
        executionEndTime: event.time,
      });
      expect(String(event.detail.pipelineExecutionArn)).to.match(
        /^arn:aws:sagemaker:.*:pipeline\/batch-bridge-dev\/execution\//,
      );
      // The Lambda step ended after the stop, and EventBridge delivered the event 1 s later.
      expect(Date.parse(event.time) - Date.UTC(2030, 0, 1)).to.equal(summary.executionSeconds * 1000);
      expect(Date.parse(event.time)).to.be.greaterThan(Date.UTC(2030, 0, 1) + 1_000);
      expect(receivedAt - Date.parse(event.time), recorder).to.equal(1_000);
    }
  });

  it("delivers a failed execution's event, and Batch's, through the same rules, each twice when EventBridge repeats them", async () => {
    const summary = await runExecution(
      { shards: 3, failShards: [1], duplicateDeliveries: true },
      {
        prepareDesign: changedStack((rendered) =>
          addEventRecorder(rendered, "all", executionStatusPattern(), "lambda"),
        ),
      },
    );
    expect(summary).to.deep.include({ outcome: "failed", expected: true });
    const statuses = recordedEvents("all").map(({ event }) => event.detail.currentPipelineExecutionStatus);
    expect(statuses).to.deep.equal(["Failed", "Failed"]);
    expect(recordedEvents("all")[0].event.detail.executionEndTime).to.be.a("string");
    // Batch's events reached the stack's own job-event rule through the same delivery.
    expect(summary.events.matchedBySource["aws.batch"]).to.be.at.least(1);
    // The Failed event matched the recorder's rule and the stack's clean-up rule.
    expect(summary.events.matchedBySource["aws.sagemaker"]).to.equal(2);
    expect(summary.events.delivered).to.equal(2 * summary.events.matched);
  });
});
