import { expect } from "chai";
import { submitHandlerFromEnvironment } from "../../functions/entrypoints";
import { SimulatedAccount } from "../../local/runner/simulated-account";

/** The Lambda step's arguments for execution `executionId`, jobs mode. */
function stepArguments(executionId: string, shardCount: number) {
  return {
    executionArn: `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`,
    inputUri: "s3://data-bucket/input/run-1",
    outputUri: "s3://data-bucket/output/run-1",
    shardCount: String(shardCount),
  };
}

/** Seconds the ideal submission takes: every attempt paced at 40 a second, a share `throttle` refused. */
const idealSeconds = (shards: number, throttle: number) => shards / (40 * (1 - throttle));

describe("submit function under Batch throttling (local Batch, simulated time)", function () {
  this.timeout(120_000);
  let account: SimulatedAccount | undefined;
  afterEach(async () => {
    await account?.stop();
    account = undefined;
  });

  /** Submits `shards` jobs-mode shards through the function as Lambda runs it; returns the seconds it took. */
  async function submitTimed(
    handler: ReturnType<typeof submitHandlerFromEnvironment>,
    executionId: string,
    shards: number,
    timeoutSeconds = 300,
  ): Promise<number> {
    const startedAt = account!.clock.now();
    const outputs = await account!.run(
      handler(stepArguments(executionId, shards), account!.context(timeoutSeconds)),
      timeoutSeconds,
    );
    expect(outputs).to.deep.equal({
      jobMode: "jobs",
      jobRef: `batch-bridge-${executionId}`,
      shardCount: String(shards),
      jobName: `batch-bridge-${executionId}`,
      outputUri: "s3://data-bucket/output/run-1",
      minSuccessRatio: "1",
    });
    return (account!.clock.now() - startedAt) / 1000;
  }

  /** Jobs of the execution in Batch, and how many distinct shard names they have. */
  function jobsOf(executionId: string) {
    const jobs = account!.batch
      .snapshot()
      .filter((j) => j.jobName.startsWith(`batch-bridge-${executionId}-`));
    return { jobs: jobs.length, names: new Set(jobs.map((j) => j.jobName)).size };
  }

  it("submits 200 shards while Batch refuses 90% of calls, near the ideal 50 s, each shard once", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.9, seed: 3 });
    const handler = submitHandlerFromEnvironment(process.env, account.transports);

    const seconds = await submitTimed(handler, "exec200at90", 200);

    expect(seconds).to.be.within(idealSeconds(200, 0.9) * 0.8, idealSeconds(200, 0.9) * 1.2);
    expect(jobsOf("exec200at90")).to.deep.equal({ jobs: 200, names: 200 });
    // Every attempt was paced: never more than 40 SubmitJob calls a second, retries included.
    expect(account.batch.calls().SubmitJob / seconds).to.be.at.most(41);
  });

  it("submits 1,000 shards at half the calls refused within the ideal 50 s and a fifth", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.5, seed: 4 });
    const handler = submitHandlerFromEnvironment(process.env, account.transports);

    const seconds = await submitTimed(handler, "exec1000at50", 1000);

    expect(seconds).to.be.at.most(idealSeconds(1000, 0.5) * 1.2);
    expect(jobsOf("exec1000at50")).to.deep.equal({ jobs: 1000, names: 1000 });
  });

  it("keeps its pace in a warm container: the next invocation after a throttled one is as fast", async () => {
    account = await SimulatedAccount.start({ throttleRate: 0.8, seed: 5 });
    const handler = submitHandlerFromEnvironment(process.env, account.transports);

    const first = await submitTimed(handler, "warmfirst", 200);
    const second = await submitTimed(handler, "warmsecond", 200);

    expect(first).to.be.at.most(idealSeconds(200, 0.8) * 1.2);
    expect(second).to.be.at.most(idealSeconds(200, 0.8) * 1.2);
    expect(jobsOf("warmsecond")).to.deep.equal({ jobs: 200, names: 200 });
  });
});
