import { expect } from "chai";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  type BatchClientConfig,
} from "@aws-sdk/client-batch";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { startBatchServer, type BatchServer } from "../../local/batch/server";
import { startDynamoDb, type DynamoDbServer } from "../../local/dynamodb/server";
import { signedService } from "../../local/endpoint-router";
import { inProcessRequestHandler, unsignedSigner } from "../../local/in-process-http";
import { inProcessTransport } from "../../local/runner/in-process-transports";
import { LambdaService } from "../../local/runner/lambda";
import {
  HttpActivity,
  installSimulatedProcess,
  settle,
  type ObservedRequest,
} from "../../local/runner/simulated-process";
import { SimClock } from "../../local/time/clock";
import { errorOf, localClientConfig } from "./aws-config";

describe("in-process transport for SDK clients (no socket)", () => {
  let dynamo: DynamoDbServer;
  let batch: BatchServer;
  let clock: SimClock;
  const clients: { destroy(): void }[] = [];

  before(async () => {
    dynamo = await startDynamoDb();
    clock = new SimClock({ speed: 0, startMs: Date.UTC(2030, 0, 1) });
    batch = await startBatchServer({ clock, seed: 1, quota: { requestsPerSecond: 1 } });
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await dynamo.stop();
    await batch.stop();
    clock.stop();
  });

  function dynamoClient(inProcess: boolean): DynamoDBClient {
    const client = new DynamoDBClient({
      ...localClientConfig(dynamo.endpoint),
      ...(inProcess ? { requestHandler: inProcessRequestHandler(dynamo.requestListener) } : {}),
    });
    clients.push(client);
    return client;
  }

  function batchClient(config: Partial<BatchClientConfig> = {}): BatchClient {
    const client = new BatchClient({
      ...localClientConfig(batch.endpoint),
      requestHandler: inProcessRequestHandler(batch.requestListener),
      ...config,
    });
    clients.push(client);
    return client;
  }

  it("reaches the same DynamoDB as a client over the socket: what one writes the other reads, errors alike", async () => {
    const overSocket = dynamoClient(false);
    const inProcess = dynamoClient(true);
    const TableName = "in-process";
    await inProcess.send(
      new CreateTableCommand({
        TableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      }),
    );
    // dynalite turns a table ACTIVE on a timer.
    await waitUntilTableExists(
      { client: inProcess, maxWaitTime: 10, minDelay: 0.01, maxDelay: 0.05 },
      { TableName },
    );
    const put = (client: DynamoDBClient) =>
      client.send(
        new PutItemCommand({
          TableName,
          Item: { id: { S: "a" }, shards: { NS: ["1", "2"] } },
          ConditionExpression: "attribute_not_exists(id)",
        }),
      );
    await put(inProcess);

    const { Item } = await overSocket.send(new GetItemCommand({ TableName, Key: { id: { S: "a" } } }));
    expect(Item?.shards.NS?.sort()).to.deep.equal(["1", "2"]);
    const error = await errorOf(put(inProcess));
    expect(error.name).to.equal("ConditionalCheckFailedException");
    expect(error.$metadata.httpStatusCode).to.equal(400);
    const missing = await errorOf(
      inProcess.send(new GetItemCommand({ TableName: "no-such-table", Key: { id: { S: "a" } } })),
    );
    expect(missing.name).to.equal("ResourceNotFoundException");
  });

  it("carries Batch's paths and errors: a throttled call is the SDK's TooManyRequestsException", async () => {
    const client = batchClient({ maxAttempts: 1 });
    const { jobId } = await client.send(
      new SubmitJobCommand({ jobName: "in-process-1", jobQueue: "q", jobDefinition: "d" }),
    );
    // The quota (1 a simulated second) is spent, and the frozen clock does not refill it.
    const throttled = await errorOf(client.send(new DescribeJobsCommand({ jobs: [jobId!] })));
    expect(throttled.name).to.equal("TooManyRequestsException");
    expect(throttled.$metadata.httpStatusCode).to.equal(429);
    const listed = await client.send(new ListJobsCommand({ jobQueue: "q", jobStatus: "SUBMITTED" }));
    expect(listed.jobSummaryList?.map((job) => job.jobId)).to.deep.equal([jobId]);
    const refused = await errorOf(client.send(new ListJobsCommand({ jobQueue: "q", maxResults: 0 })));
    expect(refused.name).to.equal("ClientException");
    expect(batch.calls()).to.deep.include({ SubmitJob: 1, DescribeJobs: 1, ListJobs: 2 });
  });

  it("sends no HTTP request: Node.js's HTTP client is not involved", async () => {
    // Only requests to these two servers: other suites of the process may have their own under way.
    const hosts = [dynamo.endpoint, batch.endpoint].map((endpoint) => new URL(endpoint).host);
    let requests = 0;
    const count = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      if (hosts.includes(String(request.getHeader("host")))) requests += 1;
    };
    subscribe("http.client.request.start", count);
    try {
      await batchClient().send(new ListJobsCommand({ jobQueue: "q" }));
      await dynamoClient(true).send(new GetItemCommand({ TableName: "in-process", Key: { id: { S: "a" } } }));
      expect(requests).to.equal(0);
      await dynamoClient(false).send(
        new GetItemCommand({ TableName: "in-process", Key: { id: { S: "a" } } }),
      );
      expect(requests, "the same call over the socket").to.equal(1);
    } finally {
      unsubscribe("http.client.request.start", count);
    }
  });

  it("signs nothing yet writes SigV4's headers: dynalite accepts the request, and it names its service", async () => {
    let authorization: string | undefined;
    const client = new DynamoDBClient({
      ...localClientConfig(dynamo.endpoint),
      requestHandler: inProcessRequestHandler((request, response) => {
        authorization = request.headers.authorization;
        dynamo.requestListener(request, response);
      }),
      signer: unsignedSigner("dynamodb"),
    });
    clients.push(client);
    const { Item } = await client.send(
      new GetItemCommand({ TableName: "in-process", Key: { id: { S: "a" } } }),
    );
    expect(Item?.id.S).to.equal("a");
    expect(signedService(authorization)).to.equal("dynamodb");
    expect(authorization).to.match(/Signature=0{64}$/);
  });
});

describe("in-process transport in a local run (simulated time, Lambda's timeout)", () => {
  let clock: SimClock;
  let batch: BatchServer;
  let restore: () => void;
  let activity: HttpActivity;
  const seen: ObservedRequest[] = [];
  /** Requests in flight as the server was handed each request. */
  const inFlightAtServer: number[] = [];
  let client: BatchClient;

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: Date.UTC(2030, 0, 1) });
    batch = await startBatchServer({ clock, seed: 1 });
    client = new BatchClient({
      ...localClientConfig(batch.endpoint),
      maxAttempts: 1,
      ...inProcessTransport((request, response) => {
        inFlightAtServer.push(activity.requestsInFlight);
        batch.requestListener(request, response);
      }, "batch"),
    });
    restore = installSimulatedProcess(clock, 1, {});
    activity = new HttpActivity((request) => seen.push(request));
  });
  afterEach(async () => {
    activity.close();
    restore();
    client.destroy();
    seen.splice(0);
    inFlightAtServer.splice(0);
    await batch.stop();
    clock.stop();
  });

  const submitJob = () =>
    client.send(new SubmitJobCommand({ jobName: "job", jobQueue: "jobs", jobDefinition: "job" }));

  it("counts a request as in flight until its answer is in, and shows its host and headers", async () => {
    await submitJob();
    await settle(activity, clock);
    expect(inFlightAtServer).to.deep.equal([1]);
    expect(activity.requestsInFlight).to.equal(0);
    expect(seen.map((request) => request.host)).to.deep.equal([new URL(batch.endpoint).host]);
    expect(seen[0].header("Content-Type")).to.equal("application/json");
  });

  it("refuses the calls of an invocation Lambda stopped at its timeout, before they reach the server", async () => {
    let release: () => void = () => undefined;
    const late = new Promise<void>((resolve) => (release = resolve));
    let lateCall: unknown;
    const lambda = new LambdaService(clock, [
      {
        name: "worker",
        functionName: "batch-bridge-worker",
        arn: "arn:aws:lambda:us-east-1:123456789012:function:batch-bridge-worker",
        timeoutSeconds: 3,
        memoryMiB: 128,
        load: () => async () => {
          await submitJob();
          await late;
          lateCall = await submitJob().catch((error: unknown) => error);
        },
      },
    ]);
    let answered = false;
    void lambda.invoke("batch-bridge-worker", {}).then(() => (answered = true));
    while (!answered) {
      await settle(activity, clock);
      clock.advanceToNextTimer();
    }
    release();
    await settle(activity, clock);
    expect((lateCall as Error).name).to.equal("InvocationEndedError");
    expect(batch.calls()).to.deep.equal({ SubmitJob: 1 });
    expect(lambda.refusedAfterTimeout()).to.equal(1);
  });
});
