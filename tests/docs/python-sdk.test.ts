/**
 * docs/python-sdk.md's example, read as a user would paste it: the names its steps use must be the ones the
 * submit function takes and returns, the callback message parser reads, and the monitor answers with.
 */
import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { BatchClient, ListJobsCommand, SubmitJobCommand } from "@aws-sdk/client-batch";
import { mockClient } from "aws-sdk-client-mock";
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parseCallbackMessage } from "../../functions/callback-message";
import { decideOutcome } from "../../functions/decision";
import type { ExecutionJobs } from "../../functions/execution-jobs";
import { callbackOutputNames, submitOutputNames, type SubmitOutputs } from "../../functions/step-contract";
import { makeSubmitHandler } from "../../functions/submit";
import { pipelinePolicy } from "../../infra/iam-policies";
import { executionArn, fakeClock, recordingLog, submitSettings } from "../functions/factories";

const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "python-sdk.md"), "utf8");

/** The text of the doc's one code block in `language`. */
function codeBlock(language: string): string {
  const blocks = [...doc.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
  expect(blocks, `${language} blocks`).to.have.length(1);
  return blocks[0];
}

/** The call `Name(...)` assigned in the Python code, as text (up to its matching parenthesis). */
function call(python: string, name: string): string {
  const start = python.indexOf(`${name}(`);
  expect(start, name).to.be.at.least(0);
  let depth = 0;
  for (let i = start + name.length; i < python.length; i++) {
    if (python[i] === "(") depth += 1;
    if (python[i] === ")" && --depth === 0) return python.slice(start, i + 1);
  }
  throw new Error(`${name}( is not closed`);
}

/** The keys of the `inputs={...}` dict of a step call, with the Python expression of each value. */
function inputsOf(stepCall: string): Map<string, string> {
  const dict = /inputs=\{([\s\S]*?)\n {4}\},/.exec(stepCall);
  expect(dict, "inputs={...}").to.not.equal(null);
  return new Map(
    [...dict![1].matchAll(/^\s*"(\w+)":\s*(.+?),?$/gm)].map((m) => [m[1], m[2].replace(/,$/, "")]),
  );
}

/** The output_name of every `<OutputClass>(...)` in a step call. */
function outputNames(stepCall: string, outputClass: string): string[] {
  return [...stepCall.matchAll(new RegExp(`${outputClass}\\(output_name="(\\w+)"`, "g"))].map((m) => m[1]);
}

describe("the SageMaker Python SDK example (docs/python-sdk.md)", () => {
  const python = codeBlock("python");
  const lambdaStep = call(python, "LambdaStep");
  const callbackStep = call(python, "CallbackStep");
  const lambdaInputs = inputsOf(lambdaStep);
  const callbackInputs = inputsOf(callbackStep);

  /** The example's LambdaStep inputs as SageMaker would resolve them for one execution. */
  function submitEvent(): Record<string, unknown> {
    const sample: Record<string, string> = {
      "ExecutionVariables.PIPELINE_EXECUTION_ARN": executionArn,
      input_uri: "s3://data-bucket/input/documents/",
      shard_count: "4",
    };
    return Object.fromEntries(
      [...lambdaInputs].map(([name, expression]) => [
        name,
        sample[expression] ?? expression.replace(/^f?"(.*)"$/, "$1").replace("{DATA_BUCKET}", "data-bucket"),
      ]),
    );
  }

  /** Runs the submit function on the example's event, with the example's job kind declared. */
  async function submitOutputs(): Promise<SubmitOutputs> {
    const batch = new BatchClient({ region: "eu-west-1" });
    const batchMock = mockClient(batch);
    batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
    batchMock
      .on(SubmitJobCommand)
      .callsFake((input) => ({ jobId: `id-${input.jobName}`, jobName: input.jobName }));
    // The submission claim in the status table is always granted here.
    const dynamodb = new DynamoDBClient({ region: "eu-west-1" });
    mockClient(dynamodb).on(UpdateItemCommand).resolves({});
    const handler = makeSubmitHandler({
      batch,
      dynamodb,
      sqs: new SQSClient({ region: "eu-west-1" }),
      settings: {
        ...submitSettings,
        jobKinds: { embed: { jobDefinition: "batch-bridge-job-embed:1", submitMode: "array" } },
      },
      logger: recordingLog(),
      clock: fakeClock(),
    });
    return handler(submitEvent());
  }

  it("passes the submit function only arguments it takes, and those it accepts", async () => {
    // The function refuses an argument it does not take: a misspelled name in the doc fails here.
    const outputs = await submitOutputs();
    expect(outputs.outputUri).to.equal("s3://data-bucket/output/embeddings/");
    expect(outputs.jobName).to.match(/_[0-9a-f]{8}$/);
  });

  it("declares as the LambdaStep's outputs exactly what the submit function returns", async () => {
    expect(outputNames(lambdaStep, "LambdaOutput")).to.have.members(Object.keys(await submitOutputs()));
    expect(outputNames(lambdaStep, "LambdaOutput")).to.have.members([...submitOutputNames]);
  });

  it("passes the submit step's outputs to the CallbackStep, under the names the callback message parser reads", async () => {
    const outputs = await submitOutputs();
    const args = Object.fromEntries(
      [...callbackInputs].map(([name, expression]) => {
        const output = /^submit\.properties\.Outputs\["(\w+)"\]$/.exec(expression);
        expect(output, `${name}: ${expression}`).to.not.equal(null);
        return [name, outputs[output![1] as keyof SubmitOutputs]];
      }),
    );
    const parsed = parseCallbackMessage(
      JSON.stringify({ token: "tok-1", pipelineExecutionArn: executionArn, arguments: args }),
      submitSettings.jobNamePrefix,
    );
    expect(parsed).to.deep.include({ valid: true });
    // Every name was read: the step's own jobs and output prefix, not the defaults for a message without them.
    expect(parsed.valid && parsed.message).to.deep.include({
      jobMode: outputs.jobMode,
      jobRef: outputs.jobRef,
      shardCount: Number(outputs.shardCount),
      jobName: outputs.jobName,
      outputUri: outputs.outputUri,
      minSuccessRatio: Number(outputs.minSuccessRatio),
    });
    expect([...callbackInputs.keys()]).to.have.members([...submitOutputNames]);
  });

  it("declares as the CallbackStep's outputs exactly what the bridge answers a success with", () => {
    const jobs = {
      executionArn,
      jobMode: "array",
      jobRef: "job-1",
      shardCount: 4,
      jobName: "batch-bridge-abcdef123456",
      outputUri: "s3://data-bucket/output/embeddings/",
      counts: { SUCCEEDED: 4 },
      succeeded: 4,
      failed: 0,
      failedShards: [],
      terminatedByBridge: 0,
      notFound: [],
      notFoundCount: 0,
      unfinished: 0,
      unfinishedJobIds: [],
    } satisfies ExecutionJobs;
    const outcome = decideOutcome(jobs);
    expect(outcome?.decision).to.equal("succeed");
    const answered = outcome?.decision === "succeed" ? Object.keys(outcome.outputs) : [];
    // ReportUri comes only with a success that has failed shards, once the step report is written.
    expect(outputNames(callbackStep, "CallbackOutput")).to.have.members([...answered, "ReportUri"]);
    expect(outputNames(callbackStep, "CallbackOutput")).to.have.members([...callbackOutputNames]);
  });

  it("shows the role policy the stack outputs as pipelineRolePolicy", () => {
    const shown = JSON.parse(codeBlock("json"));
    const arns = {
      submitFunctionArn: shown.Statement[0].Resource,
      callbackQueueArn: shown.Statement[1].Resource,
    };
    expect(shown).to.deep.equal(pipelinePolicy(arns));
    expect(python).to.contain(`SUBMIT_FUNCTION_ARN = "${arns.submitFunctionArn}"`);
  });
});
