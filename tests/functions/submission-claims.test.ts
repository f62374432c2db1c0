import { BatchClient } from "@aws-sdk/client-batch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { expect } from "chai";
import { clientConfig, submitHandlerFromEnvironment } from "../../functions/entrypoints";
import { submitSettingsFromEnvironment } from "../../functions/settings";
import { makeSubmitHandler } from "../../functions/submit";
import { awsError, recordingLog } from "./factories";
import { SimulatedAccount } from "../../local/runner/simulated-account";

/** The Lambda step's arguments for execution `executionId`. */
function stepArguments(executionId: string, shardCount: number) {
  return {
    executionArn: `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`,
    inputUri: "s3://data-bucket/input/run-1",
    outputUri: "s3://data-bucket/output/run-1",
    shardCount: String(shardCount),
  };
}

/**
 * A submit function container whose SubmitJob calls reach `intercept` before Batch: it may let the call
 * through (`pass`), hold it (a Promise that never settles: the invocation hangs, as one Lambda is about
 * to end at its timeout), or fail it.
 */
function interceptedContainer(intercept: (pass: () => Promise<unknown>) => Promise<unknown>) {
  const batch = new BatchClient(clientConfig(process.env, "BATCH"));
  batch.middlewareStack.add(
    (next, context) => (args) =>
      context.commandName === "SubmitJobCommand"
        ? (intercept(() => next(args)) as ReturnType<typeof next>)
        : next(args),
    { step: "initialize" },
  );
  const log = recordingLog();
  const handler = makeSubmitHandler({
    batch,
    dynamodb: new DynamoDBClient(clientConfig(process.env, "DYNAMODB")),
    sqs: new SQSClient(clientConfig(process.env, "SQS")),
    settings: submitSettingsFromEnvironment(process.env),
    logger: log,
  });
  return { handler, log };
}

/** A promise and the functions that settle it. */
function gate<T = void>() {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe("one submission per execution (local Batch and DynamoDB, simulated time)", function () {
  this.timeout(120_000);
  let account: SimulatedAccount | undefined;
  afterEach(async () => {
    await account?.stop();
    account = undefined;
  });

  /** The execution's jobs in Batch, and how many distinct names they have. */
  function jobsOf(executionId: string) {
    const jobs = account!.batch.snapshot().filter((j) => j.jobName.startsWith(`batch-bridge-${executionId}`));
    return { jobs: jobs.length, names: new Set(jobs.map((j) => j.jobName)).size };
  }

  it("two invocations at once in jobs mode make one job set and return the same reference", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.3, seed: 11 });
    // Two invocations at once run in two containers.
    const [first, second] = [1, 2].map(() => submitHandlerFromEnvironment(process.env));

    const outputs = await account.run(
      Promise.all([
        first(stepArguments("racejobs", 100), account.context(300)),
        second(stepArguments("racejobs", 100), account.context(300)),
      ]),
      300,
    );

    expect(outputs[0]).to.deep.equal({
      jobMode: "jobs",
      jobRef: "batch-bridge-racejobs",
      shardCount: "100",
      jobName: "batch-bridge-racejobs",
      outputUri: "s3://data-bucket/output/run-1",
      minSuccessRatio: "1",
    });
    expect(outputs[1]).to.deep.equal(outputs[0]);
    expect(jobsOf("racejobs")).to.deep.equal({ jobs: 100, names: 100 });
  });

  it("two invocations at once in array mode submit one array job and both return its ID", async () => {
    account = await SimulatedAccount.start({ env: { BRIDGE_SUBMIT_MODE: "array" }, seed: 12 });
    const [first, second] = [1, 2].map(() => submitHandlerFromEnvironment(process.env));

    const outputs = await account.run(
      Promise.all([
        first(stepArguments("racearray", 50), account.context(300)),
        second(stepArguments("racearray", 50), account.context(300)),
      ]),
      300,
    );

    expect(jobsOf("racearray")).to.deep.equal({ jobs: 1, names: 1 });
    const [arrayJob] = account.batch.snapshot();
    expect(outputs).to.deep.equal([
      {
        jobMode: "array",
        jobRef: arrayJob.jobId,
        shardCount: "50",
        jobName: arrayJob.jobName,
        outputUri: "s3://data-bucket/output/run-1",
        minSuccessRatio: "1",
      },
      {
        jobMode: "array",
        jobRef: arrayJob.jobId,
        shardCount: "50",
        jobName: arrayJob.jobName,
        outputUri: "s3://data-bucket/output/run-1",
        minSuccessRatio: "1",
      },
    ]);
    expect(account.batch.calls().SubmitJob).to.equal(1);
  });

  it("a call while another fails its submission fails with that reason; a later retry submits", async () => {
    account = await SimulatedAccount.start({ env: { BRIDGE_SUBMIT_MODE: "array" }, seed: 13 });
    const reached = gate();
    const decided = gate<never>();
    const winner = interceptedContainer(() => {
      reached.open();
      return decided.promise;
    });
    const waiter = submitHandlerFromEnvironment(process.env);

    const winnerCall = winner.handler(stepArguments("failing", 8), account.context(300));
    await account.run(reached.promise, 10);
    const waiterCall = waiter(stepArguments("failing", 8), account.context(300));
    await account.run(account.clock.sleep(30_000), 60);
    decided.fail(awsError("ClientException", 400, "Job definition is INACTIVE"));
    const [winnerResult, waiterResult] = await account.run(Promise.allSettled([winnerCall, waiterCall]), 60);
    const retried = await account.run(
      submitHandlerFromEnvironment(process.env)(stepArguments("failing", 8), account.context(300)),
      60,
    );

    expect(winnerResult).to.deep.include({ status: "rejected" });
    expect(waiterResult.status).to.equal("rejected");
    expect((waiterResult as PromiseRejectedResult).reason.message).to.equal(
      "Another invocation for this execution was submitting its jobs and failed: " +
        "ClientException: Job definition is INACTIVE",
    );
    expect(jobsOf("failing")).to.deep.equal({ jobs: 1, names: 1 });
    expect(retried.jobRef).to.equal(account.batch.snapshot()[0].jobId);
  });

  it("a claim whose invocation was ended mid-way holds later calls until its lease ends, then a retry finishes the same set", async () => {
    account = await SimulatedAccount.start({ seed: 14 });
    // This invocation submits 30 shards' jobs, then hangs on the 31st: Lambda ends it at its timeout.
    let passed = 0;
    const hanging = gate();
    const dying = interceptedContainer((pass) => {
      if (passed < 30) {
        passed += 1;
        return pass();
      }
      hanging.open();
      return new Promise(() => {});
    });
    void dying.handler(stepArguments("takeover", 100), account.context(300));
    await account.run(hanging.promise, 60);

    // A call right after waits for the claim, which outlasts it: it fails, naming the retry.
    const early = await account.run(
      submitHandlerFromEnvironment(process.env)(stepArguments("takeover", 100), account.context(300)).then(
        () => undefined,
        (error: Error) => error,
      ),
      400,
    );
    // Retried after the lease (the first invocation's 300 s and a minute), a call takes the claim over.
    account.clock.advanceTo(account.clock.now() + 120_000);
    const retry = interceptedContainer((pass) => pass());
    const outputs = await account.run(
      retry.handler(stepArguments("takeover", 100), account.context(300)),
      300,
    );

    expect(early?.message).to.match(
      /^Another invocation is submitting this execution's jobs and had not finished when this one ran out of time; retry the step once it has/,
    );
    expect(outputs).to.deep.equal({
      jobMode: "jobs",
      jobRef: "batch-bridge-takeover",
      shardCount: "100",
      jobName: "batch-bridge-takeover",
      outputUri: "s3://data-bucket/output/run-1",
      minSuccessRatio: "1",
    });
    expect(jobsOf("takeover")).to.deep.equal({ jobs: 100, names: 100 });
    expect(retry.log.lines.map((l) => l.message)).to.include(
      "took over a submission whose invocation ended before it finished",
    );
    expect(
      retry.log.lines.find((l) => l.attributes.decision === "submitted jobs")?.attributes,
    ).to.deep.include({
      submitted: 70,
      reused: 30,
    });
  });
});
