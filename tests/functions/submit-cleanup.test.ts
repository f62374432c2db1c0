import { BatchClient } from "@aws-sdk/client-batch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { expect } from "chai";
import {
  cleanupHandlerFromEnvironment,
  clientConfig,
  type ClientTransports,
} from "../../functions/entrypoints";
import { submitSettingsFromEnvironment } from "../../functions/settings";
import { makeSubmitHandler } from "../../functions/submit";
import { awsError, recordingLog } from "./factories";
import { SimulatedAccount } from "../../local/runner/simulated-account";

const executionArnOf = (executionId: string) =>
  `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`;

function stepArguments(executionId: string, shardCount: number) {
  return {
    executionArn: executionArnOf(executionId),
    inputUri: "s3://data-bucket/input/run-1",
    outputUri: "s3://data-bucket/output/run-1",
    shardCount: String(shardCount),
  };
}

/**
 * A submit function container on `transports` whose SubmitJob calls reach `intercept` (which may pass them
 * on) first.
 */
function submitContainer(
  transports: ClientTransports,
  intercept: (pass: () => Promise<unknown>) => Promise<unknown> = (pass) => pass(),
) {
  const batch = new BatchClient(clientConfig(process.env, "BATCH", transports));
  batch.middlewareStack.add(
    (next, context) => (args) =>
      context.commandName === "SubmitJobCommand"
        ? (intercept(() => next(args)) as ReturnType<typeof next>)
        : next(args),
    { step: "initialize" },
  );
  return makeSubmitHandler({
    batch,
    dynamodb: new DynamoDBClient(clientConfig(process.env, "DYNAMODB", transports)),
    sqs: new SQSClient(clientConfig(process.env, "SQS", transports)),
    settings: submitSettingsFromEnvironment(process.env),
    logger: recordingLog(),
  });
}

describe("a failed submission's clean-up never outlives its function (local Batch and SQS, simulated time)", function () {
  this.timeout(120_000);
  let account: SimulatedAccount | undefined;
  afterEach(async () => {
    await account?.stop();
    account = undefined;
  });

  /** The execution's jobs by state. */
  function statesOf(executionId: string): Record<string, number> {
    const states: Record<string, number> = {};
    for (const job of account!.batch.snapshot()) {
      if (!job.jobName.startsWith(`batch-bridge-${executionId}-`)) continue;
      states[job.status] = (states[job.status] ?? 0) + 1;
    }
    return states;
  }

  /** Runs the submit step in an invocation of `timeoutSeconds`; its error and the seconds it took. */
  async function failedSubmission(
    handler: ReturnType<typeof submitContainer>,
    executionId: string,
    shards: number,
    timeoutSeconds: number,
  ) {
    const startedAt = account!.clock.now();
    const error = await account!.run(
      handler(stepArguments(executionId, shards), account!.context(timeoutSeconds)).then(
        () => undefined,
        (e: Error) => e,
      ),
      timeoutSeconds + 60,
    );
    return { error, seconds: (account!.clock.now() - startedAt) / 1000 };
  }

  /** Hands every message on the clean-up queue to the clean-up function, as its queue would. */
  async function runCleanups(): Promise<number> {
    const cleanup = cleanupHandlerFromEnvironment(process.env, account!.transports);
    const bodies = await account!.cleanupMessages();
    for (const [i, body] of bodies.entries()) {
      await account!.run(
        cleanup({ Records: [{ messageId: `m-${i}`, body } as never] }, account!.context(300)),
        300,
      );
    }
    return bodies.length;
  }

  it("terminates what its time allows when Batch throttles the clean-up, and hands the rest to the clean-up queue", async () => {
    account = await SimulatedAccount.start({ seed: 31 });
    // 300 jobs go through; then the job definition is refused, and Batch refuses 97% of calls from then on.
    let calls = 0;
    const handler = submitContainer(account.transports, async (pass) => {
      calls += 1;
      if (calls <= 300) return pass();
      account!.batch.setThrottleRate(0.97);
      throw awsError("ClientException", 400, "Job definition is INACTIVE");
    });

    const { error, seconds } = await failedSubmission(handler, "handover001", 1000, 60);

    // It ended within its 60 s (its last 10 kept to log and answer), having terminated some of the 300.
    expect(seconds).to.be.below(60);
    const match =
      /^Submitted 300 of 1000 jobs, then submission failed \(ClientException: Job definition is INACTIVE\); terminated (\d+) job\(s\) of this execution; the clean-up function terminates the (\d+) left\.$/.exec(
        error?.message ?? "",
      );
    expect(match, error?.message).to.not.equal(null);
    const [terminated, left] = [Number(match![1]), Number(match![2])];
    expect(terminated).to.be.above(0);
    expect(terminated + left).to.equal(300);
    expect(statesOf("handover001")).to.deep.include({ FAILED: terminated });

    // The clean-up function takes the hand-over and terminates the rest.
    account.batch.setThrottleRate(0);
    expect(await runCleanups()).to.equal(1);
    expect(statesOf("handover001")).to.deep.equal({ FAILED: 300 });
  });

  it("stops submitting while there is time left to clean up at the rate Batch accepts calls", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.9, seed: 32 });

    const { error, seconds } = await failedSubmission(
      submitContainer(account.transports),
      "budget00001",
      1000,
      120,
    );

    expect(error?.message).to.match(
      /^Submitted \d+ of 1000 jobs, then submission failed \(Batch accepted too few SubmitJob calls to submit every shard within the function's time/,
    );
    // It kept enough time: every job it submitted was terminated within its 120 s, none handed over.
    expect(seconds).to.be.below(120);
    const submitted = Number(/^Submitted (\d+) of/.exec(error!.message)![1]);
    expect(submitted).to.be.above(100);
    expect(error?.message).to.match(new RegExp(`; terminated ${submitted} job\\(s\\) of this execution\\.$`));
    expect(statesOf("budget00001")).to.deep.equal({ FAILED: submitted });
    expect(await runCleanups()).to.equal(0);
  });
});
