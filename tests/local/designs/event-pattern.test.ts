import { expect } from "chai";
import { jobStateChangePattern } from "../../../functions/batch-job-state-event";
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

  it("matches SageMaker's pipeline execution status changes: the stack's kind of rule on Stopped and Failed ends", () => {
    const pipelineArn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge-dev";
    const event = (status: string, arn = pipelineArn) => ({
      source: "aws.sagemaker",
      "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
      resources: [arn, `${arn}/execution/p4jn9xou8a8s`],
      detail: {
        pipelineArn: arn,
        currentPipelineExecutionStatus: status,
        previousPipelineExecutionStatus: "Executing",
      },
    });
    const rule = compileEventPattern({
      source: ["aws.sagemaker"],
      "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
      detail: { pipelineArn: [pipelineArn], currentPipelineExecutionStatus: ["Stopped", "Failed"] },
    });
    expect(["Stopped", "Failed", "Succeeded", "Stopping"].map((status) => rule(event(status)))).to.deep.equal(
      [true, true, false, false],
    );
    expect(rule(event("Stopped", `${pipelineArn}-other`)), "another pipeline").to.equal(false);
    expect(rule({ ...event("Stopped"), source: "aws.batch" })).to.equal(false);
  });

  it("matches suffix, equals-ignore-case, wildcard, numeric and anything-but as EventBridge does", () => {
    const match = (leaf: unknown, value: unknown) =>
      matchesEventPattern({ detail: { field: [leaf] } }, batchEvent({ field: value }));
    expect(match({ suffix: "-dlq" }, "callbacks-dlq")).to.equal(true);
    expect(match({ suffix: "-dlq" }, "callbacks")).to.equal(false);
    expect(match({ "equals-ignore-case": "stopped" }, "Stopped")).to.equal(true);
    expect(match({ "equals-ignore-case": "stopped" }, "Stopping")).to.equal(false);
    expect(
      match({ wildcard: "arn:*:pipeline/batch-*" }, "arn:aws:sagemaker:us-east-1:1:pipeline/batch-bridge"),
    ).to.equal(true);
    expect(match({ wildcard: "batch-*" }, "other-batch-x")).to.equal(false);
    expect(match({ wildcard: "a\\*b" }, "a*b")).to.equal(true);
    expect(match({ wildcard: "a\\*b" }, "axxb")).to.equal(false);
    expect(match({ wildcard: "a.b" }, "axb"), "a dot is a dot").to.equal(false);
    expect(match({ numeric: [">", 0, "<=", 5] }, 5)).to.equal(true);
    expect(match({ numeric: [">", 0, "<=", 5] }, 0)).to.equal(false);
    expect(match({ numeric: ["=", 3] }, "3"), "numbers only").to.equal(false);
    expect(match({ "anything-but": "RUNNING" }, "FAILED")).to.equal(true);
    expect(match({ "anything-but": "RUNNING" }, "RUNNING")).to.equal(false);
    expect(match({ "anything-but": ["RUNNING", "STARTING"] }, "STARTING")).to.equal(false);
    expect(match({ "anything-but": { prefix: "bridge-" } }, "reference-1")).to.equal(true);
    expect(match({ "anything-but": { prefix: "bridge-" } }, "bridge-1")).to.equal(false);
    // Every operator but exists: false needs the field.
    expect(matchesEventPattern({ detail: { field: [{ "anything-but": "x" }] } }, batchEvent({}))).to.equal(
      false,
    );
    // A list in the event matches when any element does.
    expect(match({ suffix: "-b" }, ["x-a", "x-b"])).to.equal(true);
  });

  it("refuses, naming it, an operator local mode does not match, and a malformed pattern", () => {
    expect(() => compileEventPattern({ detail: { ip: [{ cidr: "10.0.0.0/24" }] } })).to.throw(
      /pattern\.detail\.ip\[0\] uses "cidr", which local mode does not match; supported: .*anything-but/,
    );
    expect(() => compileEventPattern({ detail: { n: [{ numeric: ["~", 3] }] } })).to.throw(
      /pattern\.detail\.n\[0\]\.numeric: \["~",3\] is not a comparison/,
    );
    expect(() =>
      compileEventPattern({ detail: { s: [{ "anything-but": { numeric: [">", 1] } }] } }),
    ).to.throw(/uses "numeric", which local mode does not match inside anything-but/);
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
