import { expect } from "chai";
import { jobStateChangePattern } from "../../../functions/job-state-change";
import { compileEventPattern, matchesEventPattern } from "../../../local/designs/event-pattern";

const jobQueue = "arn:aws:batch:us-east-1:123456789012:job-queue/batch-bridge-dev-jobs";

/** A Batch Job State Change event as EventBridge delivers it. */
function batchEvent(detail: Record<string, unknown>): Record<string, unknown> {
  return {
    version: "0",
    id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Batch Job State Change",
    source: "aws.batch",
    account: "123456789012",
    time: "2030-01-01T00:02:32Z",
    region: "us-east-1",
    resources: [`arn:aws:batch:us-east-1:123456789012:job/${String(detail.jobId)}`],
    detail: { jobQueue, jobId: "a08ff49b", jobName: "bridge-dev-was98kwzp9qr", ...detail },
  };
}

describe("EventBridge event patterns in local mode", () => {
  it("matches exact values, any value of a list, and any element of a list in the event", () => {
    const pattern = { source: ["aws.batch"], detail: { status: ["SUCCEEDED", "FAILED"] } };
    expect(matchesEventPattern(pattern, batchEvent({ status: "FAILED" }))).to.equal(true);
    expect(matchesEventPattern(pattern, batchEvent({ status: "RUNNING" }))).to.equal(false);
    expect(matchesEventPattern({ source: ["aws.ec2"] }, batchEvent({}))).to.equal(false);
    expect(
      matchesEventPattern(
        { resources: [`arn:aws:batch:us-east-1:123456789012:job/j1`] },
        batchEvent({ jobId: "j1" }),
      ),
    ).to.equal(true);
    expect(matchesEventPattern({ detail: { attempt: [2] } }, batchEvent({ attempt: 2 }))).to.equal(true);
    expect(matchesEventPattern({ detail: { attempt: [2] } }, batchEvent({ attempt: "2" }))).to.equal(false);
  });

  it("matches prefix on strings only, and exists on present or missing leaves", () => {
    const prefix = compileEventPattern({ detail: { jobName: [{ prefix: "bridge-dev-" }] } });
    expect(prefix(batchEvent({}))).to.equal(true);
    expect(prefix(batchEvent({ jobName: "reference-01" }))).to.equal(false);
    expect(prefix(batchEvent({ jobName: 42 }))).to.equal(false);

    const noIndex = compileEventPattern({ detail: { arrayProperties: { index: [{ exists: false }] } } });
    expect(noIndex(batchEvent({ arrayProperties: { size: 4 } })), "an array parent").to.equal(true);
    expect(noIndex(batchEvent({})), "a single job, no arrayProperties").to.equal(true);
    expect(noIndex(batchEvent({ arrayProperties: { index: 0 } })), "a child").to.equal(false);
    expect(noIndex(batchEvent({ arrayProperties: { index: undefined } })), "undefined is absent").to.equal(
      true,
    );

    const hasReason = compileEventPattern({ detail: { statusReason: [{ exists: true }] } });
    expect(hasReason(batchEvent({ statusReason: "Essential container in task exited" }))).to.equal(true);
    expect(hasReason(batchEvent({}))).to.equal(false);
    expect(hasReason(batchEvent({ statusReason: { nested: true } })), "an object is not a leaf").to.equal(
      false,
    );
  });

  it("matches $or when any alternative does, together with the fields beside it", () => {
    const pattern = compileEventPattern({
      detail: {
        jobQueue: [jobQueue],
        $or: [{ status: ["FAILED"] }, { status: ["SUCCEEDED"], attempt: [1] }],
      },
    });
    expect(pattern(batchEvent({ status: "FAILED" }))).to.equal(true);
    expect(pattern(batchEvent({ status: "SUCCEEDED", attempt: 1 }))).to.equal(true);
    expect(pattern(batchEvent({ status: "SUCCEEDED", attempt: 2 }))).to.equal(false);
    expect(pattern(batchEvent({ status: "FAILED", jobQueue: "other" }))).to.equal(false);
  });

  it("matches the stack's rule against Batch's events: final states of our jobs, no array child's success", () => {
    const rule = compileEventPattern(JSON.stringify(jobStateChangePattern(jobQueue, "bridge-dev")));
    expect(
      rule(batchEvent({ status: "SUCCEEDED", arrayProperties: { size: 4, statusSummary: {} } })),
    ).to.equal(true);
    expect(
      rule(batchEvent({ status: "SUCCEEDED", jobId: "a08ff49b:3", arrayProperties: { index: 3 } })),
    ).to.equal(false);
    expect(
      rule(batchEvent({ status: "FAILED", jobId: "a08ff49b:3", arrayProperties: { index: 3 } })),
    ).to.equal(true);
    expect(rule(batchEvent({ status: "RUNNING" }))).to.equal(false);
    expect(rule(batchEvent({ status: "FAILED", jobName: "reference-03" }))).to.equal(false);
  });

  it("refuses, naming it, an operator local mode does not match, and a malformed pattern", () => {
    expect(() => compileEventPattern({ detail: { status: [{ "anything-but": "RUNNING" }] } })).to.throw(
      /pattern\.detail\.status\[0\] uses "anything-but", which local mode does not match/,
    );
    expect(() => compileEventPattern({ detail: { status: "FAILED" } })).to.throw(
      /pattern\.detail\.status must be a list of values or a nested pattern/,
    );
    expect(() => compileEventPattern({ $or: [{ source: ["aws.batch"] }] })).to.throw(
      /pattern\.\$or must list at least two/,
    );
    expect(() => compileEventPattern("{not json")).to.throw(/event pattern is not valid JSON/);
    expect(() => compileEventPattern({ detail: { jobName: [{ prefix: 3 }] } })).to.throw(
      /prefix must be a string/,
    );
  });
});
