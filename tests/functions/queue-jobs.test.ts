import { BatchClient } from "@aws-sdk/client-batch";
import { expect } from "chai";
import { createBatchPacers } from "../../functions/batch-calls";
import { systemClock } from "../../functions/clock";
import { clientConfig } from "../../functions/entrypoints";
import { makeQueueJobsHandler, queueJobsLogMessage } from "../../functions/queue-jobs";
import { jobDefinitionArn, jobQueueArn, SimulatedAccount } from "../../local/runner/simulated-account";
import { recordingLog } from "./factories";

describe("queue-jobs function (local Batch, simulated time)", function () {
  this.timeout(60_000);
  let account: SimulatedAccount | undefined;
  afterEach(async () => {
    await account?.stop();
    account = undefined;
  });

  /** The function as Lambda runs it on the local Batch: one invocation, and its log. */
  function queueJobsFixture() {
    const log = recordingLog();
    const handler = makeQueueJobsHandler({
      batch: new BatchClient(clientConfig(process.env, "BATCH")),
      pacers: createBatchPacers(systemClock()),
      jobQueue: jobQueueArn,
      logger: log,
    });
    const invoke = () => account!.run(handler({}, account!.context(50)), 50);
    return { invoke, log };
  }

  const submit = (jobName: string, arraySize?: number) =>
    account!.batch.submitJob({
      jobName,
      jobQueue: jobQueueArn,
      jobDefinition: jobDefinitionArn,
      ...(arraySize !== undefined ? { arrayProperties: { size: arraySize } } : {}),
    });

  it("counts jobs by state, array children one by one, and how long the oldest has waited RUNNABLE", async () => {
    // Room for two jobs: the others wait RUNNABLE, as in a compute environment at its maxVcpus.
    account = await SimulatedAccount.start({ seed: 3, maxConcurrentJobs: 2 });
    const f = queueJobsFixture();
    for (const shard of [0, 1, 2]) submit(`batch-bridge-exec1-${shard}`);
    submit("batch-bridge-exec2", 4);
    account.clock.advance(10 * 60_000);

    const measured = await f.invoke();

    expect(measured).to.include({ SUBMITTED: 0, PENDING: 0, RUNNABLE: 5, STARTING: 0, RUNNING: 2 });
    expect(measured.oldestRunnableSeconds).to.be.within(600, 660);
    expect(f.log.lines).to.deep.equal([
      { level: "info", message: queueJobsLogMessage, attributes: measured },
    ]);
  });

  it("reports no wait when nothing is RUNNABLE", async () => {
    account = await SimulatedAccount.start({ seed: 3 });
    const f = queueJobsFixture();
    submit("batch-bridge-exec1", 3);
    account.clock.advance(5 * 60_000);

    const measured = await f.invoke();

    expect(measured).to.deep.equal({
      SUBMITTED: 0,
      PENDING: 0,
      RUNNABLE: 0,
      STARTING: 0,
      RUNNING: 3,
      oldestRunnableSeconds: 0,
    });
  });
});
