import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import {
  jobEventHandlerFromEnvironment,
  monitorHandlerFromEnvironment,
  submitHandlerFromEnvironment,
} from "../../functions/entrypoints";
import { environmentVariables, executionTagKey } from "../../functions/step-contract";
import { StatusTableServer } from "./completion-fixture";
import { callbackMessage, sqsRecord } from "./factories";
import { startFakeAwsServer, type FakeAwsServer } from "./fake-aws-server";

const executionArn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/abcdef123456";

/** The callback message of a step waiting on array job `job-1234` of three shards. */
const arrayJobMessage = callbackMessage({
  token: "tok-123456",
  pipelineExecutionArn: executionArn,
  arguments: { jobMode: "array", jobRef: "job-1234", shardCount: "3" },
});

/** The environment the stack gives both functions, with every AWS endpoint pointed at `server`. */
function functionEnvironment(server: FakeAwsServer): Record<string, string> {
  return {
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_ENDPOINT_URL: server.url,
    POWERTOOLS_LOG_LEVEL: "SILENT",
    [environmentVariables.jobQueue]: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
    [environmentVariables.jobDefinition]:
      "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:1",
    [environmentVariables.jobNamePrefix]: "batch-bridge",
    [environmentVariables.submitMode]: "array",
    [environmentVariables.inputUriPrefix]: "s3://data-bucket/input/",
    [environmentVariables.outputUriPrefix]: "s3://data-bucket/output/",
    [environmentVariables.callbackQueueUrl]: `${server.url}/123456789012/callbacks`,
    [environmentVariables.deadLetterQueueUrl]: `${server.url}/123456789012/callbacks-dlq`,
    [environmentVariables.pollInitialDelaySeconds]: "10",
    [environmentVariables.pollMaxDelaySeconds]: "1800",
    [environmentVariables.maxWaitSeconds]: "604800",
    [environmentVariables.maxReceiveCount]: "369",
  };
}

/**
 * Serializes `factory` as the stack's CallbackFunction does, writes the module under .local/ and loads
 * it as Lambda would, with `env` added to the process environment (until `restoreEnvironment`): returns
 * the module's handler.
 */
async function loadSerializedHandler<H>(factory: () => H, env: Record<string, string>): Promise<H> {
  const serialized = await pulumi.runtime.serializeFunction(factory, { isFactoryFunction: true });
  const directory = path.join(__dirname, "..", "..", ".local", "serialized");
  fs.mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `handler-${process.pid}-${Date.now()}.js`);
  fs.writeFileSync(file, serialized.text);
  Object.assign(process.env, env);
  try {
    return require(file)[serialized.exportName] as H;
  } finally {
    fs.rmSync(file);
  }
}

const savedEnvironment = { ...process.env };
function restoreEnvironment(): void {
  for (const key of Object.keys(process.env)) {
    if (!(key in savedEnvironment)) delete process.env[key];
  }
  Object.assign(process.env, savedEnvironment);
}

/** The `service` of each JSON log line `act` writes to stdout or stderr, in order, each once. */
async function loggedServices(act: () => Promise<void>): Promise<string[]> {
  const services: string[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      for (const line of String(chunk).split("\n")) {
        if (!line.startsWith("{")) continue;
        const service = (JSON.parse(line) as { service?: string }).service;
        if (service !== undefined && !services.includes(service)) services.push(service);
      }
      const callback = rest.find((argument) => typeof argument === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  try {
    await act();
  } finally {
    streams.forEach((stream, index) => (stream.write = writes[index]));
  }
  return services;
}

describe("serialized function entry points", () => {
  let server: FakeAwsServer;
  afterEach(async () => {
    restoreEnvironment();
    await server?.close();
  });

  it("the submit closure serializes and, loaded as Lambda loads it, submits an array job", async () => {
    server = await startFakeAwsServer({
      "DynamoDB_20120810.UpdateItem": () => ({}),
      "batch:ListJobs": () => ({ jobSummaryList: [] }),
      "batch:SubmitJob": (body) => ({ jobName: body.jobName, jobId: "job-1234", jobArn: "arn:job-1234" }),
    });
    const handler = await loadSerializedHandler(() => submitHandlerFromEnvironment(process.env), {
      ...functionEnvironment(server),
      [environmentVariables.statusTable]: "batch-bridge-executions",
      [environmentVariables.cleanupQueueUrl]: `${server.url}/123456789012/batch-bridge-cleanup`,
    });

    const outputs = await handler({
      executionArn,
      inputUri: "s3://data-bucket/input/run-1",
      outputUri: "s3://data-bucket/output/run-1",
      shardCount: "3",
    });

    expect(outputs).to.deep.include({ jobMode: "array", jobRef: "job-1234", shardCount: "3" });
    const submitted = server.requests.find((r) => r.operation === "batch:SubmitJob");
    expect(submitted?.body).to.include({ jobName: "batch-bridge-abcdef123456", propagateTags: true });
    expect(submitted?.body.tags).to.deep.equal({ [executionTagKey]: executionArn });
    // The submission was claimed, then recorded with its outputs.
    const claims = server.requests.filter((r) => r.operation === "DynamoDB_20120810.UpdateItem");
    expect(claims.map((r) => (r.body.Key as Record<string, { S: string }>).executionJobName.S)).to.deep.equal(
      ["batch-bridge-abcdef123456#submission", "batch-bridge-abcdef123456#submission"],
    );
  });

  it("the monitor closure serializes and, loaded as Lambda loads it, answers steps and dead-letters", async () => {
    server = await startFakeAwsServer({
      "batch:DescribeJobs": () => ({
        jobs: [
          {
            jobId: "job-1234",
            jobName: "batch-bridge-abcdef123456",
            status: "SUCCEEDED",
            arrayProperties: { size: 3, statusSummary: { SUCCEEDED: 3 } },
            tags: { [executionTagKey]: executionArn },
          },
        ],
      }),
      "SageMaker.SendPipelineExecutionStepSuccess": () => ({ PipelineExecutionArn: executionArn }),
      "AmazonSQS.SendMessage": () => ({ MessageId: "dead-letter-1" }),
    });
    const handler = await loadSerializedHandler(
      () => monitorHandlerFromEnvironment(process.env),
      functionEnvironment(server),
    );

    const response = await handler({
      Records: [
        sqsRecord({ messageId: "m-1", sentAt: Date.now(), body: arrayJobMessage }),
        sqsRecord({ messageId: "m-2", sentAt: Date.now(), body: "not a callback message" }),
      ],
    });

    expect(response).to.deep.equal({ batchItemFailures: [] });
    const answer = server.requests.find((r) => r.operation === "SageMaker.SendPipelineExecutionStepSuccess");
    expect(answer?.body).to.deep.include({
      CallbackToken: "tok-123456",
      OutputParameters: [
        { Name: "Status", Value: "SUCCEEDED" },
        { Name: "SucceededShards", Value: "3" },
        { Name: "ShardCount", Value: "3" },
        { Name: "JobRef", Value: "job-1234" },
        { Name: "FailedShards", Value: "" },
      ],
    });
    const deadLetter = server.requests.find((r) => r.operation === "AmazonSQS.SendMessage");
    expect(deadLetter?.body).to.deep.include({
      QueueUrl: `${server.url}/123456789012/callbacks-dlq`,
      MessageBody: "not a callback message",
    });
  });

  it("the job-event closure serializes and, loaded as Lambda loads it, answers a step from an event", async () => {
    const tables = await StatusTableServer.start();
    try {
      const tableName = await tables.createTable();
      const job = {
        jobId: "job-1234",
        jobName: "batch-bridge-abcdef123456",
        jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
        status: "SUCCEEDED",
        arrayProperties: { size: 3, statusSummary: { SUCCEEDED: 3 } },
        tags: { [executionTagKey]: executionArn },
      };
      const running = {
        ...job,
        status: "PENDING",
        arrayProperties: { size: 3, statusSummary: { RUNNING: 3 } },
      };
      let current: Record<string, unknown> = running;
      server = await startFakeAwsServer({
        "batch:DescribeJobs": () => ({ jobs: [current] }),
        "SageMaker.SendPipelineExecutionStepSuccess": () => ({ PipelineExecutionArn: executionArn }),
        "AmazonSQS.ChangeMessageVisibility": () => ({}),
        "AmazonSQS.DeleteMessage": () => ({}),
      });
      const env = {
        ...functionEnvironment(server),
        [environmentVariables.statusTable]: tableName,
        AWS_ENDPOINT_URL_DYNAMODB: tables.endpoint,
      };
      const monitor = await loadSerializedHandler(() => monitorHandlerFromEnvironment(process.env), env);
      const onEvent = await loadSerializedHandler(() => jobEventHandlerFromEnvironment(process.env), env);

      // The step waits while the job runs, then Batch's event says the array job succeeded.
      const waitingRecord = sqsRecord({ messageId: "m-1", sentAt: Date.now(), body: arrayJobMessage });
      const waiting = await monitor({
        Records: [waitingRecord],
      });
      current = job;
      const result = await onEvent({
        version: "0",
        source: "aws.batch",
        "detail-type": "Batch Job State Change",
        detail: job,
      });

      expect(waiting.batchItemFailures).to.deep.equal([{ itemIdentifier: "m-1" }]);
      expect(result).to.deep.equal({ decision: "succeeded" });
      const answers = server.requests.filter((r) => r.operation.startsWith("SageMaker."));
      expect(answers.map((r) => r.body.CallbackToken)).to.deep.equal(["tok-123456"]);
      const deleted = server.requests.filter((r) => r.operation === "AmazonSQS.DeleteMessage");
      expect(deleted.map((r) => r.body.ReceiptHandle)).to.deep.equal([waitingRecord.receiptHandle]);
    } finally {
      await tables.stop();
    }
  });

  it("a function started without POWERTOOLS_SERVICE_NAME logs under the service name the stack gives it", async () => {
    server = await startFakeAwsServer({ "AmazonSQS.SendMessage": () => ({ MessageId: "dead-letter-1" }) });
    const env: NodeJS.ProcessEnv = { ...functionEnvironment(server), POWERTOOLS_LOG_LEVEL: "INFO" };
    delete env.POWERTOOLS_SERVICE_NAME;
    const services = await loggedServices(async () => {
      await monitorHandlerFromEnvironment(env)({
        Records: [sqsRecord({ messageId: "m-1", sentAt: Date.now(), body: "not a callback message" })],
      });
      await jobEventHandlerFromEnvironment({
        ...env,
        [environmentVariables.statusTable]: "batch-bridge-executions",
      })({ source: "aws.s3" });
    });
    expect(services).to.deep.equal(["sagemaker-batch-bridge-monitor", "sagemaker-batch-bridge-job-event"]);
  });

  it("a function that reads no settings fails at load with the variable named", async () => {
    server = await startFakeAwsServer({});
    const env = functionEnvironment(server);
    delete env[environmentVariables.jobQueue];
    let error: Error | undefined;
    try {
      await loadSerializedHandler(() => submitHandlerFromEnvironment(process.env), env);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).to.contain(`${environmentVariables.jobQueue} must be set`);
  });
});
