import { expect } from "chai";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { Summary } from "../../local/runner/run";
import { repoRoot } from "../../render/stack-files";
import { start } from "../../scripts/start";

/** The example worker, run as the image's entry point with the job's command as its arguments. */
const exampleWorker = `node ${path.join(repoRoot, "examples", "worker", "worker.mjs")}`;
const workerCommand = "containerCommand=[Ref::inputUri, Ref::outputUri]";

/** Runs `npm start` in this process and collects what it prints. */
async function runStart(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await start(argv, {
    out: (text) => (out += `${text}\n`),
    err: (text) => (err += `${text}\n`),
  });
  return { code, out, err };
}

async function runJson(argv: string[]): Promise<{ code: number; summary: Summary }> {
  const { code, out, err } = await runStart([...argv, "--json"]);
  expect(out, err).to.not.equal("");
  return { code, summary: JSON.parse(out) as Summary };
}

/** Every file under `folder`, relative, sorted, with its content. */
async function filesIn(folder: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(folder, full).split(path.sep).join("/")] = await readFile(full, "utf8");
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

describe("npm start --worker: the example worker through local mode", function () {
  // Each configuration renders the stack once; the workers are a few short node processes.
  this.timeout(180_000);
  let scratch: string;
  const resultFolders: string[] = [];

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "worker-e2e-"));
  });

  after(async () => {
    for (const folder of [scratch, ...resultFolders]) await rm(folder, { recursive: true, force: true });
  });

  async function inputFolder(name: string, files: Record<string, string | Buffer>): Promise<string> {
    const folder = path.join(scratch, name);
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(folder, file)), { recursive: true });
      await writeFile(path.join(folder, file), content);
    }
    return folder;
  }

  /** A line of a records shard file, as the records API writes it. */
  const recordLine = (jobId: string, record: unknown) => `${JSON.stringify({ job_id: jobId, record })}\n`;
  const records = {
    "shard-00000/records.jsonl": recordLine("j-0", "one two three") + recordLine("j-1", { text: "four" }),
    "shard-00001/records.jsonl": recordLine("j-2", 42) + recordLine("j-3", "five\nsix"),
  };
  /** The results of `records`, whatever the submit mode. */
  const recordResults = [
    [
      "shard-00000/records.jsonl.results.jsonl",
      { job_id: "j-0", result: { lines: 1, words: 3, characters: 13 } },
    ],
    [
      "shard-00000/records.jsonl.results.jsonl",
      { job_id: "j-1", result: { lines: 1, words: 1, characters: 4 } },
    ],
    [
      "shard-00001/records.jsonl.results.jsonl",
      { job_id: "j-2", error: 'the record must be text or {"text": "..."}, got 42' },
    ],
    [
      "shard-00001/records.jsonl.results.jsonl",
      { job_id: "j-3", result: { lines: 2, words: 2, characters: 8 } },
    ],
  ];

  /** Each result line of the results files in `output`, with its file. */
  function resultLines(output: Record<string, string>): [string, unknown][] {
    return Object.entries(output)
      .filter(([file]) => file.endsWith(".results.jsonl"))
      .flatMap(([file, text]) =>
        text
          .trim()
          .split("\n")
          .map((l): [string, unknown] => [file, JSON.parse(l)]),
      );
  }

  describe("array mode (one execution: text objects and records, each child taking its share)", () => {
    let input: string;
    let code: number;
    let summary: Summary;
    let output: Record<string, string>;

    before(async () => {
      input = await inputFolder("array", {
        "a.txt": "one two\n",
        "b.txt": "three\n",
        "c.txt": "four five six\n",
        "d/e.txt": "seven\neight\n",
        ...records,
      });
      ({ code, summary } = await runJson([
        ...["--worker", exampleWorker, "--input", input, "--shards", "3", "--set", workerCommand],
      ]));
      resultFolders.push(summary.worker!.resultsDirectory);
      output = await filesIn(summary.worker!.outputDirectory);
    });

    it("each child counts its share of the seeded input, chosen by its array index", async () => {
      expect(code, summary.unexpected.join("; ")).to.equal(0);
      expect(summary).to.deep.include({ outcome: "succeeded", mode: "array", jobsLeftRunning: 0 });
      expect(summary.worker).to.deep.include({ concurrency: 128 });
      expect(summary.worker!.input).to.deep.include({ objects: 6, seededFrom: input });
      // Sorted keys a, b, c, d/e, shard-00000/..., shard-00001/...: positions 0..5, so shard 0 takes a and
      // d/e, shard 1 b and the first records file, shard 2 c and the second.
      expect(Object.keys(output).filter((file) => file.endsWith(".counts.json"))).to.deep.equal([
        "a.txt.counts.json",
        "b.txt.counts.json",
        "c.txt.counts.json",
        "d/e.txt.counts.json",
      ]);
      expect(JSON.parse(output["d/e.txt.counts.json"])).to.deep.include({ shard: 0, lines: 2, words: 2 });
      expect(JSON.parse(output["c.txt.counts.json"])).to.deep.include({ shard: 2, lines: 1, words: 3 });
      expect(summary.worker!.processes.map((p) => [p.arrayIndex, p.exitCode])).to.have.deep.members([
        [0, 0],
        [1, 0],
        [2, 0],
      ]);
      const logs = await filesIn(summary.worker!.logsDirectory);
      expect(Object.values(logs).join("")).to.include("shard 1 of 3: 2 object(s) counted");
    });

    it("honours the record contract: a result line per text record, an error line per other", () => {
      expect(Object.keys(output).filter((file) => !file.endsWith(".counts.json"))).to.deep.equal([
        "shard-00000/records.jsonl.results.jsonl",
        "shard-00001/records.jsonl.results.jsonl",
      ]);
      expect(resultLines(output)).to.deep.equal(recordResults);
    });
  });

  describe("jobs mode (one execution: text objects and records in each shard-NNNNN folder)", () => {
    let code: number;
    let summary: Summary;
    let output: Record<string, string>;

    before(async () => {
      const input = await inputFolder("jobs", {
        "shard-00000/a.txt": "alpha beta\n",
        "shard-00001/b.txt": "gamma\n",
        "shard-00001/c.txt": "delta epsilon zeta\n",
        ...records,
      });
      ({ code, summary } = await runJson([
        ...["--worker", exampleWorker, "--input", input, "--shards", "2", "--mode", "jobs"],
        ...["--set", workerCommand],
      ]));
      resultFolders.push(summary.worker!.resultsDirectory);
      output = await filesIn(summary.worker!.outputDirectory);
    });

    it("each job counts its own shard-NNNNN folder", () => {
      expect(code, summary.unexpected.join("; ")).to.equal(0);
      expect(summary).to.deep.include({ outcome: "succeeded", mode: "jobs" });
      expect(Object.keys(output).filter((file) => file.endsWith(".counts.json"))).to.deep.equal([
        "shard-00000/a.txt.counts.json",
        "shard-00001/b.txt.counts.json",
        "shard-00001/c.txt.counts.json",
      ]);
      expect(JSON.parse(output["shard-00001/c.txt.counts.json"])).to.deep.include({ shard: 1, words: 3 });
    });

    it("honours the record contract: a result line per text record, an error line per other", () => {
      expect(Object.keys(output).filter((file) => !file.endsWith(".counts.json"))).to.deep.equal([
        "shard-00000/records.jsonl.results.jsonl",
        "shard-00001/records.jsonl.results.jsonl",
      ]);
      expect(resultLines(output)).to.deep.equal(recordResults);
    });
  });

  it("a shard whose input is not text fails with the worker's exit code, named in the step's failure", async () => {
    const input = await inputFolder("bad", { "a.txt": "fine\n", "b.bin": Buffer.from([0xff, 0xfe, 0x00]) });
    // The stack's config as the array-mode tests run it (one render): 3 attempts, of which a failure of the
    // worker's own uses one, as only infrastructure failures are retried.
    const { code, summary } = await runJson([
      ...["--worker", exampleWorker, "--input", input, "--shards", "2", "--set", workerCommand],
    ]);
    resultFolders.push(summary.worker!.resultsDirectory);
    expect(code).to.equal(1);
    expect(summary.outcome).to.equal("failed");
    expect(summary.failureReason).to.match(
      /^1 of 2 shards failed: shard 1 \(exit code 65: Essential container in task exited\)/,
    );
    const shard1 = summary.worker!.processes.filter((p) => p.arrayIndex === 1);
    expect(shard1, "shard 1 ran once").to.have.length(1);
    const [failed] = shard1;
    expect(failed.exitCode).to.equal(65);
    expect(await readFile(failed.logFile, "utf8")).to.include("worker failed: input/b.bin is not UTF-8 text");
  });

  it("a stopped execution's terminated jobs kill their processes", async () => {
    // The jobs start RUNNING 12 s in; the stop comes half a second (of wall time) later.
    const { summary } = await runJson([
      ...["--worker", "sleep 60; true", "--shards", "2", "--stop-after", "12.5s"],
    ]);
    resultFolders.push(summary.worker!.resultsDirectory);
    expect(summary).to.deep.include({ outcome: "stopped", expected: true, jobsLeftRunning: 0 });
    expect(summary.worker!.processes.map((p) => [p.stopped, p.exitCode])).to.deep.equal([
      [true, 143],
      [true, 143],
    ]);
  });

  it("refuses a worker that cannot start, a missing input folder and simulated failures, before anything runs", async () => {
    const cases: [string[], string][] = [
      [
        ["--worker", "nodee worker.mjs"],
        'worker "nodee worker.mjs" cannot start: nodee is not a program on PATH',
      ],
      [
        ["--worker", "node x.mjs", "--input", path.join(scratch, "missing")],
        `inputDirectory ${path.join(scratch, "missing")} is not a folder.`,
      ],
      [["--input", scratch], "inputDirectory needs worker"],
      [["--worker", "true", "--fail-shards", "1"], "failShards cannot be combined with worker"],
      [["--set", "jobAttempts"], "--set must be KEY=VALUE"],
    ];
    for (const [argv, message] of cases) {
      const result = await runStart(argv);
      expect(result.code, argv.join(" ")).to.equal(2);
      expect(result.out, argv.join(" ")).to.equal("");
      expect(result.err, argv.join(" ")).to.include(message);
    }
  });
});
