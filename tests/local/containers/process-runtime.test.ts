import { expect } from "chai";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { ContainerExit, ContainerLaunch } from "../../../local/batch/scenario";
import { ProcessRuntime } from "../../../local/containers/process-runtime";
import { programOf, workerCommandProblem } from "../../../local/containers/worker-command";

function launch(overrides: Partial<ContainerLaunch> = {}): ContainerLaunch {
  return {
    jobId: "job-1",
    jobName: "batch-bridge-exec1",
    arrayIndex: 2,
    attempt: 1,
    command: ["s3://data/input/", "two words"],
    environment: { AWS_BATCH_JOB_ARRAY_INDEX: "2", BRIDGE_SHARD_COUNT: "4" },
    ...overrides,
  };
}

/** Waits (in wall time, bounded) for the runtime's next exit and delivers it. */
async function nextExit(runtime: ProcessRuntime, exits: ContainerExit[]): Promise<ContainerExit> {
  for (let i = 0; i < 100 && exits.length === 0; i++) {
    await runtime.waitForExit(100);
    runtime.deliverExits();
  }
  return exits.shift()!;
}

/** True while `pid` runs: a killed process that is not reaped yet (a zombie) does not count. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("workers as local processes", () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), "process-runtime-"));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("runs the worker with the job's command as arguments and the container's environment, logging both streams", async () => {
    const saved = process.env.AWS_PROFILE;
    process.env.AWS_PROFILE = "production";
    const runtime = new ProcessRuntime({
      command: `printf '%s|' "$AWS_BATCH_JOB_ARRAY_INDEX" "$AWS_ENDPOINT_URL_S3" "\${AWS_PROFILE-unset}"; echo err >&2; printf '%s|'`,
      awsEnvironment: { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9" },
      logsDirectory: folder,
    });
    try {
      const exits: ContainerExit[] = [];
      runtime.start(launch(), (exit) => exits.push(exit));
      expect(await nextExit(runtime, exits)).to.deep.equal({ exitCode: 0 });
      const log = await readFile(path.join(folder, "batch-bridge-exec1.2.attempt-1.log"), "utf8");
      expect(log).to.equal("2|http://127.0.0.1:9|unset|err\ns3://data/input/|two words|");
      expect(runtime.processes[0]).to.include({ exitCode: 0, stopped: false });
    } finally {
      if (saved === undefined) delete process.env.AWS_PROFILE;
      else process.env.AWS_PROFILE = saved;
    }
  });

  it("holds an exit until the runner delivers it, and reports the exit code", async () => {
    const runtime = new ProcessRuntime({ command: "exit 3", awsEnvironment: {}, logsDirectory: folder });
    const exits: ContainerExit[] = [];
    runtime.start(launch(), (exit) => exits.push(exit));
    await runtime.waitForExit(10_000);
    expect(exits).to.deep.equal([]);
    expect(runtime.undelivered).to.equal(1);
    runtime.deliverExits();
    expect(exits).to.deep.equal([{ exitCode: 3 }]);
  });

  it("stops a container by signalling its whole process group, what the worker started included", async () => {
    const pidFile = path.join(folder, "child.pid");
    const runtime = new ProcessRuntime({
      command: `sleep 30 & echo $! > ${pidFile}; wait; echo finished`,
      awsEnvironment: {},
      logsDirectory: folder,
    });
    const exits: ContainerExit[] = [];
    const container = runtime.start(launch(), (exit) => exits.push(exit));
    let childPid: number | undefined;
    for (let i = 0; i < 100 && !childPid; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      childPid = Number(await readFile(pidFile, "utf8").catch(() => "")) || undefined;
    }
    container.stop();
    expect((await nextExit(runtime, exits)).exitCode).to.equal(143);
    for (let i = 0; i < 50 && running(childPid!); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(running(childPid!)).to.equal(false);
    expect(runtime.processes[0].stopped).to.equal(true);
    expect(await readFile(path.join(folder, "batch-bridge-exec1.2.attempt-1.log"), "utf8")).to.not.include(
      "finished",
    );
  });

  it("kills a worker that ignores SIGTERM once the stop grace has passed", async () => {
    const runtime = new ProcessRuntime({
      // The job's arguments go to the last command: `true` ignores them.
      command: "trap '' TERM; sleep 30; true",
      awsEnvironment: {},
      logsDirectory: folder,
      stopGraceMs: 200,
    });
    const exits: ContainerExit[] = [];
    const container = runtime.start(launch(), (exit) => exits.push(exit));
    await new Promise((resolve) => setTimeout(resolve, 100));
    container.stop();
    expect((await nextExit(runtime, exits)).exitCode).to.equal(137);
  });
});

describe("checking a worker command before anything runs", () => {
  it("accepts a program on PATH, a builtin, an executable path, and assignments before the program", () => {
    expect(workerCommandProblem("node examples/worker/worker.mjs")).to.equal(undefined);
    expect(workerCommandProblem("exec python3 work.py")).to.equal(undefined);
    expect(workerCommandProblem("LOG_LEVEL=debug /bin/sh -c true")).to.equal(undefined);
  });

  it("names what cannot start", () => {
    expect(workerCommandProblem("nodee worker.mjs")).to.equal(
      "nodee is not a program on PATH or a shell builtin",
    );
    expect(workerCommandProblem("./no-such-worker.sh --fast", "/")).to.equal(
      "./no-such-worker.sh is not an executable file (from /)",
    );
    expect(workerCommandProblem("node 'unterminated")).to.match(/^the shell cannot parse it: /);
    expect(workerCommandProblem("   ")).to.equal("the command is empty");
  });

  it("finds the program after assignments and quotes", () => {
    expect(programOf(`A=1 B="x y" "my tool" --flag`)).to.equal("my tool");
    expect(programOf("(cd x && run)")).to.equal(undefined);
  });
});
