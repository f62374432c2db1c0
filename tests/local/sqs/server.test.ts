import { expect } from "chai";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { SimClock } from "../../../local/time/clock";
import { startSqs, type SqsServer } from "../../../local/sqs/server";
import { localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);

interface Queues {
  clock: SimClock;
  server: SqsServer;
  sqs: SQSClient;
  queueUrl: string;
  deadLetterUrl: string;
}

/** A callback queue with a dead-letter queue after `maxReceiveCount` receives, as the stack declares them. */
async function startQueues(speed: number, maxReceiveCount = 5): Promise<Queues> {
  const clock = new SimClock({ speed, startMs: start });
  const server = await startSqs({ clock });
  const sqs = new SQSClient(localClientConfig(server.endpoint));
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: "callbacks-dlq" }));
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes?.QueueArn;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: "callbacks",
      Attributes: {
        VisibilityTimeout: "900",
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  return { clock, server, sqs, queueUrl: queue.QueueUrl!, deadLetterUrl: dlq.QueueUrl! };
}

async function receive(q: Queues, queueUrl = q.queueUrl): Promise<Message[]> {
  const answer = await q.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
    }),
  );
  return answer.Messages ?? [];
}

async function count(q: Queues, queueUrl: string): Promise<number> {
  const { Attributes } = await q.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

describe("local SQS", () => {
  let q: Queues | undefined;
  afterEach(async () => {
    q?.sqs.destroy();
    await q?.server.stop();
    q?.clock.stop();
    q = undefined;
  });

  it("delivers a message with its receive count and simulated sent time, up to MaxNumberOfMessages", async () => {
    q = await startQueues(0);
    q.clock.advance(5_000);
    for (const body of ["a", "b", "c"])
      await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: body }));
    const answer = await q.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: q.queueUrl,
        MaxNumberOfMessages: 2,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    // A short poll answers at once, even while time is frozen.
    expect(answer.Messages).to.have.length(2);
    for (const message of answer.Messages ?? []) {
      expect(message.Attributes?.ApproximateReceiveCount).to.equal("1");
      expect(message.Attributes?.SentTimestamp).to.equal(String(start + 5_000));
    }
    expect(q.server.calls()).to.include({ SendMessage: 3, ReceiveMessage: 1 });
  }).timeout(5_000);

  it("tells without a request how many messages a receive would find: not those in flight or delayed", async () => {
    q = await startQueues(0);
    expect(q.server.visibleMessages(q.queueUrl)).to.equal(0);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "now" }));
    expect(q.server.visibleMessages(q.queueUrl), "sent with no delay").to.equal(1);
    await q.sqs.send(
      new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "later", DelaySeconds: 60 }),
    );
    expect(q.server.visibleMessages(q.queueUrl), "and one delayed").to.equal(1);
    const [received] = await receive(q);
    expect(received.Body).to.equal("now");
    expect(q.server.visibleMessages("callbacks"), "in flight, by queue name").to.equal(0);
    q.clock.advance(60_000);
    expect(q.server.visibleMessages(q.queueUrl), "the delay passed").to.equal(1);
    q.clock.advance(840_000);
    expect(q.server.visibleMessages(q.queueUrl), "the visibility timeout passed").to.equal(2);
    expect(q.server.visibleMessages("no-such-queue")).to.equal(undefined);
    expect(q.server.calls(), "counting sent no request").to.include({ ReceiveMessage: 1 });
  });

  it("hides a message for its visibility timeout in simulated time: back after 1,800 simulated seconds, not before", async () => {
    q = await startQueues(0);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "token" }));
    const [first] = await receive(q);
    await q.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: q.queueUrl,
        ReceiptHandle: first.ReceiptHandle,
        VisibilityTimeout: 1800,
      }),
    );
    const hiddenFrom = q.clock.now();
    let again: Message[] = [];
    let polls = 0;
    while (again.length === 0 && polls < 1_000) {
      q.clock.advance(10_000);
      polls += 1;
      again = await receive(q);
    }
    // Polled every 10 simulated seconds: hidden for the 179 polls before 1,800 s, seen at the 180th.
    expect(polls).to.equal(180);
    expect(q.clock.now() - hiddenFrom).to.equal(1_800_000);
    // ChangeMessageVisibility is not a receive: this is the second receive.
    expect(again[0].Attributes?.ApproximateReceiveCount).to.equal("2");
  });

  it("brings back a message hidden for 1 s before one hidden for 10 s", async () => {
    q = await startQueues(0);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "ten" }));
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "one" }));
    const received = await receive(q);
    const t0 = q.clock.now();
    for (const message of received) {
      await q.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: q.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: message.Body === "one" ? 1 : 10,
        }),
      );
    }
    const back: { body: string; sim: number }[] = [];
    while (back.length < 2 && q.clock.now() - t0 < 60_000) {
      q.clock.advance(100);
      for (const message of await receive(q)) back.push({ body: message.Body!, sim: q.clock.now() - t0 });
    }
    expect(back).to.deep.equal([
      { body: "one", sim: 1_000 },
      { body: "ten", sim: 10_000 },
    ]);
  });

  it("moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
    q = await startQueues(0, 3);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "not a callback message" }));
    const counts: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const [message] = await receive(q);
      counts.push(message.Attributes!.ApproximateReceiveCount!);
      q.clock.advance(900_000);
    }
    expect(counts).to.deep.equal(["1", "2", "3"]);
    expect(await receive(q)).to.have.length(0);
    const dead = await receive(q, q.deadLetterUrl);
    expect(dead.map((m) => m.Body)).to.deep.equal(["not a callback message"]);
    expect(await count(q, q.queueUrl)).to.equal(0);
  });

  it("keeps counting receives only, so ChangeMessageVisibility does not hasten the dead-letter queue", async () => {
    q = await startQueues(0, 2);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "token" }));
    const [first] = await receive(q);
    for (const seconds of [30, 60, 0]) {
      await q.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: q.queueUrl,
          ReceiptHandle: first.ReceiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    }
    q.clock.advance(1);
    const [second] = await receive(q);
    expect(second.Attributes?.ApproximateReceiveCount).to.equal("2");
    expect(await receive(q, q.deadLetterUrl)).to.have.length(0);
  });

  it("leaves no timers on a shared clock once stopped", async () => {
    q = await startQueues(0);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "token" }));
    await receive(q);
    expect(q.clock.pendingTimers()).to.be.greaterThan(0);
    await q.server.stop();
    expect(q.clock.pendingTimers()).to.equal(0);
  });

  it("deletes a message for good", async () => {
    q = await startQueues(0);
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "token" }));
    const [message] = await receive(q);
    await q.sqs.send(
      new DeleteMessageCommand({ QueueUrl: q.queueUrl, ReceiptHandle: message.ReceiptHandle }),
    );
    q.clock.advance(3_600_000);
    expect(await receive(q)).to.have.length(0);
    expect(await count(q, q.queueUrl)).to.equal(0);
    expect(q.server.calls()).to.include({ DeleteMessage: 1, GetQueueAttributes: 2 });
  });
});
