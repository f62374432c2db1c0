import { expect } from "chai";
import { readdir, readFile, rm } from "node:fs/promises";
import * as path from "node:path";
import { prepareDesign } from "../../local/designs/prepare";
import { runExecution, type Summary } from "../../local/runner/run";
import { parseStartArgs, start } from "../../scripts/start";
import { UsageError } from "../../scripts/cli";

/** Runs `npm start -- ... --json` in this process; the summary and the exit code. */
async function runJson(argv: string[]): Promise<{ code: number; summary: Summary; err: string }> {
  let out = "";
  let err = "";
  const code = await start([...argv, "--json"], {
    out: (text) => (out += `${text}\n`),
    err: (text) => (err += `${text}\n`),
  });
  expect(out, err).to.not.equal("");
  return { code, summary: JSON.parse(out) as Summary, err };
}

/** A worker answering each record line with its text's length: node reading stdin, one line out per line in. */
const lengthModel =
  `node -e 'require("readline").createInterface({ input: process.stdin })` +
  `.on("line", (l) => console.log(JSON.stringify({ length: JSON.parse(l).text.length })))'`;

describe("one execution on the transform engine: npm start -- --engine transform --shards N", function () {
  // Each run takes a second or two once its configuration has rendered (the first one renders it).
  this.timeout(300_000);
  const resultFolders: string[] = [];

  after(async () => {
    for (const folder of resultFolders) await rm(folder, { recursive: true, force: true });
  });

  it("runs the shards as input objects of one transform job, which answers every record of them", async () => {
    const { code, summary, err } = await runJson(["--engine", "transform", "--shards", "3"]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.engine).to.equal("transform");
    expect(summary.outcome).to.equal("succeeded");
    expect(summary.steps.map((s) => `${s.name} ${s.type} ${s.status}`)).to.deep.equal([
      "TransformRecords Transform Succeeded",
    ]);
    expect(summary.transformJobs).to.have.length(1);
    const [job] = summary.transformJobs!;
    expect(job).to.deep.include({ status: "Completed", records: 30, failureReason: null });
    expect(job.name).to.match(/^pipelines-[a-z0-9]+-TransformRecords-/);
    // 5 min of provisioning, then 2 min of processing (--job-duration's default).
    expect(job.seconds).to.equal(7 * 60);
    expect(summary.jobsLeftRunning).to.equal(0);
    expect(err).to.include("transform jobs: 1 InProgress");
  });

  it("fails the execution with the model's error when a record of a failing shard reaches it, the whole job failing", async () => {
    const { code, summary, err } = await runJson([
      "--engine",
      "transform",
      "--shards",
      "4",
      "--fail-shards",
      "2",
    ]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.outcome).to.equal("failed");
    expect(summary.failureReason).to.equal(
      "ClientError: the model answered 500 for a record: injected failure of shard 2",
    );
    expect(summary.transformJobs!.map((j) => [j.status, j.records])).to.deep.equal([["Failed", 0]]);
    expect(summary.steps[0]).to.deep.include({ status: "Failed" });
  });

  it("stops the running transform job when the execution is stopped, and ends Stopped with none left running", async () => {
    const { code, summary, err } = await runJson([
      "--engine",
      "transform",
      "--shards",
      "2",
      "--stop-after",
      "3m",
    ]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.outcome).to.equal("stopped");
    expect(summary.transformJobs!.map((j) => j.status)).to.deep.equal(["Stopped"]);
    expect(summary.failureReason).to.match(/^Transform job pipelines-\S+ was stopped/);
    expect(summary.jobsLeftRunning).to.equal(0);
    expect(summary.apiCalls.SageMaker).to.deep.equal({ StopPipelineExecution: 1 });
  });

  it("runs on the stack's own engine key as on --engine: the model given, the transform job run", async () => {
    const { code, summary, err } = await runJson(["--set", "engine=transform", "--shards", "1"]);
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.outcome).to.equal("succeeded");
    expect(summary.transformJobs!.map((j) => [j.status, j.records])).to.deep.equal([["Completed", 10]]);
  });

  it("gives a run whose config alone sets the transform engine the local model", async () => {
    const summary = await runExecution({ shards: 1, config: { engine: "transform" } });
    expect(summary.outcome, summary.failureReason ?? "").to.equal("succeeded");
    expect(summary.transformJobs!.map((j) => j.status)).to.deep.equal(["Completed"]);
  });

  it("refuses what shapes Batch jobs when the engine is the stack's, saying where it comes from", () => {
    expect(() => parseStartArgs(["--set", "engine=transform", "--mode", "jobs"]))
      .to.throw(UsageError)
      .with.property("message")
      .that.matches(/^--mode cannot be combined with engine transform \(the dev stack's engine key\)/);
    expect(() => parseStartArgs(["--set", "engine=batch", "--mode", "jobs"])).to.not.throw();
  });

  it("refuses, naming the option, what shapes Batch jobs or the callback step", () => {
    for (const [argv, message] of [
      [["--mode", "jobs"], /^--mode cannot be combined with --engine transform: it chooses how Batch jobs/],
      [["--throttle", "0.2"], /^--throttle cannot be combined with --engine transform/],
      [["--duplicate-deliveries"], /^--duplicate-deliveries cannot be combined with --engine transform/],
      [["--event-delay", "5s"], /^--event-delay cannot be combined with --engine transform/],
      [["--design", "reference"], /^--design cannot be combined with --engine transform/],
      [["--timeline", "t.svg"], /^--timeline cannot be combined with --engine transform/],
      [["--model-timeout", "5s"], /^--model-timeout needs --worker/],
    ] as const) {
      expect(() => parseStartArgs(["--engine", "transform", ...argv]), argv.join(" "))
        .to.throw(UsageError)
        .with.property("message")
        .that.matches(message);
    }
    expect(() => parseStartArgs(["--engine", "spark"])).to.throw(
      /--engine must be batch or transform, got "spark"/,
    );
    expect(() => parseStartArgs(["--model-timeout", "5s"])).to.throw(
      /--model-timeout needs --engine transform/,
    );
  });

  it("lets later steps read the Transform step's properties, as DescribeTransformJob returns them", async () => {
    const summary = await runExecution(
      { engine: "transform", shards: 1 },
      {
        // The stack's pipeline, then a Condition step on the job's status whose branch fails with its output.
        prepareDesign: async (request) => {
          const design = await prepareDesign(request);
          const report = {
            Name: "ReportOutput",
            Type: "Fail",
            Arguments: {
              ErrorMessage: {
                "Std:Join": {
                  On: " ",
                  Values: [
                    { Get: "Steps.TransformRecords.TransformJobName" },
                    "wrote",
                    { Get: "Steps.TransformRecords.TransformOutput.S3OutputPath" },
                    "from",
                    { Get: "Steps.TransformRecords.TransformInput.DataSource.S3DataSource.S3Uri" },
                  ],
                },
              },
            },
          };
          const check = {
            Name: "TransformCompleted",
            Type: "Condition",
            Arguments: {
              Conditions: [
                {
                  Type: "Equals",
                  LeftValue: { Get: "Steps.TransformRecords.TransformJobStatus" },
                  RightValue: "Completed",
                },
              ],
              IfSteps: [report],
              ElseSteps: [],
            },
          };
          return {
            ...design,
            definition: { ...design.definition, Steps: [...design.definition.Steps, check as never] },
          };
        },
      },
    );
    expect(summary.steps.map((s) => `${s.name} ${s.status}`)).to.deep.equal([
      "TransformRecords Succeeded",
      "TransformCompleted Succeeded",
      "ReportOutput Failed",
    ]);
    const [job] = summary.transformJobs!;
    expect(summary.failureReason).to.equal(`${job.name} wrote ${job.outputUri} from ${job.inputUri}`);
  });

  describe("with --worker as the model: one record per line in, one result per line out", () => {
    it("writes each record joined to the worker's answer under the output prefix", async () => {
      const { code, summary, err } = await runJson([
        "--engine",
        "transform",
        "--shards",
        "2",
        "--worker",
        lengthModel,
      ]);
      resultFolders.push(summary.worker!.resultsDirectory);
      expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
      expect(summary.transformJobs!.map((j) => [j.status, j.records])).to.deep.equal([["Completed", 20]]);
      // One process per request: each input object is one mini-batch.
      expect(summary.worker!.processes.map((p) => p.exitCode)).to.deep.equal([0, 0]);
      const outputs = (await readdir(summary.worker!.outputDirectory, { recursive: true })).filter((f) =>
        f.endsWith(".out"),
      );
      expect(outputs).to.have.length(2);
      const first = (await readFile(path.join(summary.worker!.outputDirectory, outputs.sort()[0]), "utf8"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as unknown);
      expect(first[0]).to.deep.equal({
        job_id: "shard-0-record-0",
        SageMakerOutput: { length: "shard 0, record 0".length },
      });
      expect(first).to.have.length(10);
    });

    it("stops the worker's running process when the execution, and so its transform job, is stopped", async () => {
      // The job provisions for 5 min, then the worker starts; the stop comes a second after.
      const { code, summary, err } = await runJson([
        "--engine",
        "transform",
        "--shards",
        "1",
        "--worker",
        "sleep 60",
        "--stop-after",
        "5m1s",
      ]);
      resultFolders.push(summary.worker!.resultsDirectory);
      expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
      expect(summary.outcome).to.equal("stopped");
      expect(summary.transformJobs!.map((j) => j.status)).to.deep.equal(["Stopped"]);
      expect(summary.worker!.processes.map((p) => p.stopped)).to.deep.equal([true]);
    });

    for (const [what, worker, extra, reason] of [
      [
        "exits with a code other than 0",
        "cat > /dev/null; echo 'model crashed' >&2; exit 3",
        [],
        /^ClientError: the model command exited with code 3: model crashed$/,
      ],
      [
        "answers another number of lines than it was given",
        "head -n 1",
        [],
        /^ClientError: the model command answered 1 line\(s\) for 10 record\(s\): it must write one result line per input line$/,
      ],
      [
        "takes longer than the model timeout",
        "sleep 5",
        ["--model-timeout", "300ms"],
        /^ClientError: the model command did not answer 10 record\(s\) within 0\.3 s \(InvocationsTimeoutInSeconds\)$/,
      ],
    ] as const) {
      it(`fails the transform job, and the execution, with a reason saying so when the worker ${what}`, async () => {
        const { code, summary } = await runJson([
          "--engine",
          "transform",
          "--shards",
          "1",
          "--worker",
          worker,
          ...extra,
        ]);
        resultFolders.push(summary.worker!.resultsDirectory);
        // The scenario expects a success: a failing worker is a failure local mode reports, exit code 1.
        expect(code).to.equal(1);
        expect(summary.outcome).to.equal("failed");
        expect(summary.failureReason).to.match(reason);
        expect(summary.transformJobs!.map((j) => [j.status, j.records])).to.deep.equal([["Failed", 0]]);
        expect(summary.worker!.output.objects).to.equal(0);
        expect(summary.jobsLeftRunning).to.equal(0);
      });
    }
  });
});
