import { expect } from "chai";
import { BatchClient, DescribeJobsCommand, type JobDetail } from "@aws-sdk/client-batch";
import {
  SageMakerClient,
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
} from "@aws-sdk/client-sagemaker";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { compileSchema, officialPipelineSchema } from "../../support/pipeline-schema";
import { startBatchServer, type BatchScenario, type BatchServer } from "../../../local/batch/server";
import { SimClock } from "../../../local/time/clock";
import { jobIdsOutput, referenceDesign, referenceSteps } from "../../../local/designs/reference-design";
import { startSqs, type SqsServer } from "../../../local/sqs/server";
import { localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);
/** Default local timeline: a job starts running after 31 s and runs 60 s. */
const jobsEndAfterMs = 92_000;
const token = "tok-ref0001";
const executionArn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/reference/execution/abc123";

const design = referenceDesign({
  jobQueue: "reference-jobs",
  jobDefinition: "reference-job",
  jobNamePrefix: "reference",
});

/** The callback message SageMaker sends for the reference Callback step. */
function callbackBody(jobIds: string, status = "Executing"): string {
  return JSON.stringify({
    token,
    pipelineExecutionArn: executionArn,
    arguments: { [jobIdsOutput]: jobIds },
    status,
  });
}

let records = 0;

function sqsEvent(...bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body): SQSRecord => {
      records += 1;
      return {
        messageId: `message-${records}`,
        receiptHandle: `receipt-${records}`,
        body,
        attributes: {
          ApproximateReceiveCount: "1",
          SentTimestamp: String(start),
          SenderId: "sagemaker",
          ApproximateFirstReceiveTimestamp: String(start),
        },
        messageAttributes: {},
        md5OfBody: "",
        eventSource: "aws:sqs",
        eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:reference-callbacks",
        awsRegion: "us-east-1",
      };
    }),
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error,
  );
}

interface Answer {
  outcome: "success" | "failure";
  token?: string;
  reason?: string;
}

describe("reference design", () => {
  let clock: SimClock;
  let server: BatchServer;
  let batch: BatchClient;
  let sagemaker: SageMakerClient;
  let sagemakerMock: ReturnType<typeof mockClient>;
  let handlers: ReturnType<typeof design.makeHandlers>;

  /** A frozen clock and the local Batch server; the SDK's default three attempts, without their wall-time back-off. */
  async function startBatch(scenario: BatchScenario = {}, quota?: false): Promise<void> {
    clock = new SimClock({ speed: 0, startMs: start });
    server = await startBatchServer({ clock, scenario, seed: 11, ...(quota === false ? { quota } : {}) });
    batch = new BatchClient({
      ...localClientConfig(server.endpoint),
      retryStrategy: new ConfiguredRetryStrategy(3, 0),
    });
    sagemaker = new SageMakerClient(localClientConfig("http://127.0.0.1:9"));
    sagemakerMock = mockClient(sagemaker);
    sagemakerMock
      .on(SendPipelineExecutionStepSuccessCommand)
      .resolves({ PipelineExecutionArn: executionArn });
    sagemakerMock
      .on(SendPipelineExecutionStepFailureCommand)
      .resolves({ PipelineExecutionArn: executionArn });
    handlers = design.makeHandlers({ batch, sagemaker });
  }

  /** What SageMaker was told, in order. */
  function answers(): Answer[] {
    return sagemakerMock.calls().map((call) => {
      const command = call.args[0];
      const input = command.input as { CallbackToken?: string; FailureReason?: string };
      return command instanceof SendPipelineExecutionStepSuccessCommand
        ? { outcome: "success", token: input.CallbackToken }
        : { outcome: "failure", token: input.CallbackToken, reason: input.FailureReason };
    });
  }

  async function describeAll(ids: string[]): Promise<JobDetail[]> {
    const described: JobDetail[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const { jobs = [] } = await batch.send(new DescribeJobsCommand({ jobs: ids.slice(i, i + 100) }));
      described.push(...jobs);
    }
    return described;
  }

  async function submit(shardCount: number | string): Promise<string> {
    const outputs = await handlers.submit({
      inputUri: "s3://data/in/",
      outputUri: "s3://data/out",
      shardCount,
    });
    expect(Object.keys(outputs)).to.deep.equal([jobIdsOutput]);
    return outputs[jobIdsOutput];
  }

  afterEach(async () => {
    batch?.destroy();
    sagemakerMock?.restore();
    await server?.stop();
    clock?.stop();
  });

  describe("pipeline definition", () => {
    const definition = design.pipelineDefinition({
      submitFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:reference-submit",
      callbackQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/reference-callbacks",
      inputUri: "s3://data/in/",
      outputUri: "s3://data/out/",
      shardCount: 10,
    });

    it("validates against the official SageMaker pipeline definition schema", () => {
      const validate = compileSchema(officialPipelineSchema());
      expect(validate(JSON.parse(JSON.stringify(definition))), JSON.stringify(validate.errors)).to.equal(
        true,
      );
    });

    it("passes the job IDs from the Lambda step's one String output to the Callback step's arguments", () => {
      const [submitStep, waitStep] = definition.Steps;
      expect(submitStep).to.deep.include({
        Type: "Lambda",
        Arguments: {
          inputUri: { Get: "Parameters.InputUri" },
          outputUri: { Get: "Parameters.OutputUri" },
          shardCount: { Get: "Parameters.ShardCount" },
        },
        OutputParameters: [{ OutputName: "jobIds", OutputType: "String" }],
      });
      expect(waitStep).to.deep.include({
        Type: "Callback",
        Arguments: { jobIds: { Get: `Steps.${referenceSteps.submit}.OutputParameters['jobIds']` } },
      });
    });

    it("declares a callback queue with a fixed 900 s visibility timeout, no dead-letter queue and no partial batch failures", () => {
      expect(design.queue).to.deep.equal({
        visibilityTimeoutSeconds: 900,
        redrive: undefined,
        batchSize: 10,
        reportBatchItemFailures: false,
      });
    });
  });

  it("10 shards: one job per shard with its own files, and the step succeeds once all have succeeded", async () => {
    await startBatch();
    const jobIds = await submit("10");
    const ids = jobIds.split(" ");
    expect(ids).to.have.length(10);
    expect(jobIds.length).to.be.at.most(1024);
    const jobs = await describeAll(ids);
    expect(jobs.map((job) => job.jobName)).to.deep.equal(ids.map((_, i) => `reference-0${i}`));
    expect(jobs[3].parameters).to.deep.equal({
      inputUri: "s3://data/in/file_03.json",
      outputUri: "s3://data/out/output_03.json",
    });

    clock.advanceTo(start + jobsEndAfterMs);
    await handlers.monitor(sqsEvent(callbackBody(jobIds)));
    expect(answers()).to.deep.equal([{ outcome: "success", token }]);
  });

  it("a job still running: the monitor throws and the message comes back only after 900 s", async () => {
    await startBatch();
    const sqsServer: SqsServer = await startSqs({ clock });
    const sqs = new SQSClient(localClientConfig(sqsServer.endpoint));
    try {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({
          QueueName: "reference-callbacks",
          Attributes: { VisibilityTimeout: String(design.queue.visibilityTimeoutSeconds) },
        }),
      );
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: callbackBody(await submit(3)) }));

      // The event source mapping: deliver up to batchSize records; delete them only if the monitor returns.
      const deliver = async (): Promise<"none" | "answered" | "threw"> => {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: design.queue.batchSize }),
        );
        if (Messages.length === 0) return "none";
        try {
          await handlers.monitor(sqsEvent(...Messages.map((m) => m.Body!)));
        } catch {
          return "threw";
        }
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        return "answered";
      };

      expect(await deliver()).to.equal("threw");
      clock.advanceTo(start + jobsEndAfterMs);
      expect(server.jobsLeftRunning()).to.equal(0);
      clock.advanceTo(start + 899_000);
      expect(await deliver()).to.equal("none");
      expect(answers()).to.deep.equal([]);
      clock.advanceTo(start + 900_000);
      expect(await deliver()).to.equal("answered");
      expect(answers()).to.deep.equal([{ outcome: "success", token }]);
    } finally {
      sqs.destroy();
      await sqsServer.stop();
    }
  });

  it("30 shards: the job IDs make an output value longer than the 1,024 characters a step output holds", async () => {
    await startBatch();
    const jobIds = await submit(30);
    expect(jobIds.split(" ")).to.have.length(30);
    expect(jobIds.length).to.be.above(1024);
    // The step fails on that value; the jobs it submitted run on regardless.
    expect(server.jobsLeftRunning()).to.equal(30);
  });

  it("60 shards at once: SubmitJob is throttled past the SDK's retries, and the jobs already submitted run on", async () => {
    await startBatch();
    const error = await rejectionOf(submit(60));
    expect(error.name).to.equal("TooManyRequestsException");
    expect(server.jobsLeftRunning()).to.equal(50);
  });

  it("101 shards: DescribeJobs rejects the 101 IDs, one over its limit, on every delivery, so the step is never answered", async () => {
    // Without the quota, so all 101 submissions go through on the frozen clock.
    await startBatch({}, false);
    const jobIds = await submit(101);
    for (const at of [0, jobsEndAfterMs, 900_000]) {
      clock.advanceTo(start + at);
      const error = await rejectionOf(handlers.monitor(sqsEvent(callbackBody(jobIds))));
      expect(error.name).to.equal("ClientException");
      expect(error.message).to.match(/at most 100 job IDs/);
    }
    expect(server.jobsLeftRunning()).to.equal(0);
    expect(answers()).to.deep.equal([]);
  });

  describe("a failed shard", () => {
    it("with a container reason: the step fails with it, and the other shards' jobs run on", async () => {
      await startBatch({
        jobDurationMs: (job) => (job.jobName === "reference-01" ? 60_000 : 3_600_000),
        attemptFailure: (job) =>
          job.jobName === "reference-01"
            ? { exitCode: 137, reason: "OutOfMemoryError: Container killed due to memory usage" }
            : undefined,
      });
      const jobIds = await submit(4);
      clock.advanceTo(start + jobsEndAfterMs);
      await handlers.monitor(sqsEvent(callbackBody(jobIds)));
      expect(answers()).to.deep.equal([
        {
          outcome: "failure",
          token,
          reason: "Batch job reference-01 failed: OutOfMemoryError: Container killed due to memory usage",
        },
      ]);
      expect(server.jobsLeftRunning()).to.equal(3);
    });

    it("that exited non-zero without a container reason: the monitor crashes before answering, on every delivery", async () => {
      await startBatch({
        attemptFailure: (job) => (job.jobName === "reference-02" ? { exitCode: 1 } : undefined),
      });
      const jobIds = await submit(4);
      clock.advanceTo(start + jobsEndAfterMs);
      for (const delivery of [1, 2]) {
        const error = await rejectionOf(handlers.monitor(sqsEvent(callbackBody(jobIds))));
        expect(error, `delivery ${delivery}`).to.be.instanceOf(TypeError);
      }
      expect(answers()).to.deep.equal([]);
    });
  });

  it("a Stopping message is not honoured: the jobs are left running, and the stopped step is later answered success", async () => {
    await startBatch();
    const jobIds = await submit(5);
    clock.advanceTo(start + 40_000);
    const error = await rejectionOf(handlers.monitor(sqsEvent(callbackBody(jobIds, "Stopping"))));
    expect(error.message).to.match(/5 of 5 jobs not finished/);
    expect(server.jobsLeftRunning()).to.equal(5);
    expect(server.calls().TerminateJob ?? 0).to.equal(0);
    expect(answers()).to.deep.equal([]);

    clock.advanceTo(start + jobsEndAfterMs);
    await handlers.monitor(sqsEvent(callbackBody(jobIds, "Stopping")));
    expect(answers()).to.deep.equal([{ outcome: "success", token }]);
  });

  it("one record that throws returns the whole batch, including a record it already answered", async () => {
    await startBatch({ jobDurationMs: (job) => (job.jobName === "reference-00" ? 60_000 : 3_600_000) });
    const finished = await submit(1);
    const running = await submit(2);
    clock.advanceTo(start + jobsEndAfterMs);
    const error = await rejectionOf(
      handlers.monitor(sqsEvent(callbackBody(finished), callbackBody(running))),
    );
    expect(error.message).to.match(/1 of 2 jobs not finished/);
    // The first step was answered, yet its message comes back with the batch and is answered again.
    expect(answers()).to.deep.equal([{ outcome: "success", token }]);
  });

  it("rejects a bad shard count or URI naming the argument", async () => {
    await startBatch();
    for (const shardCount of ["ten", 0, 2.5, undefined]) {
      expect((await rejectionOf(submit(shardCount as number))).message).to.match(
        /^shardCount must be a whole number >= 1/,
      );
    }
    const error = await rejectionOf(
      handlers.submit({ inputUri: "", outputUri: "s3://data/out", shardCount: 1 }),
    );
    expect(error.message).to.match(/^inputUri must be a non-empty string/);
    expect(server.snapshot()).to.have.length(0);
    expect(() => referenceDesign({ jobQueue: "q", jobDefinition: "", jobNamePrefix: "p" })).to.throw(
      /jobDefinition must be a non-empty string/,
    );
  });
});
