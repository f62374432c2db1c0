import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as net from "node:net";
import { bridge, localStackHint, whatTheBridgeDoes, type BridgeIo } from "../../scripts/bridge";
import { formatExecution, logStreamUrl, type ExecutionView } from "../../scripts/bridge-status";

const outputs = {
  pipelineName: "batch-bridge-dev",
  pipelineArn: "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge-dev",
  jobQueueArn: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-dev-jobs",
  jobDefinitionArn: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-dev-job:1",
};

/** Runs the CLI in this process; stdin holds `stdin` (a terminal when undefined). */
async function run(argv: string[], stdin?: string) {
  let out = "";
  let err = "";
  const io: BridgeIo = {
    readStdin: () => Promise.resolve(stdin ?? ""),
    stdinIsTerminal: stdin === undefined,
    env: {},
    sleep: () => Promise.resolve(),
  };
  const code = await bridge(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) }, io);
  return { code, out, err };
}

describe("npm run bridge: what it refuses before calling AWS", () => {
  let folder: string;
  let outputsFile: string;
  before(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), "bridge-cli-test-"));
    outputsFile = path.join(folder, "outputs.json");
    writeFileSync(outputsFile, JSON.stringify(outputs));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  const refusals: [string[], string][] = [
    [[], "Give one command: start, status, watch, stop; got none."],
    [["launch"], 'Give one command: start, status, watch, stop; got "launch".'],
    [["status", "watch"], 'Give one command: start, status, watch, stop; got "status" "watch".'],
    [["start", "--param", "=3"], '--param must be NAME=VALUE, e.g. ShardCount=100, got "=3".'],
    [
      ["start", "--param", "ShardCount"],
      '--param must be NAME=VALUE, e.g. ShardCount=100, got "ShardCount".',
    ],
    [["status", "--param", "ShardCount=3"], "--param is for start, not status."],
    [
      ["start", "--execution", "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/abc"],
      "--execution is for status and watch and stop, not start.",
    ],
    [["watch", "--execution", "exec-1"], '--execution must be a pipeline execution ARN, got "exec-1".'],
    [["watch", "--interval", "0"], '--interval must be a duration from 100ms to 1h, e.g. 5s, got "0".'],
    [["watch", "--interval", "soon"], '--interval must be a duration from 100ms to 1h, e.g. 5s, got "soon".'],
    [["status", "--interval", "5s"], "--interval is for watch, not status."],
    [["status", "--region", "Europe"], '--region must be a region, e.g. eu-west-1, got "Europe".'],
    [
      ["status", "--endpoint", "127.0.0.1:4566"],
      '--endpoint must be a URL, e.g. http://127.0.0.1:4566, got "127.0.0.1:4566".',
    ],
    [["status", "--output", "x.json"], 'Unknown option "--output": did you mean --outputs?'],
  ];
  for (const [argv, message] of refusals) {
    it(`exits 2 for ${argv.join(" ") || "no command"}, naming the option`, async () => {
      const ran = await run([...argv, "--outputs", outputsFile]);
      expect(ran.code).to.equal(2);
      expect(ran.out).to.equal("");
      expect(ran.err).to.equal(`${message}\nRun "npm run bridge -- --help" for the options.\n`);
    });
  }

  it("exits 2 when the outputs cannot be read, are not JSON, or lack what it needs, naming where they came from", async () => {
    const missing = await run(["status", "--outputs", path.join(folder, "none.json")]);
    expect(missing.code).to.equal(2);
    expect(missing.err).to.match(/^--outputs .*none\.json: cannot read it \(ENOENT\)\./);
    const terminal = await run(["status"]);
    expect(terminal.code).to.equal(2);
    expect(terminal.err).to.include("Give the stack's outputs: --outputs FILE, or pipe them in");
    const notJson = await run(["status"], "Current stack outputs (2):");
    expect(notJson.code).to.equal(2);
    expect(notJson.err).to.match(/^stdin: the stack outputs are not JSON \(/);
    const lacking = await run(["status"], JSON.stringify({ ...outputs, jobQueueArn: undefined }));
    expect(lacking.code).to.equal(2);
    expect(lacking.err).to.include("stdin: the stack outputs lack jobQueueArn:");
  });

  it("points a user who gives no outputs, or those of a served stack that ended, to npm start -- --serve", async () => {
    for (const ran of [
      await run(["status"]),
      await run(["status"], "  \n"),
      await run(["status", "--outputs", path.join(folder, "served-outputs.json")]),
    ]) {
      expect(ran.code).to.equal(2);
      expect(ran.err).to.include(`${localStackHint}\n`);
    }
    expect(localStackHint).to.match(/^For a stack on this machine, run npm start -- --serve and pass/);
  });

  it("says that nothing answers at a loopback endpoint, and how to serve the stack there", async () => {
    // A port that was just free: listen on port 0, then close.
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const { port } = listener.address() as net.AddressInfo;
    await new Promise((resolve) => listener.close(resolve));
    const endpoint = `http://127.0.0.1:${port}`;

    const ran = await run(["status", "--outputs", outputsFile, "--endpoint", endpoint]);

    expect(ran.code).to.equal(1);
    expect(ran.err).to.equal(
      `Nothing answers at ${endpoint} (connect ECONNREFUSED 127.0.0.1:${port}). ${localStackHint}\n`,
    );
  });

  it("prints its usage with --help and exits 0", async () => {
    const ran = await run(["--help"]);
    expect(ran.code).to.equal(0);
    expect(ran.out).to.match(/^Usage: npm run bridge -- start\|status\|watch\|stop \[options\]/);
  });
});

describe("npm run bridge: what it shows", () => {
  it("links a log stream to its CloudWatch console page, each path part encoded as the console does", () => {
    expect(logStreamUrl("eu-west-1", "/aws/batch/job", "job/default/abc")).to.equal(
      "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1" +
        "#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fjob/log-events/job$252Fdefault$252Fabc",
    );
  });

  const waiting: ExecutionView = {
    executionArn: `${outputs.pipelineArn}/execution/abc`,
    status: "Executing",
    startedAt: "2030-01-01T00:00:00.000Z",
    steps: [
      { name: "SubmitBatchJobs", type: "Lambda", status: "Succeeded" },
      { name: "WaitForBatchJobs", type: "Callback", status: "Executing" },
    ],
    jobs: [
      {
        submitStep: "SubmitBatchJobs",
        jobMode: "jobs",
        jobRef: "bridge-abc",
        jobName: "bridge-abc",
        shards: 3,
        byState: { RUNNING: 2, FAILED: 1 },
        failed: 1,
        failedShards: [
          { shard: 2, jobId: "j2", exitCode: 137, reason: "OutOfMemoryError", logUrl: "https://l" },
        ],
        terminatedByBridge: 0,
        unfinished: 2,
      },
    ],
  };

  it("shows the steps, the jobs by state, each failed shard with its log link, and no answer yet", () => {
    expect(formatExecution(waiting)).to.equal(
      [
        `Execution  ${outputs.pipelineArn}/execution/abc`,
        "Status     Executing, started 2030-01-01T00:00:00.000Z",
        "Step       SubmitBatchJobs   Lambda    Succeeded",
        "Step       WaitForBatchJobs  Callback  Executing",
        "Jobs       SubmitBatchJobs: 3 shard(s), one job per shard, named bridge-abc-*: 2 RUNNING, 1 FAILED",
        "Failed     shard 2 (job j2): exit code 137: OutOfMemoryError",
        "           log: https://l",
        "Answer     not yet",
      ].join("\n"),
    );
  });

  it("says what the bridge does with the jobs of a stopped execution, by the step it runs", () => {
    expect(whatTheBridgeDoes(waiting)).to.equal(
      "SageMaker sends WaitForBatchJobs a Stopping message; the bridge terminates its 2 unfinished job(s) " +
        '(status reason "sagemaker-batch-bridge: pipeline execution stopped"), answers the step, and the ' +
        "execution becomes Stopped. Anything left is terminated by the clean-up function.",
    );
    const submitting = {
      ...waiting,
      steps: [{ name: "SubmitBatchJobs", type: "Lambda", status: "Executing" }],
      jobs: [],
    };
    expect(whatTheBridgeDoes(submitting)).to.match(
      /^SubmitBatchJobs is a Lambda step, which runs to its end; .* clean-up function terminates every job it submitted/,
    );
  });
});
