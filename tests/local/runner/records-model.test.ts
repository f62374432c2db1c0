import { expect } from "chai";
import {
  formBatches,
  latencyPercentiles,
  stackLatencies,
  templateCalls,
  templateLatencies,
} from "../../../local/runner/records-model";
import { callsPerThousand, localStackModel, templateModel } from "../../../scripts/bench-records";
import type { RecordsSummary } from "../../../local/runner/records-run";

const model = localStackModel({
  batchSize: 100,
  windowSeconds: 60,
  recordsPerShard: 100,
  concurrentJobs: 128,
});

describe("the records model the bench uses for sizes too large to run", () => {
  it("forms batches as the buffer's mapping does: full at batchSize, else when the window ends", () => {
    // 120 records at 50 a second: the first 100 fill a batch at 1.98 s, the last 20 wait the 60 s window.
    expect(formBatches(120, 50, 100, 60)).to.deep.equal([
      { openedAt: 0, flushedAt: 1.98, first: 0, count: 100 },
      { openedAt: 2, flushedAt: 62, first: 100, count: 20 },
    ]);
    // A slow trickle: one record every 40 s, a window of 60 s: two records a batch.
    expect(formBatches(3, 1 / 40, 100, 60).map((b) => b.count)).to.deep.equal([2, 1]);
  });

  it("makes a record wait for its batch, a job's start-up and run, and two event deliveries", () => {
    const [first, last] = [0, 99].map((i) => stackLatencies(100, 100, model)[i]);
    // Flushed at 0.99 s; 11 s to run, 20 s starting, 120 s running, 2 events of 1 s.
    expect(first).to.be.closeTo(0.99 + 153, 1e-9);
    expect(last).to.be.closeTo(153, 1e-9);
  });

  it("queues jobs for capacity: more batches at once than jobs may run make the later records wait", () => {
    const roomy = latencyPercentiles(stackLatencies(100_000, 100, model));
    const tight = latencyPercentiles(stackLatencies(100_000, 100, { ...model, concurrentJobs: 64 }));
    expect(tight.p99).to.be.greaterThan(roomy.p99 + 60);
    // 140 s a job, one batch a second, 128 at once: a backlog builds over the 1,000 s of arrivals.
    expect(roomy.p99).to.be.greaterThan(roomy.p50);
  });

  it("adds the template's instance start-up to each batch, and counts its calls from its source", () => {
    const latencies = templateLatencies(100, 100, templateModel);
    expect(latencies[99]).to.be.closeTo(1 + 300 + 120 + 1, 1e-9);
    // 4 calls a record; a batch: 8 calls and 4 BatchWriteItem of 25.
    expect(templateCalls(1000, 100, templateModel)).to.equal(4000 + 10 * 12);
  });

  it("counts a local run's calls per 1,000 records without Lambda's polling of the queues", () => {
    const summary = {
      records: { submitted: 200, processed: 200, failed: 0, lost: 0 },
      lambdaInvocations: { api: 200, flush: 2 },
      apiCalls: { SQS: { ReceiveMessage: 900, SendMessage: 202 }, DynamoDB: { PutItem: 200 } },
    } as unknown as RecordsSummary;
    expect(callsPerThousand(summary)).to.equal(((202 + 202 + 200) * 1000) / 200);
  });
});
