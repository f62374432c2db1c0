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
import { inProcessRequestHandler } from "../../local/in-process-http";
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
});
