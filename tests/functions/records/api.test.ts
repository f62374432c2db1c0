import { expect } from "chai";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { maxRecordBytes } from "../../../functions/records/contract";
import { apiEvent, RecordsWorld } from "./records-fixture";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("records API function (API Gateway proxy) against local DynamoDB and SQS", function () {
  this.timeout(60_000);
  let world: RecordsWorld;

  before(async () => {
    world = await RecordsWorld.start();
  });
  after(async () => world.stop());
  beforeEach(async () => world.nextTest());

  const post = (resource: string, body: string | null, headers: Record<string, string> = {}) =>
    world.api(apiEvent({ method: "POST", resource, body, headers }));
  const get = (jobId: string) =>
    world.api(
      apiEvent({
        method: "GET",
        resource: "/job/{job_id}",
        path: `/job/${jobId}`,
        pathParameters: { job_id: jobId },
      }),
    );

  async function queued(): Promise<number> {
    const { Attributes = {} } = await world.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: world.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    return Number(Attributes.ApproximateNumberOfMessages);
  }

  describe("POST /job", () => {
    it("accepts any JSON value as a record: 202 with its job_id, Queued in the table and on the buffer", async () => {
      const answer = await post("/job", JSON.stringify({ text: "the quick brown fox" }));
      expect(answer.statusCode).to.equal(202);
      expect(answer.body).to.have.keys("job_id", "status");
      expect(answer.body.status).to.equal("Queued");
      const jobId = answer.body.job_id as string;
      expect(jobId).to.match(uuid);
      expect(await world.record(jobId)).to.deep.equal({
        job_id: jobId,
        status: "Queued",
        submitted_at: "2030-01-01T00:00:00.000Z",
      });
      const [message] = await world.receiveAll();
      expect(JSON.parse(message.Body!)).to.deep.equal({
        job_id: jobId,
        submitted_at: "2030-01-01T00:00:00.000Z",
        record: { text: "the quick brown fox" },
      });
      for (const record of [42, "just text", [1, 2], null, true]) {
        expect((await post("/job", JSON.stringify(record))).statusCode, JSON.stringify(record)).to.equal(202);
      }
    });

    it("reads a base64-encoded body as API Gateway passes binary media", async () => {
      const answer = world.api(
        apiEvent({
          method: "POST",
          resource: "/job",
          body: Buffer.from('{"text": "encoded"}').toString("base64"),
          isBase64Encoded: true,
        }),
      );
      expect((await answer).statusCode).to.equal(202);
      const [message] = await world.receiveAll();
      expect(JSON.parse(message.Body!).record).to.deep.equal({ text: "encoded" });
    });

    it("refuses a body that is missing or not JSON with 400, naming what it must be, and accepts nothing", async () => {
      const empty = await post("/job", null);
      expect(empty).to.deep.equal({
        statusCode: 400,
        body: { message: "The body is empty; it must be the record, as JSON." },
      });
      const broken = await post("/job", '{"text": "no closing brace"');
      expect(broken.statusCode).to.equal(400);
      expect(broken.body.message).to.match(/^The body is not valid JSON \(.+\); it must be the record\.$/);
      expect(await queued()).to.equal(0);
    });

    it("refuses a record larger than the buffer holds with 413, saying the limit", async () => {
      const record = "x".repeat(maxRecordBytes - 1);
      const answer = await post("/job", JSON.stringify(record));
      expect(answer.statusCode).to.equal(413);
      expect(answer.body.message).to.equal(
        `The record is ${maxRecordBytes + 1} bytes as JSON; a record may be at most ${maxRecordBytes} bytes ` +
          `(the buffer queue's 1 MiB message limit less the envelope).`,
      );
      expect(await queued()).to.equal(0);
      const largest = await post("/job", JSON.stringify("x".repeat(maxRecordBytes - 2)));
      expect(largest.statusCode, "a record of exactly the limit").to.equal(202);
    });
  });

  describe("POST /jobs", () => {
    it("accepts up to 500 records and answers their job_ids in the order of the records", async () => {
      const records = Array.from({ length: 500 }, (_, i) => ({ n: i }));
      const answer = await post("/jobs", JSON.stringify({ records }));
      expect(answer.statusCode).to.equal(202);
      const jobIds = answer.body.job_ids as string[];
      expect(jobIds).to.have.length(500);
      expect(new Set(jobIds).size).to.equal(500);
      const messages = await world.receiveAll();
      const recordOf = new Map(messages.map((m) => [JSON.parse(m.Body!).job_id, JSON.parse(m.Body!).record]));
      expect(jobIds.map((jobId) => recordOf.get(jobId))).to.deep.equal(records);
      expect((await world.record(jobIds[499]))?.status).to.equal("Queued");
    });

    it("refuses 501 records with 413, an empty list or another field with 400, naming the field", async () => {
      const tooMany = await post("/jobs", JSON.stringify({ records: Array.from({ length: 501 }, () => 1) }));
      expect(tooMany).to.deep.equal({
        statusCode: 413,
        body: { message: "records holds 501 records; a request may hold at most 500." },
      });
      const none = await post("/jobs", JSON.stringify({ records: [] }));
      expect(none).to.deep.equal({
        statusCode: 400,
        body: { message: "records must be an array of 1 to 500 records." },
      });
      const notAList = await post("/jobs", JSON.stringify({ records: { a: 1 } }));
      expect(notAList.statusCode).to.equal(400);
      const extra = await post("/jobs", JSON.stringify({ records: [1], priority: "high" }));
      expect(extra).to.deep.equal({
        statusCode: 400,
        body: { message: 'The body may hold only "records", got "priority".' },
      });
      const array = await post("/jobs", JSON.stringify([1, 2]));
      expect(array.body.message).to.equal('The body must be a JSON object {"records": [...]}.');
      expect(await queued()).to.equal(0);
    });

    it("refuses a request with one record too large with 413 naming it, accepting none of the others", async () => {
      const records = [{ ok: true }, "x".repeat(maxRecordBytes)];
      const answer = await post("/jobs", JSON.stringify({ records }));
      expect(answer.statusCode).to.equal(413);
      expect(answer.body.message).to.match(/^records\[1\] is \d+ bytes as JSON; a record may be at most/);
      expect(await queued()).to.equal(0);
    });
  });

  describe("Idempotency-Key", () => {
    it("answers a repeated POST /job with the same job_id and keeps one record", async () => {
      const headers = { "Idempotency-Key": "order-1234" };
      const first = await world.submit({ order: 1234 }, headers);
      const again = await world.submit({ order: 1234 }, { "idempotency-key": "order-1234" });
      expect(again).to.equal(first);
      const messages = await world.receiveAll();
      // The repeat sends the still-Queued record again: harmless, the flush takes a job_id once.
      expect(new Set(messages.map((m) => JSON.parse(m.Body!).job_id))).to.deep.equal(new Set([first]));
      expect(await world.submit({ order: 1234 }, { "Idempotency-Key": "order-1235" })).to.not.equal(first);
    });

    it("is the caller's: another API key with the same Idempotency-Key gets another job_id", async () => {
      const mine = await world.submit({ n: 1 }, { "Idempotency-Key": "k-1" });
      const theirs = await world.api(
        apiEvent({
          method: "POST",
          resource: "/job",
          body: '{"n": 1}',
          headers: { "Idempotency-Key": "k-1" },
          apiKeyId: "someone-else",
        }),
      );
      expect(theirs.body.job_id).to.not.equal(mine);
    });

    it("answers a repeated POST /jobs with the same job_ids in the same order", async () => {
      const body = JSON.stringify({ records: ["a", "b", "c"] });
      const headers = { "Idempotency-Key": "batch-7" };
      const first = await post("/jobs", body, headers);
      const again = await post("/jobs", body, headers);
      expect(first.statusCode).to.equal(202);
      expect(again).to.deep.equal(first);
    });

    it("refuses a key reused for a different request with 422, and a malformed key with 400", async () => {
      await world.submit({ n: 1 }, { "Idempotency-Key": "k-2" });
      const other = await post("/job", '{"n": 2}', { "Idempotency-Key": "k-2" });
      expect(other).to.deep.equal({
        statusCode: 422,
        body: {
          message:
            "The Idempotency-Key was used before with a different request; use a new key for new records.",
        },
      });
      const malformed = await post("/job", '{"n": 3}', { "Idempotency-Key": "has spaces" });
      expect(malformed.statusCode).to.equal(400);
      expect(malformed.body.message).to.equal(
        'The Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces, got "has spaces".',
      );
    });
  });

  describe("GET /job/{job_id}", () => {
    it("answers a record's status, 404 for an unknown job_id and 400 for what is not a job_id", async () => {
      const jobId = await world.submit({ text: "hello" });
      expect(await get(jobId)).to.deep.equal({
        statusCode: 200,
        body: { job_id: jobId, status: "Queued", submitted_at: "2030-01-01T00:00:00.000Z" },
      });
      const unknown = "0b2e9d4a-7c1f-4e3b-8a6d-9f5c2e1b7a30";
      expect(await get(unknown)).to.deep.equal({
        statusCode: 404,
        body: { message: `No record has job_id ${unknown} (or it expired).` },
      });
      const malformed = await get("42; DROP TABLE");
      expect(malformed.statusCode).to.equal(400);
      expect(malformed.body.message).to.equal(
        'job_id must be a job_id this API returned (a lowercase UUID), got "42; DROP TABLE".',
      );
    });
  });

  it("answers 503 and keeps no record when the buffer refuses it, so no job_id is handed out unqueued", async () => {
    const missingQueue = world.queueUrl.replace(/records-\d+$/, "no-such-queue");
    const answer = await world.api(
      apiEvent({ method: "POST", resource: "/job", body: '{"n": 1}' }),
      missingQueue,
    );
    expect(answer.statusCode).to.equal(503);
    expect(answer.body.message).to.equal(
      "The records service could not take the request just now; nothing was accepted. Retry it.",
    );
    const failed = world.log.lines.find((line) => line.message === "request failed");
    expect(failed?.attributes.error).to.match(/QueueDoesNotExist|NonExistentQueue/);
    const many = await world.api(
      apiEvent({ method: "POST", resource: "/jobs", body: JSON.stringify({ records: [1, 2, 3] }) }),
      missingQueue,
    );
    expect(many.statusCode).to.equal(503);
    const { Count } = await world.dynamodb.send(new ScanCommand({ TableName: world.tableName }));
    expect(Count, "status items left behind").to.equal(0);
  });
});
