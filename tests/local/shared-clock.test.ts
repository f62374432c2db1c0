import { expect } from "chai";
import { BatchClient, DescribeJobsCommand, SubmitJobCommand } from "@aws-sdk/client-batch";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { startBatchServer, type BatchServer } from "../../local/batch/server";
import { SimClock } from "../../local/time/clock";
import { startSqs, type SqsServer } from "../../local/sqs/server";
import { localClientConfig } from "./aws-config";

const start = Date.UTC(2030, 0, 1);
const minute = 60_000;

describe("servers sharing one simulated clock", () => {
  let clock: SimClock;
  let batchServer: BatchServer;
  let sqsServer: SqsServer;
  let batch: BatchClient;
  let sqs: SQSClient;

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: start });
    batchServer = await startBatchServer({ clock, seed: 1, scenario: { jobDurationMs: 30 * minute } });
    sqsServer = await startSqs({ clock });
    batch = new BatchClient(localClientConfig(batchServer.endpoint));
    sqs = new SQSClient(localClientConfig(sqsServer.endpoint));
  });

  afterEach(async () => {
    batch.destroy();
    sqs.destroy();
    await batchServer.stop();
    await sqsServer.stop();
    clock.stop();
  });

  it("steps deterministically from timer to timer: a poll every 900 s and a 30-minute job, in exact simulated time", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "callbacks" }));
    const { jobId } = await batch.send(
      new SubmitJobCommand({ jobName: "exec", jobQueue: "jobs", jobDefinition: "job" }),
    );
    const jobEndedAt: number[] = [];
    batchServer.onStateChange((event) => {
      if (event.detail.status === "SUCCEEDED") jobEndedAt.push(Date.parse(event.time) - start);
    });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ jobId }) }));

    // A monitor's loop: check the job whenever the message comes back, then hide it for 900 s.
    const checks: { at: number; status: string }[] = [];
    while (checks.at(-1)?.status !== "SUCCEEDED") {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl }));
      for (const message of Messages) {
        const { jobs } = await batch.send(new DescribeJobsCommand({ jobs: [jobId!] }));
        checks.push({ at: clock.now() - start, status: jobs![0].status! });
        await sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl,
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 900,
          }),
        );
      }
      if (clock.advanceToNextTimer() === undefined) break;
    }
    expect(checks).to.deep.equal([
      { at: 0, status: "SUBMITTED" },
      { at: 900_000, status: "RUNNING" },
      { at: 1_800_000, status: "RUNNING" },
      { at: 2_700_000, status: "SUCCEEDED" },
    ]);
    expect(jobEndedAt).to.deep.equal([31_000 + 30 * minute]);
  });
});
