import { expect } from "chai";
import { execFile } from "child_process";
import { promisify } from "util";
import { jobStateChangePattern } from "../../functions/batch-job-state-event";
import { renderStack } from "../../render/render-stack";
import { repoRoot } from "../../render/stack-files";
import { parsePlanArgs, plan, readablePlan } from "../../scripts/plan";
import { npmScriptNodeArgs } from "../support/npm-script";

/** Runs the plan in-process and collects what it prints. */
async function runPlan(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await plan(argv, {
    out: (text) => (out += `${text}\n`),
    err: (text) => (err += `${text}\n`),
  });
  return { code, out, err };
}

describe("npm run plan", () => {
  // Started first so that the separate process runs while the other tests run in this one. It renders what
  // this process renders: rendered here first, it finds the render kept on disk instead of making it again.
  let jsonRun: Promise<{ stdout: string }>;
  before(async () => {
    await renderStack({ stack: "dev", config: {} });
    jsonRun = promisify(execFile)(process.execPath, npmScriptNodeArgs("plan", ["--json"]), {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
  });

  it("reads --stack (default dev), --set and --json", () => {
    expect(parsePlanArgs([])).to.deep.equal({ stack: "dev", config: {}, json: false, help: false });
    expect(parsePlanArgs(["--stack", "prod", "--json"])).to.deep.equal({
      stack: "prod",
      config: {},
      json: true,
      help: false,
    });
    expect(parsePlanArgs(["--stack=staging"])).to.deep.equal({
      stack: "staging",
      config: {},
      json: false,
      help: false,
    });
    expect(parsePlanArgs(["--set", "recordApi=true", "--set=recordBatchSize=500"]).config).to.deep.equal({
      recordApi: true,
      recordBatchSize: 500,
    });
  });

  it("refuses an unknown flag or a --stack without a name, pointing at --help, exit code 2", async () => {
    const cases: [string[], string][] = [
      [["--jsn"], 'Unknown option "--jsn": did you mean --json?'],
      [["--stack"], "--stack needs a value: a stack name, e.g. --stack dev."],
      [["--stack", "--json"], "--stack needs a value: a stack name, e.g. --stack dev."],
      [
        ["--stack", "prod", "--", "--json"],
        'npm passed on a second "--": put every option after the first one.',
      ],
    ];
    for (const [argv, message] of cases) {
      const result = await runPlan(argv);
      expect(result.code, argv.join(" ")).to.equal(2);
      expect(result.out).to.equal("");
      expect(result.err).to.equal(`${message}\nRun "npm run plan -- --help" for the options.\n`);
    }
  });

  it("names the missing stack file and the stacks there are, exit code 1", async () => {
    const result = await runPlan(["--stack", "nosuch"]);
    expect(result.code).to.equal(1);
    expect(result.out).to.equal("");
    expect(result.err).to.include('Cannot plan stack "nosuch": No stack file Pulumi.nosuch.yaml');
    expect(result.err).to.include("stacks with a file: dev, example-pipeline, prod.");
  });

  it("plans the example production stack the README shows: private subnets, an ECR image, on-demand Fargate", async () => {
    const result = await runPlan(["--stack", "prod"]);
    expect(result.err).to.equal("");
    expect(result.code).to.equal(0);
    expect(result.out).to.match(/^Plan for stack "prod" in eu-west-1/);
    expect(result.out).to.include('container.networkConfiguration: {"assignPublicIp":"DISABLED"}');
    expect(result.out).to.include('"subnets":["subnet-0123456789abcdef1",');
    expect(result.out).to.include('"type":"FARGATE"}');
    expect(result.out).to.include('vpcId: "vpc-0123456789abcdef0"');
    expect(result.out).to.include(
      "    PullJobImage: Allow ecr:BatchCheckLayerAvailability, ecr:GetDownloadUrlForLayer, ecr:BatchGetImage\n" +
        "        on arn:aws:ecr:eu-west-1:123456789012:repository/shard-worker\n",
    );
    expect(result.out).to.include("pipelineName: batch-bridge-prod\n");
  });

  it("prints the resource tree, every role's statements and the pipeline definition", async () => {
    const out = readablePlan(await renderStack({ stack: "dev" }));
    expect(out).to.match(/^Plan for stack "dev" in us-east-1/);
    expect(out).to.match(
      /\n {2}sagemaker-batch-bridge:index:BatchBridge batch-bridge\n {4}aws:batch:ComputeEnvironment/,
    );
    expect(out).to.match(
      /\n {6}aws:sqs:QueueEventSubscription batch-bridge-monitor\n {8}aws:lambda:EventSourceMapping/,
    );
    expect(out).to.include("    SubmitTaggedJobs: Allow batch:SubmitJob\n");
    expect(out).to.include('"Name": "WaitForBatchJobs"');
    expect(out).to.include("startExecutionCommand: aws sagemaker start-pipeline-execution");
  });

  it("shows the completion events: the rule's pattern, the table's settings, the job-event role's statements", async () => {
    const out = readablePlan(await renderStack({ stack: "dev" }));
    const pattern = jobStateChangePattern(
      "arn:aws:batch:us-east-1:123456789012:job-queue/batch-bridge-dev-jobs",
      "bridge-dev",
    );
    expect(out).to.include(`\n        eventPattern: ${JSON.stringify(pattern)}\n`);
    expect(out).to.match(
      /\n {4}aws:dynamodb:Table batch-bridge-status\n {8}name: "batch-bridge-dev-executions"\n {8}billingMode: "PAY_PER_REQUEST"\n/,
    );
    expect(out).to.include('ttl: {"attributeName":"expiresAt","enabled":true}');
    expect(out).to.include('serverSideEncryption: {"enabled":true}');
    expect(out).to.include('retryPolicy: {"maximumEventAgeInSeconds":21600,"maximumRetryAttempts":185}');
    expect(out).to.match(
      /\(batch-bridge-job-event\), assumed by lambda\.amazonaws\.com\n {4}TrackWaitingSteps: /,
    );
    expect(out).to.include(
      "    TrackWaitingSteps: Allow dynamodb:UpdateItem, dynamodb:GetItem, dynamodb:BatchGetItem\n" +
        "        on arn:aws:dynamodb:us-east-1:123456789012:table/batch-bridge-dev-executions\n",
    );
    expect(out).to.include("  statusTableName: batch-bridge-dev-executions\n");
  });

  it("--json prints exactly one JSON document on stdout, as a separate process", async () => {
    const { stdout } = await jsonRun;
    const document = JSON.parse(stdout);
    expect(Object.keys(document)).to.deep.equal(["stack", "config", "resources", "outputs", "functions"]);
    expect(document.stack).to.equal("dev");
    expect(document.config).to.include({
      "aws:region": "us-east-1",
      "sagemaker-batch-bridge:pipelineName": "batch-bridge-dev",
      "sagemaker-batch-bridge:submitMode": "array",
    });
    for (const resource of document.resources) {
      expect(Object.keys(resource)).to.deep.equal(["type", "name", "parent", "inputs"]);
    }
    const queue = document.resources.find((r: { name: string }) => r.name === "batch-bridge-callbacks");
    expect(queue).to.deep.include({ type: "aws:sqs/queue:Queue", parent: "batch-bridge" });
    expect(queue.inputs.visibilityTimeoutSeconds).to.equal(1800);
    expect(document.outputs.pipelineName).to.equal("batch-bridge-dev");
    expect(document.functions.map((f: { name: string }) => f.name).sort()).to.deep.equal([
      "batch-bridge-cleanup",
      "batch-bridge-job-event",
      "batch-bridge-monitor",
      "batch-bridge-queue-jobs",
      "batch-bridge-submit",
    ]);
    for (const fn of document.functions) {
      expect(Object.keys(fn)).to.deep.equal(["name", "runtime", "handler", "files", "archiveBytes"]);
      expect(fn).to.deep.include({ runtime: "nodejs22.x", handler: "__index.handler" });
      expect(fn.files).to.include("__index.js");
      expect(fn.archiveBytes).to.be.above(1000);
    }
  });
});
