import { expect } from "chai";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { request, type ClientRequest } from "node:http";
import { latencyPercentiles, stackLatencies } from "../../local/runner/records-model";
import type { RecordsSummary } from "../../local/runner/records-run";
import { stackModelOf } from "../../scripts/bench-records";
import { serveRecordsApi, type ServedApi } from "../../local/runner/records-serve";
import { api } from "../../scripts/api";
import { start } from "../../scripts/start";

async function run(main: typeof start, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

/** One HTTP request with a JSON answer. */
function send(
  url: string,
  options: { method?: string; key?: string; body?: string } = {},
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: options.method ?? "GET", headers: options.key ? { "x-api-key": options.key } : {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            statusCode: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
          }),
        );
      },
    );
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}

describe("the records API locally: npm start -- --records and npm run api", function () {
  // Each configuration renders the stack once; a run of a few records takes about a second of wall time.
  this.timeout(300_000);

  it("runs records over HTTP to their final status: 2 batches, the named records Failed with their errors, none lost", async () => {
    const { code, out, err } = await run(start, [
      ...["--records", "12", "--set", "recordBatchSize=10", "--fail-records", "3,11", "--json"],
    ]);
    const summary = JSON.parse(out) as RecordsSummary;
    expect(code, `${summary.unexpected.join("; ")}\n${err}`).to.equal(0);
    expect(summary.records).to.deep.equal({ submitted: 12, processed: 10, failed: 2, lost: 0 });
    expect(summary.failedRecords.map((r) => [r.index, r.error])).to.deep.equal([
      [3, "injected failure of record 3"],
      [11, "injected failure of record 11"],
    ]);
    // At 50 records a second the first 10 fill a batch in 0.2 s; the last 2 wait the 60 s window.
    expect(summary.executions).to.deep.equal({ started: 2, succeeded: 2, failed: 0, stopped: 0 });
    const latency = summary.recordLatencySeconds!;
    expect(latency.max - latency.p50).to.be.within(55, 62);
    // The bench models the sizes it cannot run with local mode's timings: the model must agree with a run.
    const modelled = latencyPercentiles(stackLatencies(12, 50, { ...stackModelOf("dev"), batchSize: 10 }));
    for (const key of ["p50", "p99", "max"] as const) {
      expect(latency[key], `modelled ${key}`).to.be.closeTo(modelled[key], 0.002);
    }
    expect(summary).to.deep.include({
      jobsLeftRunning: 0,
      deadLetterMessages: 0,
      batchSize: 10,
      batchWindowSeconds: 60,
    });
    expect(summary.apiCalls["API Gateway"]).to.deep.equal({ "POST /job": 12 });
    expect(summary.apiCalls.SageMaker.StartPipelineExecution).to.equal(2);
    expect(summary.lambdaInvocations["batch-bridge-records-status"]).to.equal(2);
    expect(err).to.include("Sending 12 record(s) to the stack's records API locally");
  });

  it("processes records one job per shard in jobs mode, recordsPerShard to a shard file, and prints the summary", async () => {
    const { code, out } = await run(start, [
      ...["--records", "3", "--mode", "jobs", "--set", "recordsPerShard=1"],
      ...["--set", "recordBatchWindowSeconds=5"],
    ]);
    expect(code, out).to.equal(0);
    expect(out).to.include("Records            3 submitted: 3 processed, 0 failed, 0 lost (as expected)\n");
    expect(out).to.match(
      /\nBatches {12}1 execution \(batches of up to 100 records or 5s\): 1 succeeded; one job per shard each/,
    );
    expect(out).to.match(/\n {2}Batch {12}.*SubmitJob 3\b/);
    expect(out).to.match(
      /\nRecord latency {5}p50 \S+, p99 \S+, max \S+ \(from the POST to the final status\)\n/,
    );
  });

  it("flushes on a schedule with recordTrigger schedule: one batch when the rate comes, all records processed", async () => {
    const { code, out } = await run(start, [
      ...["--records", "3", "--json", "--set", "recordTrigger=schedule"],
      ...["--set", "recordScheduleExpression=rate(15 minutes)"],
    ]);
    const summary = JSON.parse(out) as RecordsSummary;
    expect(code, summary.unexpected.join("; ")).to.equal(0);
    expect(summary.records).to.deep.equal({ submitted: 3, processed: 3, failed: 0, lost: 0 });
    expect(summary.executions.started).to.equal(1);
    expect(summary.batchSize).to.equal(null);
    // Sent in the first 0.06 s, flushed at 15 min, final once the batch ran (the model's timings).
    const model = stackModelOf("dev");
    const batchRun =
      model.queuedSeconds + model.startingSeconds + model.jobDurationSeconds + 2 * model.eventDelaySeconds;
    expect(summary.recordLatencySeconds!.max).to.be.closeTo(900 + batchRun, 0.01);
    expect(summary.lambdaInvocations["batch-bridge-records-flush"]).to.equal(1);
  });

  it("refuses options that do not go with --records, naming them, exit code 2", async () => {
    const cases: [string[], string][] = [
      [["--records", "0"], '--records must be a whole number from 1 to 100000, got "0".'],
      [
        ["--records", "3", "--fail-records", "5"],
        "--fail-records must list record indexes from 0 to 2 separated by commas",
      ],
      [["--records", "10", "--shards", "4"], "--shards cannot be combined with --records"],
      [["--record-rate", "5"], "--record-rate needs --records N."],
      [
        ["--records", "10", "--record-rate", "0"],
        "--record-rate must be a number of records a second above 0",
      ],
    ];
    for (const [argv, message] of cases) {
      const result = await run(start, argv);
      expect(result.code, argv.join(" ")).to.equal(2);
      expect(result.out).to.equal("");
      expect(result.err, argv.join(" ")).to.include(message);
    }
  });

  describe("npm run api", () => {
    it("prints the base URL and the API key, serves until stopped, then exits 0", async () => {
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      let url = "";
      let key = "";
      const exit = run(
        (argv, output) =>
          api(argv, output, { stopped, onServing: (s) => ((url = s.baseUrl), (key = s.apiKey)) }),
        ["--speed", "1"],
      );
      // Until it serves (or ends: it cannot start).
      const ended = exit.then(() => "ended");
      while (
        url === "" &&
        (await Promise.race([ended, new Promise((r) => setTimeout(r, 50, "waiting"))])) !== "ended"
      );
      expect(url, "served").to.not.equal("");
      const posted = await send(`${url}/job`, { method: "POST", key, body: '"hello"' });
      expect(posted.statusCode).to.equal(202);
      stop();
      const { code, out } = await exit;
      expect(code).to.equal(0);
      expect(out).to.include(`Base URL  ${url}\nAPI key   ${key}\n`);
      expect(out).to.include(`curl -s -X POST ${url}/job -H "x-api-key: ${key}"`);
    });

    it("refuses a bad port or speed, naming what is allowed, exit code 2", async () => {
      const port = await run(api, ["--port", "70000"]);
      expect(port).to.deep.include({ code: 2, out: "" });
      expect(port.err).to.include('--port must be a port number from 0 to 65535, got "70000".');
      const speed = await run(api, ["--speed", "0"]);
      expect(speed.code).to.equal(2);
      expect(speed.err).to.include('--speed must be a number from 1 to 10000, got "0".');
    });

    describe("with time standing still until the test moves it, the functions on signed HTTP", () => {
      let served: ServedApi;
      /** The Authorization headers of the requests sent over a socket to a server other than the API. */
      const signatures: string[] = [];
      const onRequest = (message: unknown): void => {
        const outgoing = (message as { request: ClientRequest }).request;
        if (served && !served.baseUrl.includes(String(outgoing.getHeader("host")))) {
          signatures.push(String(outgoing.getHeader("authorization") ?? ""));
        }
      };

      before(async () => {
        // Time stands still until the test moves it: no race with the machine's load. The functions reach
        // the local servers over a socket with signed requests here, as an SDK outside the process does;
        // every other records run reaches them in this process.
        served = await serveRecordsApi({ speed: 0, overHttp: true });
        subscribe("http.client.request.start", onRequest);
      });
      after(async () => {
        unsubscribe("http.client.request.start", onRequest);
        await served.stop();
      });

      it("takes a record over HTTP and shows it Queued, then Processed with its result once its batch ran", async () => {
        const posted = await send(`${served.baseUrl}/job`, {
          method: "POST",
          key: served.apiKey,
          body: '{"text": "a b c"}',
        });
        expect(posted.statusCode).to.equal(202);
        const jobId = posted.body.job_id as string;
        const queued = await send(`${served.baseUrl}/job/${jobId}`, { key: served.apiKey });
        expect(queued.body).to.deep.include({ job_id: jobId, status: "Queued" });
        await served.runUntilQuiet();
        const processed = await send(`${served.baseUrl}/job/${jobId}`, { key: served.apiKey });
        expect(processed.statusCode).to.equal(200);
        expect(processed.body).to.deep.include({
          job_id: jobId,
          status: "Processed",
          result: { lines: 1, words: 3, characters: 5 },
        });
        expect(processed.body.execution_arn).to.match(/:pipeline\/batch-bridge-dev\/execution\//);
        // The functions' calls of every service went over the socket, signed.
        const services = new Set(
          signatures.map((header) => /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(header)?.[1]),
        );
        expect([...services].sort()).to.deep.equal(["batch", "dynamodb", "s3", "sagemaker", "sqs"]);
        for (const authorization of signatures) {
          expect(authorization).to.match(
            /^AWS4-HMAC-SHA256 Credential=local\/.*Signature=(?!0{64})[0-9a-f]{64}$/,
          );
        }
      });

      it("answers 403 without the key and 404 for an unknown job_id, as API Gateway and the function do", async () => {
        const noKey = await send(`${served.baseUrl}/job/0b2e9d4a-7c1f-4e3b-8a6d-9f5c2e1b7a30`);
        expect(noKey).to.deep.equal({ statusCode: 403, body: { message: "Forbidden" } });
        const unknown = await send(`${served.baseUrl}/job/0b2e9d4a-7c1f-4e3b-8a6d-9f5c2e1b7a30`, {
          key: served.apiKey,
        });
        expect(unknown.statusCode).to.equal(404);
        const malformed = await send(`${served.baseUrl}/job`, {
          method: "POST",
          key: served.apiKey,
          body: "{oops",
        });
        expect(malformed.statusCode).to.equal(400);
      });
    });
  });
});
