import { BatchClient, type JobDetail } from "@aws-sdk/client-batch";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import { makeCleanupHandler } from "../../functions/cleanup";
import { clientConfig } from "../../functions/entrypoints";
import { shardJobName } from "../../functions/job-names";
import { executionTagKey } from "../../functions/step-contract";
import { recordingLog } from "./factories";
import { jobDefinitionArn, jobQueueArn, SimulatedAccount } from "../../local/runner/simulated-account";

const pipelineArn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge";
const cleanupQueueUrl = "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-cleanup";
const executionArnOf = (executionId: string) => `${pipelineArn}/execution/${executionId}`;

/** SageMaker's event for an execution that ended with `status` at `endedAt` (as EventBridge delivers it). */
function statusChangeEvent(executionId: string, status: string, endedAt: number) {
  return {
    version: "0",
    id: `event-${executionId}-${status}`,
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    source: "aws.sagemaker",
    account: "123456789012",
    time: new Date(endedAt).toISOString(),
    region: "eu-west-1",
    resources: [pipelineArn, executionArnOf(executionId)],
    detail: {
      currentPipelineExecutionStatus: status,
      previousPipelineExecutionStatus: status === "Stopped" ? "Stopping" : "Executing",
      executionStartTime: new Date(endedAt - 60_000).toISOString(),
      executionEndTime: new Date(endedAt).toISOString(),
      pipelineArn,
      pipelineExecutionArn: executionArnOf(executionId),
    },
  };
}

let messages = 0;
function queueRecord(body: unknown): SQSRecord {
  messages += 1;
  return {
    messageId: `message-${messages}`,
    receiptHandle: `receipt-${messages}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "events.amazonaws.com",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:batch-bridge-cleanup",
    awsRegion: "eu-west-1",
  };
}

describe("clean-up function (local Batch, simulated time)", function () {
  this.timeout(120_000);
  let account: SimulatedAccount | undefined;
  afterEach(async () => {
    await account?.stop();
    account = undefined;
  });

  /** The clean-up function as Lambda runs it on the local Batch, with its queue mocked. */
  function cleanupFixture() {
    const sqs = new SQSClient({ region: "eu-west-1" });
    const sqsMock = mockClient(sqs);
    sqsMock.on(SendMessageCommand).resolves({ MessageId: "next" });
    const log = recordingLog();
    const handler = makeCleanupHandler({
      batch: new BatchClient(clientConfig(process.env, "BATCH", account!.transports)),
      sqs,
      settings: { jobQueue: jobQueueArn, jobNamePrefix: "batch-bridge", cleanupQueueUrl },
      logger: log,
    });
    let sentSoFar = 0;
    /** Hands the handler one message in an invocation of `timeoutSeconds`; what it put back on the queue. */
    const deliver = async (body: unknown, timeoutSeconds = 300) => {
      const startedAt = account!.clock.now();
      const response = await account!.run(
        handler({ Records: [queueRecord(body)] }, account!.context(timeoutSeconds)),
        timeoutSeconds,
      );
      const sent = sqsMock
        .commandCalls(SendMessageCommand)
        .slice(sentSoFar)
        .map((c) => c.args[0].input);
      sentSoFar += sent.length;
      return { response, sent, seconds: (account!.clock.now() - startedAt) / 1000 };
    };
    return { deliver, log, sqsMock };
  }

  /** Submits jobs straight into the local Batch, tagged with `tagged` (default: the execution itself). */
  function submitJobs(executionId: string, shards: number, tagged = executionArnOf(executionId)): string[] {
    return Array.from(
      { length: shards },
      (_, shard) =>
        account!.batch.submitJob({
          jobName: shardJobName(`batch-bridge-${executionId}`, shard),
          jobQueue: jobQueueArn,
          jobDefinition: jobDefinitionArn,
          tags: { [executionTagKey]: tagged },
        }).jobId!,
    );
  }

  const describe1 = (jobId: string): JobDetail => account!.batch.describeJobs([jobId])[0];
  const unfinished = (jobIds: string[]) =>
    jobIds.filter((id) => !["SUCCEEDED", "FAILED"].includes(describe1(id).status ?? "")).length;

  it("terminates every unfinished job of a stopped execution, and no other execution's", async () => {
    account = await SimulatedAccount.start({ seed: 21 });
    const f = cleanupFixture();
    const jobs = submitJobs("stoppedexec1", 150);
    const others = submitJobs("otherexec001", 5);
    const taggedForAnother = submitJobs("stoppedexec1", 1, executionArnOf("otherexec001"));
    account.clock.advance(60_000);
    for (const jobId of jobs.slice(0, 10)) account.batch.endAttemptNow(jobId);

    const first = await f.deliver(statusChangeEvent("stoppedexec1", "Stopped", account.clock.now()));

    expect(first.response.batchItemFailures).to.deep.equal([]);
    expect(jobs.slice(0, 10).map((id) => describe1(id).status)).to.deep.equal(Array(10).fill("SUCCEEDED"));
    expect(jobs.slice(10).map((id) => describe1(id).statusReason)).to.deep.equal(
      Array(140).fill("sagemaker-batch-bridge: pipeline execution stopped"),
    );
    expect(unfinished([...others, ...taggedForAnother])).to.equal(6);
    // It looks once more after Batch's listing grace, for a job submitted just before the execution ended.
    expect(first.sent).to.have.length(1);
    expect(first.sent[0].DelaySeconds).to.be.within(115, 120);
    expect(f.log.lines.at(-1)?.attributes).to.deep.include({
      found: 140,
      terminated: 140,
      left: 0,
      decision: "looks again after the listing grace",
    });

    account.clock.advance(first.sent[0].DelaySeconds! * 1000);
    const last = await f.deliver(JSON.parse(first.sent[0].MessageBody!));

    expect(last.sent).to.deep.equal([]);
    expect(f.log.lines.at(-1)?.attributes).to.deep.include({ found: 0, decision: "nothing left running" });
  });

  it("terminates a failed execution's array job, which stops every child, once however often the event comes", async () => {
    account = await SimulatedAccount.start({ seed: 22 });
    const f = cleanupFixture();
    const { jobId } = account.batch.submitJob({
      jobName: "batch-bridge-failedexec01",
      jobQueue: jobQueueArn,
      jobDefinition: jobDefinitionArn,
      arrayProperties: { size: 50 },
      tags: { [executionTagKey]: executionArnOf("failedexec01") },
    });
    account.clock.advance(60_000);
    const event = statusChangeEvent("failedexec01", "Failed", account.clock.now() - 600_000);

    await f.deliver(event);
    await f.deliver(event);

    expect(account.batch.jobsLeftRunning()).to.equal(0);
    expect(describe1(jobId!).statusReason).to.equal("sagemaker-batch-bridge: pipeline execution failed");
    expect(account.batch.calls().TerminateJob).to.equal(1);
  });

  it("under throttling terminates what each invocation's time allows, then goes on 30 s later until none is left", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.5, seed: 23 });
    const f = cleanupFixture();
    const jobs = submitJobs("throttled001", 1000);
    let message: unknown = statusChangeEvent("throttled001", "Stopped", account.clock.now() - 3_600_000);
    const rounds: { seconds: number; delay?: number; left: number }[] = [];

    for (let round = 0; message !== undefined && round < 20; round++) {
      const { sent, seconds } = await f.deliver(message, 30);
      rounds.push({ seconds, delay: sent[0]?.DelaySeconds, left: unfinished(jobs) });
      message = sent[0] ? JSON.parse(sent[0].MessageBody!) : undefined;
      if (sent[0]) account.clock.advance(sent[0].DelaySeconds! * 1000);
    }

    expect(unfinished(jobs)).to.equal(0);
    expect(rounds.length).to.be.within(3, 6);
    // Every invocation ended within its 30 s, and each round but the last went on after 30 s.
    expect(rounds.every((r) => r.seconds < 30)).to.equal(true);
    expect(rounds.slice(0, -1).map((r) => r.delay)).to.deep.equal(Array(rounds.length - 1).fill(30));
    expect(rounds.at(-1)?.delay).to.equal(undefined);
  });

  it("leaves an execution that succeeded alone, and fails a message it cannot read so it reaches the dead-letter queue", async () => {
    account = await SimulatedAccount.start({ seed: 24 });
    const f = cleanupFixture();
    submitJobs("succeeded001", 3);

    const succeeded = await f.deliver(statusChangeEvent("succeeded001", "Succeeded", account.clock.now()));
    const garbage = await f.deliver("not an event");

    expect(succeeded.response.batchItemFailures).to.deep.equal([]);
    expect(account.batch.calls()).to.deep.equal({});
    expect(garbage.response.batchItemFailures).to.have.length(1);
    expect(garbage.sent).to.deep.equal([]);
  });
});
