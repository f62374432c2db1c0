import { expect } from "chai";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { flushAttempts } from "../../../functions/records/contract";
import { listKeys, readText } from "../../../functions/records/s3-objects";
import { apiEvent, bucket, pipelineName, RecordsWorld } from "./records-fixture";

describe("records flush function against local SQS, DynamoDB, S3 and SageMaker", function () {
  this.timeout(60_000);
  let world: RecordsWorld;

  before(async () => {
    world = await RecordsWorld.start();
  });
  after(async () => world.stop());
  beforeEach(async () => world.nextTest());

  /** Hides what was received until the buffer's visibility timeout has passed. */
  const afterVisibilityTimeout = () => world.clock.advance(1861_000);

  it("writes a batch as JSON Lines shards, starts one execution on them and moves its records to Processing", async () => {
    const jobIds = [];
    for (const text of ["a", "b", "c", "d", "e"]) jobIds.push(await world.submit({ text }));
    const messages = await world.receiveAll();
    const response = await world.flushHandler()(world.sqsEvent(messages));
    expect(response).to.deep.equal({ batchItemFailures: [] });

    const [execution] = world.executions();
    expect(world.executions()).to.have.length(1);
    expect(execution.pipelineName).to.equal(pipelineName);
    expect(execution.displayName).to.match(/^records-[0-9a-f]{32}$/);
    const batch = execution.displayName!.slice("records-".length);
    const parameters = Object.fromEntries(execution.parameters.map((p) => [p.Name, p.Value]));
    expect(parameters).to.deep.equal({
      InputUri: `s3://${bucket}/input/records/${batch}/`,
      OutputUri: `s3://${bucket}/output/records/${batch}/`,
      ShardCount: "3",
    });
    // recordsPerShard is 2 here: 5 records make 3 shard files, in the order the records came.
    const keys = await listKeys(world.s3, parameters.InputUri);
    expect(keys).to.deep.equal([0, 1, 2].map((i) => `input/records/${batch}/shard-0000${i}/records.jsonl`));
    const lines = [];
    for (const key of keys)
      lines.push(
        ...(await readText(world.s3, bucket, key))
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l)),
      );
    const bodies = messages.map((m) => JSON.parse(m.Body!));
    expect(lines).to.deep.equal(bodies.map((b) => ({ job_id: b.job_id, record: b.record })));

    for (const jobId of jobIds) {
      expect(await world.record(jobId)).to.deep.include({
        status: "Processing",
        execution_arn: execution.executionArn,
      });
    }
  });

  it("starts the same execution again for the same records, and none for records already taken or final", async () => {
    await world.submit({ n: 1 });
    await world.submit({ n: 2 });
    const messages = await world.receiveAll();
    const flush = world.flushHandler();
    await flush(world.sqsEvent(messages));
    // The same batch delivered again (a retry after the function died): nothing new starts.
    expect(await flush(world.sqsEvent(messages))).to.deep.equal({ batchItemFailures: [] });
    expect(world.executions()).to.have.length(1);
    const started = world.log.lines
      .filter((line) => line.message === "flush")
      .map((l) => l.attributes.decision);
    expect(started).to.deep.equal(["started", "nothing queued"]);
  });

  it("starts the execution a crashed flush started, by its ClientRequestToken, for records it left Queued", async () => {
    const jobId = await world.submit({ n: 1 });
    const messages = await world.receiveAll();
    await world.flushHandler()(world.sqsEvent(messages));
    const [execution] = world.executions();
    // As if the first flush had died after StartPipelineExecution, before marking the record.
    await world.dynamodb.send(
      new UpdateItemCommand({
        TableName: world.tableName,
        Key: { job_id: { S: jobId } },
        UpdateExpression: "SET #s = :q REMOVE execution_arn",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":q": { S: "Queued" } },
      }),
    );
    await world.flushHandler()(world.sqsEvent(messages));
    expect(world.executions()).to.have.length(1);
    expect(await world.record(jobId)).to.deep.include({
      status: "Processing",
      execution_arn: execution.executionArn,
    });
  });

  it("flushes a record sent twice (a repeated Idempotency-Key) once", async () => {
    const jobId = await world.submit({ n: 1 }, { "Idempotency-Key": "twice" });
    await world.submit({ n: 1 }, { "Idempotency-Key": "twice" });
    const messages = await world.receiveAll();
    expect(messages).to.have.length(2);
    expect(await world.flushHandler()(world.sqsEvent(messages))).to.deep.equal({ batchItemFailures: [] });
    const [execution] = world.executions();
    const inputUri = execution.parameters.find((p) => p.Name === "InputUri")!.Value!;
    const [key] = await listKeys(world.s3, inputUri);
    const lines = (await readText(world.s3, bucket, key)).trim().split("\n");
    expect(lines.map((line) => JSON.parse(line).job_id)).to.deep.equal([jobId]);
    expect((await world.record(jobId))?.status).to.equal("Processing");
  });

  describe("a batch that cannot be started", () => {
    it("comes back message by message, then at its last attempt marks its records Failed and dead-letters them", async () => {
      const jobIds = [await world.submit({ n: 1 }), await world.submit({ n: 2 })];
      // A pipeline that does not exist: SageMaker refuses every start.
      const flush = world.flushHandler({ pipelineName: "deleted-pipeline" });
      for (let attempt = 1; attempt < flushAttempts; attempt++) {
        const messages = await world.receiveAll();
        expect(messages.map((m) => m.Attributes?.ApproximateReceiveCount)).to.deep.equal([
          String(attempt),
          String(attempt),
        ]);
        const response = await flush(world.sqsEvent(messages));
        expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).to.deep.equal(
          messages.map((m) => m.MessageId).sort(),
        );
        for (const jobId of jobIds) expect((await world.record(jobId))?.status).to.equal("Queued");
        afterVisibilityTimeout();
      }
      const last = await world.receiveAll();
      expect(await flush(world.sqsEvent(last))).to.deep.equal({ batchItemFailures: [] });
      const reason =
        `Not processed: its batch could not be started after ${flushAttempts} attempts ` +
        "(ResourceNotFound: Pipeline deleted-pipeline does not exist).";
      for (const jobId of jobIds) {
        expect(await world.record(jobId)).to.deep.include({ status: "Failed", error: reason });
        expect((await world.record(jobId))?.processed_at).to.be.a("string");
      }
      const deadLetters = await world.receiveAll(world.deadLetterQueueUrl);
      expect(deadLetters.map((m) => JSON.parse(m.Body!).job_id).sort()).to.deep.equal([...jobIds].sort());
      expect(deadLetters[0].MessageAttributes?.reason?.StringValue).to.equal(reason);
      expect(world.executions()).to.deep.equal([]);
    });

    it("sends a message that is not a buffered record straight to the dead-letter queue", async () => {
      const jobId = await world.submit({ n: 1 });
      await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queueUrl, MessageBody: "not a record" }));
      const messages = await world.receiveAll();
      expect(await world.flushHandler()(world.sqsEvent(messages))).to.deep.equal({ batchItemFailures: [] });
      const [letter] = await world.receiveAll(world.deadLetterQueueUrl);
      expect(letter.Body).to.equal("not a record");
      expect(letter.MessageAttributes?.reason?.StringValue).to.equal(
        "Malformed buffer message: the message is not JSON",
      );
      expect((await world.record(jobId))?.status).to.equal("Processing");
    });
  });

  describe("on a schedule", () => {
    it("drains the queue in batches of recordBatchSize, one execution each, deleting what it flushed", async () => {
      const records = Array.from({ length: 25 }, (_, i) => ({ n: i }));
      await world.api(apiEvent({ method: "POST", resource: "/jobs", body: JSON.stringify({ records }) }));
      const drained = await world.scheduledFlushHandler({ batchSize: 10 })(
        {},
        { getRemainingTimeInMillis: () => 300_000 },
      );
      expect(drained).to.deep.equal({ batches: 3, records: 25 });
      const shardCounts = world
        .executions()
        .map((e) => Number(e.parameters.find((p) => p.Name === "ShardCount")?.Value));
      expect(shardCounts).to.deep.equal([5, 5, 3]);
      afterVisibilityTimeout();
      expect(await world.receiveAll(), "messages left on the buffer").to.deep.equal([]);
    });

    it("leaves a batch that cannot be started on the queue for the next schedule", async () => {
      await world.submit({ n: 1 });
      const drained = await world.scheduledFlushHandler({ pipelineName: "deleted-pipeline" })({});
      expect(drained).to.deep.equal({ batches: 0, records: 0 });
      afterVisibilityTimeout();
      const [message] = await world.receiveAll();
      expect(message.Attributes?.ApproximateReceiveCount).to.equal("2");
    });
  });
});
