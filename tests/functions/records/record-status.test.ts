import { expect } from "chai";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  SendPipelineExecutionStepFailureCommand,
  StopPipelineExecutionCommand,
} from "@aws-sdk/client-sagemaker";
import { inlineResultLimitBytes } from "../../../functions/records/contract";
import { noResultError } from "../../../functions/records/record-status";
import { readText } from "../../../functions/records/s3-objects";
import type { PipelineExecution } from "../../../local/sagemaker/server";
import { bucket, RecordsWorld } from "./records-fixture";

/** SageMaker's execution status-change event, as EventBridge delivers it. */
function statusChange(execution: PipelineExecution, status: string, overrides: Record<string, unknown> = {}) {
  return {
    version: "0",
    id: "3e5d7c1a-0b9f-4c2d-8e6a-1f2b3c4d5e6f",
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    source: "aws.sagemaker",
    account: "123456789012",
    time: "2030-01-01T00:10:00Z",
    region: "us-east-1",
    resources: [execution.pipelineArn, execution.executionArn],
    detail: {
      pipelineArn: execution.pipelineArn,
      pipelineExecutionArn: execution.executionArn,
      pipelineExecutionDisplayName: execution.displayName,
      currentPipelineExecutionStatus: status,
      previousPipelineExecutionStatus: "Executing",
      executionStartTime: "2030-01-01T00:00:00Z",
      executionEndTime: "2030-01-01T00:10:00Z",
      ...overrides,
    },
  };
}

describe("records status function against local SageMaker, S3 and DynamoDB", function () {
  this.timeout(60_000);
  let world: RecordsWorld;

  before(async () => {
    world = await RecordsWorld.start();
  });
  after(async () => world.stop());
  beforeEach(async () => world.nextTest());

  /** Records submitted and flushed: their job_ids and the batch's execution. */
  async function batchOf(...records: unknown[]): Promise<{ jobIds: string[]; execution: PipelineExecution }> {
    const jobIds = [];
    for (const record of records) jobIds.push(await world.submit(record));
    await world.flushHandler()(world.sqsEvent(await world.receiveAll()));
    const [execution] = world.executions().slice(-1);
    return { jobIds, execution };
  }

  /** The worker's output: result and error lines under the batch's OutputUri. */
  async function workerWrites(
    execution: PipelineExecution,
    lines: unknown[],
    file = "shard-00000/out.jsonl",
  ) {
    const outputUri = execution.parameters.find((p) => p.Name === "OutputUri")!.Value!;
    const prefix = outputUri.slice(`s3://${bucket}/`.length);
    await world.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}${file}`,
        Body: lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line))).join("\n"),
      }),
    );
  }

  /** The execution failed at its Callback step with this reason, as SageMaker lists its steps. */
  async function failedAtWait(execution: PipelineExecution, status: "Failed" | "Stopped", reason: string) {
    const server = world.sageMakerServer;
    server.startLambdaStep(execution.executionArn, "SubmitBatchJobs");
    server.endLambdaStep(execution.executionArn);
    const { token } = server.startCallbackStep(execution.executionArn, "WaitForBatchJobs");
    if (status === "Stopped") {
      await world.sagemaker.send(
        new StopPipelineExecutionCommand({
          PipelineExecutionArn: execution.executionArn,
          ClientRequestToken: "stop-0000000000000000000000000000000",
        }),
      );
    }
    await world.sagemaker.send(
      new SendPipelineExecutionStepFailureCommand({ CallbackToken: token, FailureReason: reason }),
    );
    expect(server.execution(execution.executionArn)?.status).to.equal(status);
  }

  it("gives each record of a succeeded batch its own result or error, and 'no result' when the worker wrote none", async () => {
    const { jobIds, execution } = await batchOf({ text: "a b" }, { text: "" }, { text: "c" });
    await workerWrites(execution, [
      { job_id: jobIds[0], result: { words: 2 } },
      { job_id: jobIds[1], error: "the record holds no text" },
      "not a line of JSON",
      { job_id: "f0000000-0000-4000-8000-000000000000", result: "a record of another batch" },
    ]);
    world.sageMakerServer.setExecutionStatus(execution.executionArn, "Succeeded");
    await world.functionClock.sleep(600_000);
    const summary = await world.statusHandler()(statusChange(execution, "Succeeded"));
    expect(summary).to.deep.equal({
      decision: "updated",
      executionArn: execution.executionArn,
      records: 3,
      processed: 1,
      failed: 2,
      unchanged: 0,
    });
    const processedAt = "2030-01-01T00:10:00.000Z";
    expect(await world.record(jobIds[0])).to.deep.equal({
      job_id: jobIds[0],
      status: "Processed",
      submitted_at: "2030-01-01T00:00:00.000Z",
      execution_arn: execution.executionArn,
      result: { words: 2 },
      processed_at: processedAt,
    });
    expect(await world.record(jobIds[1])).to.deep.include({
      status: "Failed",
      error: "the record holds no text",
    });
    expect(await world.record(jobIds[2])).to.deep.include({ status: "Failed", error: noResultError });
  });

  it("fails the records a failed execution left without a line with the failed step's reason", async () => {
    const { jobIds, execution } = await batchOf("x", "y", "z");
    await workerWrites(execution, [{ job_id: jobIds[0], result: "done before the failure" }]);
    const reason = "1 of 2 shards failed: shard 1 (exit code 65: Essential container in task exited)";
    await failedAtWait(execution, "Failed", reason);
    await world.statusHandler()(statusChange(execution, "Failed"));
    expect(await world.record(jobIds[0])).to.deep.include({
      status: "Processed",
      result: "done before the failure",
    });
    for (const jobId of jobIds.slice(1)) {
      expect(await world.record(jobId)).to.deep.include({ status: "Failed", error: reason });
    }
  });

  it("fails the records of a stopped execution with the stopped step's reason", async () => {
    const { jobIds, execution } = await batchOf("x");
    await failedAtWait(execution, "Stopped", "Pipeline execution stopped; terminated 1 job(s).");
    await world.statusHandler()(statusChange(execution, "Stopped"));
    expect(await world.record(jobIds[0])).to.deep.include({
      status: "Failed",
      error: "Pipeline execution stopped; terminated 1 job(s).",
    });
  });

  it("falls back on the execution's own reason, then its status, when no step gives one", async () => {
    const { jobIds, execution } = await batchOf("x");
    world.sageMakerServer.setExecutionStatus(
      execution.executionArn,
      "Failed",
      "Pipeline definition is invalid.",
    );
    await world.statusHandler()(statusChange(execution, "Failed"));
    expect(await world.record(jobIds[0])).to.deep.include({ error: "Pipeline definition is invalid." });
  });

  it("changes nothing for a duplicated event, and never takes a record another execution holds", async () => {
    const { jobIds, execution } = await batchOf("x", "y");
    await workerWrites(execution, [
      { job_id: jobIds[0], result: 1 },
      { job_id: jobIds[1], result: 2 },
    ]);
    // Record y was taken by another batch's execution meanwhile (its flush marked it after this one's).
    const other = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge/execution/otherexec000";
    await world.dynamodb.send(
      new UpdateItemCommand({
        TableName: world.tableName,
        Key: { job_id: { S: jobIds[1] } },
        UpdateExpression: "SET execution_arn = :other",
        ExpressionAttributeValues: { ":other": { S: other } },
      }),
    );
    const handler = world.statusHandler();
    const first = await handler(statusChange(execution, "Succeeded"));
    expect(first).to.deep.include({ processed: 1, failed: 0, unchanged: 1 });
    const again = await handler(statusChange(execution, "Succeeded"));
    expect(again).to.deep.include({ processed: 0, failed: 0, unchanged: 2 });
    // A late, contradicting event changes nothing either.
    expect(await handler(statusChange(execution, "Failed"))).to.deep.include({ unchanged: 2 });
    expect(await world.record(jobIds[0])).to.deep.include({ status: "Processed", result: 1 });
    expect(await world.record(jobIds[1])).to.deep.include({ status: "Processing", execution_arn: other });
  });

  it("settles a record its batch's flush left Queued (it died after starting the execution)", async () => {
    const { jobIds, execution } = await batchOf("x");
    await world.dynamodb.send(
      new UpdateItemCommand({
        TableName: world.tableName,
        Key: { job_id: { S: jobIds[0] } },
        UpdateExpression: "SET #s = :q REMOVE execution_arn",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":q": { S: "Queued" } },
      }),
    );
    await workerWrites(execution, [{ job_id: jobIds[0], result: "ok" }]);
    await world.statusHandler()(statusChange(execution, "Succeeded"));
    expect(await world.record(jobIds[0])).to.deep.include({
      status: "Processed",
      execution_arn: execution.executionArn,
    });
  });

  it("keeps a result over 32 KiB in the data bucket and answers its result_uri", async () => {
    const { jobIds, execution } = await batchOf("x");
    const large = { text: "x".repeat(inlineResultLimitBytes) };
    await workerWrites(execution, [{ job_id: jobIds[0], result: large }]);
    await world.statusHandler()(statusChange(execution, "Succeeded"));
    const record = await world.record(jobIds[0]);
    const outputUri = execution.parameters.find((p) => p.Name === "OutputUri")!.Value!;
    expect(record?.result).to.equal(undefined);
    expect(record?.result_uri).to.equal(`${outputUri}large-results/${jobIds[0]}.json`);
    const key = record!.result_uri!.slice(`s3://${bucket}/`.length);
    expect(JSON.parse(await readText(world.s3, bucket, key))).to.deep.equal(large);
    // A second event does not read the large result back as a worker's line.
    expect(await world.statusHandler()(statusChange(execution, "Succeeded"))).to.deep.include({
      records: 1,
      unchanged: 1,
    });
  });

  it("ignores executions that are not record batches and statuses that are not an end; drops what is not the event", async () => {
    const { execution } = await batchOf("x");
    const handler = world.statusHandler();
    expect(await handler(statusChange(execution, "Stopping"))).to.deep.equal({
      decision: "ignored",
      reason: "the execution is Stopping, not ended",
    });
    expect(
      await handler(statusChange(execution, "Succeeded", { pipelineExecutionDisplayName: "nightly-run" })),
    ).to.deep.include({
      decision: "ignored",
      reason: "not a records batch (its display name)",
    });
    expect(await handler({ source: "aws.batch" })).to.deep.include({ decision: "malformed" });
  });
});
