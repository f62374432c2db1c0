import { BatchClient, ListJobsCommand, TerminateJobCommand } from "@aws-sdk/client-batch";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import { OutOfTimeError } from "../../functions/aws-errors";
import { BatchCalls, createBatchPacers } from "../../functions/batch-calls";
import { awsError, fakeClock, rejectionOf } from "./factories";

/** Batch calls on a mocked client and a fake clock; `sentAt` records when each TerminateJob went out. */
function callsFixture() {
  const batch = new BatchClient({ region: "eu-west-1" });
  const batchMock = mockClient(batch);
  const clock = fakeClock();
  const pacers = createBatchPacers(clock);
  const sentAt: number[] = [];
  const invocation = (seconds: number) => new BatchCalls(batch, clock, pacers, clock.now() + seconds * 1000);
  return { batchMock, clock, sentAt, invocation };
}

describe("Batch calls", () => {
  it("retries a throttled TerminateJob until Batch takes it, every attempt a paced 25 ms after the last", async () => {
    const f = callsFixture();
    let refusals = 3;
    f.batchMock.on(TerminateJobCommand).callsFake(() => {
      f.sentAt.push(f.clock.now());
      if (refusals-- > 0) throw awsError("TooManyRequestsException", 429);
      return {};
    });

    await f.invocation(60).terminateJob("job-1", "reason");

    expect(f.sentAt.map((t) => t - f.sentAt[0])).to.deep.equal([0, 25, 50, 75]);
  });

  it("gives up at the deadline, naming the call and its last error, and never slows the container's next invocation", async () => {
    const f = callsFixture();
    f.batchMock.on(TerminateJobCommand).callsFake(() => {
      f.sentAt.push(f.clock.now());
      throw awsError("TooManyRequestsException", 429, "Too Many Requests");
    });

    const error = await rejectionOf(f.invocation(1).terminateJob("job-1", "reason"));
    const lastRefused = f.sentAt[f.sentAt.length - 1];
    f.batchMock.on(TerminateJobCommand).callsFake(() => {
      f.sentAt.push(f.clock.now());
      return {};
    });
    const next = f.invocation(60);
    for (const jobId of ["job-2", "job-3", "job-4"]) await next.terminateJob(jobId, "reason");

    expect(error).to.be.instanceOf(OutOfTimeError);
    expect(error.message).to.equal(
      "TerminateJob was not accepted before the invocation's time ran out (41 attempts, the last: " +
        "TooManyRequestsException: Too Many Requests)",
    );
    // 41 attempts in the second the invocation had, at 40 a second; the next invocation's calls go on at
    // that pace, not slower for all the refusals.
    expect(f.sentAt).to.have.length(44);
    expect(f.sentAt.slice(-3).map((t) => t - lastRefused)).to.deep.equal([25, 50, 75]);
  });

  it("does not retry an error that will not pass", async () => {
    const f = callsFixture();
    f.batchMock.on(ListJobsCommand).rejects(awsError("AccessDeniedException", 403, "not authorized"));

    const error = await rejectionOf(f.invocation(60).listJobs({ jobQueue: "q" }));

    expect(error.name).to.equal("AccessDeniedException");
    expect(f.batchMock.commandCalls(ListJobsCommand)).to.have.length(1);
  });

  it("expects a clean-up to take its calls at their paces, over the share of attempts Batch accepted", async () => {
    const f = callsFixture();
    let call = 0;
    f.batchMock.on(TerminateJobCommand).callsFake(() => {
      if (call++ % 4 !== 3) throw awsError("TooManyRequestsException", 429);
      return {};
    });
    const calls = f.invocation(60);

    // 400 jobs: 4 ListJobs pages and 4 DescribeJobs calls at 20 a second, 400 TerminateJob at 40: 10.4 s.
    expect(calls.expectedCleanupMs(400)).to.be.closeTo(10_400, 1e-6);
    for (const jobId of ["job-1", "job-2", "job-3"]) await calls.terminateJob(jobId, "reason");

    // 3 accepted of 12 attempts, one more accepted assumed: 4 of 13, so 13/4 as long.
    expect(calls.expectedCleanupMs(400)).to.be.closeTo((10_400 * 13) / 4, 1e-6);
  });
});
