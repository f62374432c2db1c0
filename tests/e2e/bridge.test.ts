import { expect } from "chai";
import { execFile, spawn, type ChildProcessByStdio } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { localAwsEnvironment } from "../../local/runner/simulated-process";
import { renderStack } from "../../render/render-stack";
import { repoRoot } from "../../render/stack-files";
import { bridge } from "../../scripts/bridge";
import type { ExecutionView } from "../../scripts/bridge-status";
import { npmScriptNodeArgs } from "../support/npm-script";

/** A shell's environment with no AWS settings of its own (no profile, no config file, no endpoint). */
function operatorEnvironment(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && !key.startsWith("AWS_")),
  );
  const local = localAwsEnvironment({}, "us-east-1");
  // No credentials: on a loopback endpoint the CLI needs none.
  delete local.AWS_ACCESS_KEY_ID;
  delete local.AWS_SECRET_ACCESS_KEY;
  return { ...env, ...local };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run bridge -- <args>` as its own process, with `stdin` piped in when given: what an operator
 * types, from package.json's script to the exit code.
 */
function runBridgeProcess(args: string[], stdin?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      npmScriptNodeArgs("bridge", args),
      { cwd: repoRoot, env: operatorEnvironment(), maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/**
 * Runs the same command in this process (the script's main, its output collected as the process would
 * print it, stdin a pipe): a process of its own costs a second of CPU to load TypeScript and the SDK.
 */
async function runBridge(args: string[], stdin?: string): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const code = await bridge(
    args,
    { out: (text) => (stdout += `${text}\n`), err: (text) => (stderr += `${text}\n`) },
    {
      readStdin: () => Promise.resolve(stdin ?? ""),
      stdinIsTerminal: false,
      env: operatorEnvironment(),
      sleep: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
    },
  );
  return { code, stdout, stderr };
}

describe("npm run bridge against a stack served by npm start -- --serve", function () {
  this.timeout(300_000);

  let server: ChildProcessByStdio<null, Readable, Readable>;
  let served = "";
  let endpoint = "";
  let outputsFile = "";
  const bridgeArgs = (...args: string[]) => [...args, "--outputs", outputsFile, "--endpoint", endpoint];

  before(async () => {
    // 10-minute jobs at 100x: an execution lasts about 7 s of wall time, time enough to stop one while its
    // jobs run; shard 1 of every execution fails halfway.
    const serveArgs = ["--serve", "--speed", "100", "--job-duration", "10m", "--fail-shards", "1"];
    // The dev stack the served process runs, rendered here (this worker's later suites render anyway) so
    // that the served process reads it from the render cache instead of loading Pulumi to make it.
    await renderStack({ stack: "dev" });
    server = spawn(process.execPath, npmScriptNodeArgs("start", serveArgs), {
      cwd: repoRoot,
      env: operatorEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let errors = "";
    server.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      server.stdout.on("data", (chunk: Buffer) => {
        served += chunk.toString();
        if (served.includes("Press Ctrl-C to stop.")) resolve();
      });
      server.on("exit", (code) => reject(new Error(`npm start -- --serve exited ${code}: ${errors}`)));
    });
    endpoint = /^Endpoint {2}(\S+)$/m.exec(served)![1];
    outputsFile = /^Outputs {3}(\S+)$/m.exec(served)![1];
  });

  after(async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.on("exit", resolve));
    process.kill(server.pid!, "SIGTERM");
    // A served stack stops at Ctrl-C: one still up 30 s later would hold the suite, killed instead.
    const stillUp = setTimeout(() => server.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(stillUp);
  });

  it("prints one endpoint on 127.0.0.1 and the stack's outputs as pulumi stack output --json does", () => {
    expect(endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const outputs = JSON.parse(readFileSync(outputsFile, "utf8")) as Record<string, unknown>;
    expect(outputs).to.include({
      pipelineName: "batch-bridge-dev",
      jobQueueArn: "arn:aws:batch:us-east-1:123456789012:job-queue/batch-bridge-dev-jobs",
    });
    expect(served).to.include(`npm run bridge -- watch --outputs ${outputsFile} --endpoint ${endpoint}`);
  });

  it("refuses a parameter the pipeline does not declare, or of the wrong type, before starting anything", async () => {
    const unknown = await runBridge(bridgeArgs("start", "--param", "Shards=3"));
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include(
      "--param Shards: the pipeline has no such parameter; its parameters: InputUri (String), OutputUri (String), ShardCount (Integer).",
    );
    const mistyped = await runBridge(bridgeArgs("start", "--param", "ShardCount=many"));
    expect(mistyped.code).to.equal(2);
    expect(mistyped.stderr).to.include('--param ShardCount: must be a whole number (Integer), got "many".');
    const status = await runBridge(bridgeArgs("status"));
    expect(status.code).to.equal(2);
    expect(status.stderr).to.include("The pipeline batch-bridge-dev has no execution yet");
  });

  it("starts executions, follows them to their end, and stops one with its jobs terminated", async () => {
    const startOne = async (shards: number) => {
      const ran = await runBridge(bridgeArgs("start", "--param", `ShardCount=${shards}`, "--json"));
      expect(ran.code, ran.stderr).to.equal(0);
      return (JSON.parse(ran.stdout) as { executionArn: string }).executionArn;
    };
    // One shard, stopped while it runs (started and stopped first, so that the stop comes in time).
    const stopping = await startOne(1);
    const stop = await runBridge(bridgeArgs("stop", "--execution", stopping));
    expect(stop.code, stop.stderr).to.equal(0);
    expect(stop.stdout).to.include(`Stop requested for ${stopping}.`);
    expect(stop.stdout).to.match(/terminates (its 1 unfinished job\(s\)|every job it submitted)/);
    // Three shards with shard 1 failing, and one that succeeds.
    const [failing, succeeding] = await Promise.all([startOne(3), startOne(1)]);

    const [failed, stopped, succeeded] = await Promise.all([
      runBridge(bridgeArgs("watch", "--execution", failing, "--interval", "500ms")),
      runBridge(bridgeArgs("watch", "--execution", stopping, "--interval", "500ms", "--json")),
      // The outputs piped in, as from pulumi stack output --json, to the npm script as typed.
      runBridgeProcess(
        ["watch", "--execution", succeeding, "--interval", "500ms", "--json", "--endpoint", endpoint],
        readFileSync(outputsFile, "utf8"),
      ),
    ]);

    expect(failed.code, failed.stderr).to.equal(1);
    // A line per change; the last one once the execution has failed.
    expect(failed.stderr.trim().split("\n").at(-1)).to.match(
      /^\d\d:\d\d:\d\d {2}Failed +WaitForBatchJobs Failed {2}jobs: .*FAILED/,
    );
    expect(failed.stdout).to.include("Status     Failed");
    expect(failed.stdout).to.match(
      /Failed {5}shard 1 \(job [0-9a-f-]+:1\): exit code 1: injected failure of shard 1/,
    );
    expect(failed.stdout).to.match(
      /log: https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-1#logsV2:log-groups\/log-group\/\$252Faws\$252Fbatch\$252Fbatch-bridge-dev-job\/log-events\/job\$252Fdefault\$252F[0-9a-f]+/,
    );
    expect(failed.stdout).to.include(
      "Terminated 2 job(s) by the bridge (sagemaker-batch-bridge: another shard of the step failed)",
    );
    expect(failed.stdout).to.match(/Answer +WaitForBatchJobs Failed: 1 of 3 shards failed: shard 1/);

    expect(stopped.code, stopped.stderr).to.equal(1);
    const stoppedView = JSON.parse(stopped.stdout) as ExecutionView;
    expect(stoppedView.status, stopped.stdout).to.equal("Stopped");
    expect(stoppedView.jobs[0], stopped.stdout).to.include({
      shards: 1,
      terminatedByBridge: 1,
      unfinished: 0,
      bridgeTerminationReason: "sagemaker-batch-bridge: pipeline execution stopped",
    });

    expect(succeeded.code, succeeded.stderr).to.equal(0);
    const succeededView = JSON.parse(succeeded.stdout) as ExecutionView;
    expect(succeededView.status).to.equal("Succeeded");
    expect(succeededView.jobs[0].byState).to.deep.equal({ SUCCEEDED: 1 });
    expect(succeededView.answer).to.deep.include({ step: "WaitForBatchJobs", status: "Succeeded" });
    expect(succeededView.answer!.outputs).to.include({ Status: "SUCCEEDED", SucceededShards: "1" });

    const status = await runBridge(bridgeArgs("status", "--execution", succeeding));
    expect(status.code).to.equal(0);
    expect(status.stdout).to.match(
      /Jobs +SubmitBatchJobs: 1 shard\(s\), one array job [0-9a-f-]+: 1 SUCCEEDED/,
    );

    const again = await runBridge(bridgeArgs("stop", "--execution", stopping));
    expect(again.code).to.equal(2);
    expect(again.stderr).to.include("The execution has ended (Stopped): there is nothing to stop.");
  });
});
