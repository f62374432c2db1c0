import {
  BatchClient,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type SubmitJobCommandInput,
} from "@aws-sdk/client-batch";
import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import type { SubmitSettings } from "../../functions/settings";
import { executionTagKey } from "../../functions/step-contract";
import { makeSubmitHandler } from "../../functions/submit";
import {
  awsError,
  baseName,
  executionArn,
  fakeClock,
  invocationContext,
  recordingLog,
  rejectionOf,
  shardJob,
  submitArguments,
  submitSettings,
} from "./factories";

/**
 * A submit handler on a mocked Batch client that hands out job IDs and records what was submitted; its
 * claims in the status table are always granted (submission-claims.test.ts races real ones).
 */
function submitFixture(settings: Partial<SubmitSettings> = {}) {
  const batch = new BatchClient({ region: "eu-west-1" });
  const batchMock = mockClient(batch);
  const dynamodb = new DynamoDBClient({ region: "eu-west-1" });
  mockClient(dynamodb).on(UpdateItemCommand).resolves({});
  const sqs = new SQSClient({ region: "eu-west-1" });
  const sqsMock = mockClient(sqs);
  sqsMock.on(SendMessageCommand).resolves({ MessageId: "cleanup-1" });
  const clock = fakeClock();
  const log = recordingLog();
  const submittedAt: number[] = [];
  batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
  batchMock.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => {
    submittedAt.push(clock.now());
    return { jobId: `id-${input.jobName}`, jobName: input.jobName, jobArn: `arn:${input.jobName}` };
  });
  batchMock.on(TerminateJobCommand).resolves({});
  const handler = makeSubmitHandler({
    batch,
    dynamodb,
    sqs,
    settings: { ...submitSettings, ...settings },
    logger: log,
    clock,
  });
  const submitted = () =>
    batchMock.commandCalls(SubmitJobCommand).map((call) => call.args[0].input as SubmitJobCommandInput);
  const terminated = () =>
    batchMock.commandCalls(TerminateJobCommand).map((call) => call.args[0].input.jobId);
  return { handler, batchMock, clock, log, submitted, submittedAt, terminated };
}

describe("submit function", () => {
  describe("rejects bad arguments before submitting anything", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      [
        "a missing execution ARN",
        { executionArn: undefined },
        "executionArn must be a pipeline execution ARN",
      ],
      [
        "an ARN of something else",
        { executionArn: "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge" },
        "executionArn must be a pipeline execution ARN",
      ],
      ["an input that is not an S3 URI", { inputUri: "/data/input" }, "inputUri must be an S3 URI"],
      [
        "an input outside the readable prefix",
        { inputUri: "s3://data-bucket/secrets/run-1" },
        "inputUri must lie under s3://data-bucket/input/ or s3://data-bucket/output/ (the jobs can read nothing else)",
      ],
      [
        "an input in a look-alike prefix",
        { inputUri: "s3://data-bucket/input-other/run-1" },
        "inputUri must lie under s3://data-bucket/input/",
      ],
      [
        "an output outside the writable prefix",
        { outputUri: "s3://other-bucket/output/run-1" },
        "outputUri must lie under s3://data-bucket/output/ (the jobs can write nothing else)",
      ],
      ["no shards", { shardCount: "0" }, 'shardCount must be a whole number from 1 to 10,000, got "0"'],
      [
        "too many shards",
        { shardCount: 10_001 },
        "shardCount must be a whole number from 1 to 10,000, got 10001",
      ],
      [
        "a fractional shard count",
        { shardCount: "2.5" },
        "shardCount must be a whole number from 1 to 10,000",
      ],
      ["a shard count that is no number", { shardCount: "four" }, "shardCount must be a whole number"],
      [
        "a misspelled argument, which would otherwise be ignored",
        { jobkind: "gpu" },
        "jobkind is not an argument of the submit step (it takes executionArn, inputUri, outputUri, " +
          "shardCount, jobKind, stepName and minSuccessRatio)",
      ],
      [
        "a job kind the stack does not declare",
        { jobKind: "gpu" },
        `jobKind must be "default" (the stack's job kinds), got "gpu"`,
      ],
      [
        "a step name SageMaker would not take",
        { stepName: "Tokenize docs" },
        'stepName must be a step name, 1-64 letters, digits, hyphens and underscores, got "Tokenize docs"',
      ],
      [
        "an output URI too long to be returned as a step output",
        { outputUri: `s3://data-bucket/output/${"x".repeat(1001)}` },
        "outputUri must be at most 1024 characters (the Callback step returns it as a step output), got 1025",
      ],
    ];
    for (const [what, overrides, expected] of cases) {
      it(what, async () => {
        const { handler, submitted } = submitFixture();

        const error = await rejectionOf(handler(submitArguments(overrides)));

        expect(error.message).to.contain(expected);
        expect(submitted()).to.have.length(0);
      });
    }

    it("names every bad argument at once", async () => {
      const { handler } = submitFixture();

      const error = await rejectionOf(handler({ inputUri: "x", outputUri: "y", shardCount: -1 }));

      for (const name of ["executionArn", "inputUri", "outputUri", "shardCount"]) {
        expect(error.message).to.contain(`${name} must`);
      }
    });

    it("an event that is not an object", async () => {
      const { handler } = submitFixture();

      const error = await rejectionOf(handler("run everything"));

      expect(error.message).to.contain(
        "expected an object with executionArn, inputUri, outputUri and shardCount",
      );
    });
  });

  describe("job kinds and bridge steps", () => {
    const kinds = {
      embed: {
        jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job-embed:3",
        submitMode: "jobs" as const,
      },
      prepare: {
        jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job-prepare:1",
        submitMode: "array" as const,
      },
    };

    /** A fixture whose ListJobs lists the jobs submitted so far, as Batch would for a later call. */
    function batchWithMemory() {
      const fixture = submitFixture({ jobKinds: kinds });
      fixture.batchMock.on(ListJobsCommand).callsFake((input) => {
        const prefix = String(input.filters?.[0]?.values?.[0] ?? "").replace(/\*$/, "");
        return {
          jobSummaryList: fixture
            .submitted()
            .filter((job) => job.jobName!.startsWith(prefix))
            .map((job, i) => ({
              jobId: `id-${job.jobName}`,
              jobName: job.jobName,
              status: "RUNNING",
              createdAt: i,
            })),
        };
      });
      return fixture;
    }

    it("submits a step of a kind to that kind's job definition, in that kind's submit mode", async () => {
      const { handler, submitted } = submitFixture({ jobKinds: kinds });

      const outputs = await handler(submitArguments({ jobKind: "embed", shardCount: "3" }));

      expect(outputs.jobMode).to.equal("jobs");
      expect(submitted().map((job) => job.jobDefinition)).to.deep.equal(
        Array(3).fill(kinds.embed.jobDefinition),
      );
    });

    it("submits a step without a kind to the default job definition", async () => {
      const { handler, submitted } = submitFixture({ jobKinds: kinds });

      const outputs = await handler(submitArguments());

      expect(outputs.jobMode).to.equal("array");
      expect(submitted().map((job) => job.jobDefinition)).to.deep.equal([submitSettings.jobDefinition]);
    });

    it("names the stack's kinds when a step names another", async () => {
      const { handler, submitted } = submitFixture({ jobKinds: kinds });

      const error = await rejectionOf(handler(submitArguments({ jobKind: "gpu" })));

      expect(error.message).to.contain(
        `jobKind must be "default", "embed" or "prepare" (the stack's job kinds), got "gpu"`,
      );
      expect(submitted()).to.have.length(0);
    });

    it("gives two bridge steps of one execution jobs of their own, never the other's", async () => {
      const { handler, submitted } = batchWithMemory();

      const first = await handler(submitArguments({ stepName: "Tokenize", jobKind: "prepare" }));
      const second = await handler(submitArguments({ stepName: "Embed", jobKind: "embed", shardCount: "2" }));
      const firstAgain = await handler(submitArguments({ stepName: "Tokenize", jobKind: "prepare" }));

      expect(first.jobName).to.match(new RegExp(`^${baseName}_[0-9a-f]{8}$`));
      expect(second.jobName).to.match(new RegExp(`^${baseName}_[0-9a-f]{8}$`));
      expect(second.jobName).to.not.equal(first.jobName);
      expect(submitted().map((job) => job.jobName)).to.deep.equal([
        first.jobName,
        `${second.jobName}-00000`,
        `${second.jobName}-00001`,
      ]);
      // The first step's retried invocation finds its own job again.
      expect(firstAgain).to.deep.equal(first);
    });

    it("returns the step's job name and output URI for the Callback step", async () => {
      const { handler } = submitFixture();

      const outputs = await handler(submitArguments({ outputUri: "s3://data-bucket/output/embeddings/" }));

      expect(outputs).to.deep.include({
        jobName: baseName,
        outputUri: "s3://data-bucket/output/embeddings/",
      });
    });

    it("lets a step read what an earlier step wrote, under the output prefix", async () => {
      const { handler, submitted } = submitFixture();

      await handler(
        submitArguments({
          inputUri: "s3://data-bucket/output/tokens/",
          outputUri: "s3://data-bucket/output/embeddings/",
        }),
      );

      expect(submitted()[0].parameters).to.include({ inputUri: "s3://data-bucket/output/tokens/" });
    });
  });

  describe("array mode", () => {
    it("submits one array job of N children, tagged with the execution", async () => {
      const { handler, submitted } = submitFixture();

      const outputs = await handler(submitArguments({ shardCount: "4" }));

      expect(outputs).to.deep.equal({
        jobMode: "array",
        jobRef: `id-${baseName}`,
        shardCount: "4",
        jobName: baseName,
        outputUri: "s3://data-bucket/output/run-1",
        minSuccessRatio: "1",
      });
      expect(submitted()).to.deep.equal([
        {
          jobName: baseName,
          jobQueue: submitSettings.jobQueue,
          jobDefinition: submitSettings.jobDefinition,
          tags: { [executionTagKey]: executionArn },
          propagateTags: true,
          arrayProperties: { size: 4 },
          parameters: {
            inputUri: "s3://data-bucket/input/run-1",
            outputUri: "s3://data-bucket/output/run-1",
            shardCount: "4",
            shardIndex: "$AWS_BATCH_JOB_ARRAY_INDEX",
          },
          containerOverrides: { environment: [{ name: "BRIDGE_SHARD_COUNT", value: "4" }] },
        },
      ]);
    });

    it("submits a single job for one shard, telling it that it is shard 0", async () => {
      const { handler, submitted } = submitFixture();

      const outputs = await handler(submitArguments({ shardCount: 1 }));

      expect(outputs).to.deep.include({ jobMode: "array", jobRef: `id-${baseName}`, shardCount: "1" });
      const [job] = submitted();
      expect(job.arrayProperties).to.equal(undefined);
      expect(job.parameters).to.include({ shardIndex: "0", shardCount: "1" });
      expect(job.containerOverrides?.environment).to.deep.include({ name: "BRIDGE_SHARD_INDEX", value: "0" });
    });

    it("submits 10,000 shards with one call and returns a short output", async () => {
      const { handler, submitted } = submitFixture();

      const outputs = await handler(submitArguments({ shardCount: "10000" }));

      expect(submitted()).to.have.length(1);
      expect(submitted()[0].arrayProperties).to.deep.equal({ size: 10_000 });
      expect(JSON.stringify(outputs).length).to.be.below(1024);
    });

    it("reuses the execution's array job when called again, so no second set starts", async () => {
      const { handler, batchMock, submitted } = submitFixture();
      batchMock.on(ListJobsCommand).resolves({
        jobSummaryList: [{ jobId: "existing-array-job", jobName: baseName, status: "RUNNING", createdAt: 1 }],
      });

      const outputs = await handler(submitArguments());

      expect(outputs).to.deep.include({ jobMode: "array", jobRef: "existing-array-job", shardCount: "4" });
      expect(submitted()).to.have.length(0);
    });

    it("submits again when the execution's earlier array job failed (a retried execution)", async () => {
      const { handler, batchMock, submitted } = submitFixture();
      batchMock.on(ListJobsCommand).resolves({
        jobSummaryList: [{ jobId: "failed-array-job", jobName: baseName, status: "FAILED", createdAt: 1 }],
      });

      const outputs = await handler(submitArguments());

      expect(submitted()).to.have.length(1);
      expect(outputs.jobRef).to.equal(`id-${baseName}`);
    });

    it("looks for earlier jobs by the execution's job name", async () => {
      const { handler, batchMock } = submitFixture();

      await handler(submitArguments());

      expect(batchMock.commandCalls(ListJobsCommand)[0].args[0].input).to.deep.include({
        jobQueue: submitSettings.jobQueue,
        filters: [{ name: "JOB_NAME", values: [`${baseName}*`] }],
      });
    });
  });

  describe("jobs mode", () => {
    it("submits one job per shard with its own input and output object", async () => {
      const { handler, submitted } = submitFixture({ submitMode: "jobs" });

      const outputs = await handler(
        submitArguments({
          inputUri: "s3://data-bucket/input/run-1/",
          outputUri: "s3://data-bucket/output/run-1",
          shardCount: 3,
        }),
      );

      expect(outputs).to.deep.equal({
        jobMode: "jobs",
        jobRef: baseName,
        shardCount: "3",
        jobName: baseName,
        outputUri: "s3://data-bucket/output/run-1",
        minSuccessRatio: "1",
      });
      const jobs = submitted().sort((a, b) => a.jobName!.localeCompare(b.jobName!));
      expect(jobs.map((j) => j.jobName)).to.deep.equal([
        `${baseName}-00000`,
        `${baseName}-00001`,
        `${baseName}-00002`,
      ]);
      expect(jobs[2]).to.deep.equal({
        jobName: `${baseName}-00002`,
        jobQueue: submitSettings.jobQueue,
        jobDefinition: submitSettings.jobDefinition,
        tags: { [executionTagKey]: executionArn },
        propagateTags: true,
        parameters: {
          inputUri: "s3://data-bucket/input/run-1/shard-00002/",
          outputUri: "s3://data-bucket/output/run-1/shard-00002/",
          shardIndex: "2",
          shardCount: "3",
        },
        containerOverrides: {
          environment: [
            { name: "BRIDGE_SHARD_INDEX", value: "2" },
            { name: "BRIDGE_SHARD_COUNT", value: "3" },
          ],
        },
      });
    });

    it("submits 10,000 shards at most 50 a second, without really waiting", async () => {
      const { handler, submitted, submittedAt } = submitFixture({ submitMode: "jobs" });
      const started = Date.now();

      const outputs = await handler(submitArguments({ shardCount: "10000" }));

      expect(outputs).to.deep.include({ jobMode: "jobs", jobRef: baseName, shardCount: "10000" });
      expect(new Set(submitted().map((j) => j.jobName)).size).to.equal(10_000);
      // The account's SubmitJob quota is 50 requests per second: no second may see more.
      let busiestSecond = 0;
      for (let first = 0, last = 0; last < submittedAt.length; last++) {
        while (submittedAt[last] - submittedAt[first] >= 1000) first++;
        busiestSecond = Math.max(busiestSecond, last - first + 1);
      }
      expect(busiestSecond).to.be.at.most(50);
      expect(submittedAt[submittedAt.length - 1] - submittedAt[0]).to.be.below(300_000);
      expect(Date.now() - started).to.be.below(20_000);
    });

    it("waits out 429 throttling and submits every shard", async () => {
      const { handler, batchMock, submitted } = submitFixture({ submitMode: "jobs" });
      let throttled = 0;
      batchMock.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => {
        if (throttled < 6) {
          throttled += 1;
          throw awsError("TooManyRequestsException", 429, "Too Many Requests");
        }
        return { jobId: `id-${input.jobName}`, jobName: input.jobName };
      });

      const outputs = await handler(submitArguments({ shardCount: 5 }));

      expect(outputs.jobRef).to.equal(baseName);
      const accepted = new Set(submitted().map((j) => j.jobName));
      expect(accepted.size).to.equal(5);
    });

    it("terminates what it submitted and says so when submission fails part-way", async () => {
      const { handler, batchMock, terminated } = submitFixture({ submitMode: "jobs" });
      batchMock.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => {
        if (input.jobName === `${baseName}-00006`) {
          throw awsError("ClientException", 400, "Job definition is INACTIVE");
        }
        return { jobId: `id-${input.jobName}`, jobName: input.jobName };
      });

      const error = await rejectionOf(handler(submitArguments({ shardCount: 20 })));

      const submittedIds = batchMock
        .commandCalls(SubmitJobCommand)
        .filter((call) => call.args[0].input.jobName !== `${baseName}-00006`)
        .map((call) => `id-${call.args[0].input.jobName}`);
      expect(submittedIds.length).to.be.within(6, 19);
      expect(terminated().sort()).to.deep.equal(submittedIds.sort());
      expect(batchMock.commandCalls(TerminateJobCommand)[0].args[0].input.reason).to.equal(
        "sagemaker-batch-bridge: job submission for the step failed",
      );
      expect(error.message).to.contain(`Submitted ${submittedIds.length} of 20 jobs, then submission failed`);
      expect(error.message).to.contain("Job definition is INACTIVE");
      expect(error.message).to.contain(`terminated ${submittedIds.length} job(s) of this execution`);
    });

    it("gives up on throttling that does not end, and cleans up", async () => {
      const { handler, batchMock, terminated, clock } = submitFixture({ submitMode: "jobs" });
      let calls = 0;
      batchMock.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => {
        calls += 1;
        if (calls > 3) throw awsError("TooManyRequestsException", 429, "Too Many Requests");
        return { jobId: `id-${input.jobName}`, jobName: input.jobName };
      });

      const error = await rejectionOf(
        handler(submitArguments({ shardCount: 10 }), invocationContext(clock, 60)),
      );

      expect(error.message).to.contain("Submitted 3 of 10 jobs");
      expect(error.message).to.contain("TooManyRequestsException");
      expect(terminated()).to.have.length(3);
    });

    it("submits only the missing shards when called again for the same execution", async () => {
      const { handler, batchMock, submitted } = submitFixture({ submitMode: "jobs" });
      batchMock
        .on(ListJobsCommand)
        .resolvesOnce({
          jobSummaryList: [shardJob(0, "RUNNING"), shardJob(1, "SUCCEEDED")],
          nextToken: "page-2",
        })
        .resolvesOnce({ jobSummaryList: [shardJob(2, "RUNNABLE"), shardJob(3, "FAILED")] });

      const outputs = await handler(submitArguments({ shardCount: 5 }));

      expect(outputs).to.deep.include({ jobMode: "jobs", jobRef: baseName, shardCount: "5" });
      expect(
        submitted()
          .map((j) => j.jobName)
          .sort(),
      ).to.deep.equal([`${baseName}-00003`, `${baseName}-00004`]);
    });

    it("submits nothing when every shard already has a job", async () => {
      const { handler, batchMock, submitted } = submitFixture({ submitMode: "jobs" });
      batchMock
        .on(ListJobsCommand)
        .resolves({ jobSummaryList: [0, 1, 2].map((i) => shardJob(i, "RUNNING")) });

      await handler(submitArguments({ shardCount: 3 }));

      expect(submitted()).to.have.length(0);
    });

    it("refuses up front a submission that cannot finish within the function's time", async () => {
      const { handler, submitted } = submitFixture({ submitMode: "jobs" });

      const error = await rejectionOf(
        handler(submitArguments({ shardCount: 10_000 }), { getRemainingTimeInMillis: () => 290_000 }),
      );

      expect(error.message).to.contain("Submitting 10000 jobs one by one takes up to");
      expect(error.message).to.contain("raise submitTimeoutSeconds");
      expect(error.message).to.contain("No job was submitted");
      expect(submitted()).to.have.length(0);
    });
  });
});
