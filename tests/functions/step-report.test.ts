import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  TerminateJobCommand,
  type JobDetail,
  type JobSummary,
} from "@aws-sdk/client-batch";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  SageMakerClient,
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
} from "@aws-sdk/client-sagemaker";
import { SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import { makeMonitorHandler } from "../../functions/monitor";
import { reasonWithReport } from "../../functions/step-report";
import { terminationReasons } from "../../functions/terminate";
import {
  awsError,
  baseName,
  callbackMessage,
  executionId,
  fakeClock,
  fakeStart,
  invocationContext,
  monitorSettings,
  recordingLog,
  shardJob,
  sqsRecord,
} from "./factories";

const outputUri = "s3://data-bucket/output/run-1";
const expectedReportUri = `${outputUri}/_bridge/report-${executionId}-callback.json`;
const logGroup = "/aws/batch/batch-bridge-job";

/** The parts of a report the tests read. */
interface ReportJson {
  answer: { outcome: string; failedShards?: string };
  failedShards: (Record<string, unknown> & { shardIndex: number; logLink?: string })[];
  terminated: Record<string, unknown>;
}

/** Shard 3's job as DescribeJobs shows it: two attempts, the last one's log stream. */
function failedShardDetail(): JobDetail {
  return {
    jobId: "job-00003",
    jobName: `${baseName}-00003`,
    jobQueue: monitorSettings.jobQueue,
    jobDefinition: "batch-bridge-job:1",
    status: "FAILED",
    statusReason: "Essential container in task exited",
    createdAt: fakeStart,
    startedAt: fakeStart + 60_000,
    stoppedAt: fakeStart + 120_000,
    attempts: [
      { container: { exitCode: 1, logStreamName: "batch-bridge-job/default/first" } },
      { container: { exitCode: 1, logStreamName: "batch-bridge-job/default/second" } },
    ],
    container: {
      exitCode: 1,
      logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": logGroup } },
    },
  } as JobDetail;
}

/**
 * A monitor on mocked clients checking a jobs-mode step of 4 shards with an outputUri: shard 3 failed (or
 * is still running), shard 2 is still running (or succeeded), the others succeeded. With `stopping`, the
 * message is the one SageMaker sends when the execution is stopped.
 */
function reportFixture(options: {
  shard2: "RUNNING" | "SUCCEEDED";
  shard3?: "RUNNING";
  minSuccessRatio?: string;
  stopping?: boolean;
}) {
  const batch = new BatchClient({ region: "eu-west-1" });
  const sagemaker = new SageMakerClient({ region: "eu-west-1" });
  const s3 = new S3Client({ region: "eu-west-1" });
  const sqs = new SQSClient({ region: "eu-west-1" });
  mockClient(sqs).onAnyCommand().resolves({});
  const batchMock = mockClient(batch);
  const sagemakerMock = mockClient(sagemaker);
  const s3Mock = mockClient(s3);
  const listed: JobSummary[] = [
    shardJob(0, "SUCCEEDED"),
    shardJob(1, "SUCCEEDED"),
    shardJob(2, options.shard2),
    options.shard3 === "RUNNING"
      ? shardJob(3, "RUNNING")
      : shardJob(3, "FAILED", {
          statusReason: "Essential container in task exited",
          container: { exitCode: 1 },
        }),
  ];
  batchMock.on(ListJobsCommand).resolves({ jobSummaryList: listed });
  batchMock.on(DescribeJobsCommand).resolves({ jobs: [failedShardDetail()] });
  batchMock.on(TerminateJobCommand).resolves({});
  sagemakerMock.on(SendPipelineExecutionStepSuccessCommand).resolves({});
  sagemakerMock.on(SendPipelineExecutionStepFailureCommand).resolves({});
  s3Mock.on(PutObjectCommand).resolves({});
  const clock = fakeClock();
  const log = recordingLog();
  const handler = makeMonitorHandler({
    batch,
    sagemaker,
    sqs,
    s3,
    settings: monitorSettings,
    logger: log,
    clock,
  });
  const message = callbackMessage({
    arguments: {
      jobMode: "jobs",
      jobRef: baseName,
      shardCount: "4",
      outputUri,
      ...(options.minSuccessRatio ? { minSuccessRatio: options.minSuccessRatio } : {}),
    },
    ...(options.stopping ? { status: "Stopping" } : {}),
  });
  return {
    s3Mock,
    log,
    run: () => handler({ Records: [sqsRecord({ body: message })] }, invocationContext(clock, 30)),
    failures: () =>
      sagemakerMock.commandCalls(SendPipelineExecutionStepFailureCommand).map((c) => c.args[0].input),
    successes: () =>
      sagemakerMock.commandCalls(SendPipelineExecutionStepSuccessCommand).map((c) => c.args[0].input),
    reports: () =>
      s3Mock.commandCalls(PutObjectCommand).map((c) => ({
        uri: `s3://${c.args[0].input.Bucket}/${c.args[0].input.Key}`,
        body: JSON.parse(String(c.args[0].input.Body)) as ReportJson,
      })),
  };
}

describe("step report", () => {
  it("on a failure, writes the report under outputUri and ends the failure reason with its URI", async () => {
    const f = reportFixture({ shard2: "RUNNING" });
    await f.run();

    const [report] = f.reports();
    expect(report.uri).to.equal(expectedReportUri);
    expect(report.body.answer.outcome).to.equal("failure");
    expect(report.body.failedShards).to.have.length(1);
    expect(report.body.failedShards[0]).to.deep.include({
      shardIndex: 3,
      jobId: "job-00003",
      statusReason: "Essential container in task exited",
      exitCode: 1,
      attempts: 2,
      logGroupName: logGroup,
      logStreamName: "batch-bridge-job/default/second",
      submittedAt: "2025-01-06T12:00:00.000Z",
      startedAt: "2025-01-06T12:01:00.000Z",
      endedAt: "2025-01-06T12:02:00.000Z",
    });
    expect(report.body.failedShards[0].logLink).to.equal(
      "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/" +
        "$252Faws$252Fbatch$252Fbatch-bridge-job/log-events/batch-bridge-job$252Fdefault$252Fsecond",
    );
    expect(report.body.terminated).to.deep.include({ count: 1, jobIds: ["job-00002"] });

    const [failure] = f.failures();
    expect(f.failures()).to.have.length(1);
    expect(failure.FailureReason!.length).to.be.at.most(256);
    expect(failure.FailureReason).to.match(/^1 of 4 shards failed: shard 3 \(exit code 1/);
    expect(failure.FailureReason!.endsWith(` Report: ${expectedReportUri}`)).to.equal(true);
  });

  it("on a success within minSuccessRatio, writes the report and returns ReportUri", async () => {
    const f = reportFixture({ shard2: "SUCCEEDED", minSuccessRatio: "0.75" });
    await f.run();

    const [success] = f.successes();
    expect(success.OutputParameters).to.deep.include.members([
      { Name: "FailedShards", Value: "3" },
      { Name: "ReportUri", Value: expectedReportUri },
    ]);
    const [report] = f.reports();
    expect(report.uri).to.equal(expectedReportUri);
    expect(report.body.answer).to.deep.equal({ outcome: "success", failedShards: "3" });
    expect(report.body.failedShards.map((s) => s.shardIndex)).to.deep.equal([3]);
  });

  it("on a stopped execution, writes the report naming the jobs it terminated and why, and ends the reason with its URI", async () => {
    const f = reportFixture({ shard2: "RUNNING", shard3: "RUNNING", stopping: true });
    await f.run();

    const [report] = f.reports();
    expect(f.reports()).to.have.length(1);
    expect(report.uri).to.equal(expectedReportUri);
    expect(report.body.answer).to.deep.equal({
      outcome: "failure",
      reason: "Pipeline execution stopped; terminated 2 job(s).",
    });
    expect(report.body.terminated).to.deep.equal({
      reason: terminationReasons.stopped,
      count: 2,
      jobIds: ["job-00002", "job-00003"],
    });
    expect(report.body.failedShards).to.deep.equal([]);

    expect(f.failures().map((input) => input.FailureReason)).to.deep.equal([
      `Pipeline execution stopped; terminated 2 job(s). Report: ${expectedReportUri}`,
    ]);
  });

  for (const [what, error] of [
    ["throttles", awsError("SlowDown", 503, "Please reduce your request rate.")],
    ["refuses", awsError("AccessDenied", 403, "Access Denied")],
  ] as const) {
    it(`answers exactly once, without the URI, when S3 ${what} the report`, async () => {
      const f = reportFixture({ shard2: "RUNNING" });
      f.s3Mock.on(PutObjectCommand).rejects(error);
      await f.run();

      expect(f.failures()).to.have.length(1);
      expect(f.failures()[0].FailureReason).to.not.include("Report:");
      expect(f.failures()[0].FailureReason).to.match(/^1 of 4 shards failed: shard 3/);
      const line = f.log.lines.find((l) => l.message === "could not write the step report");
      expect(line?.attributes).to.deep.include({ reportUri: expectedReportUri });
    });
  }

  it("keeps the URI whole within 256 characters, shortening the reason instead", () => {
    const uri = `s3://data-bucket/${"deep/".repeat(20)}_bridge/report-abc-callback.json`;
    const reason = reasonWithReport("x".repeat(300), uri);
    expect(reason.length).to.be.at.most(256);
    expect(reason.endsWith(` Report: ${uri}`)).to.equal(true);
    expect(reason.startsWith("xxx")).to.equal(true);
  });
});
