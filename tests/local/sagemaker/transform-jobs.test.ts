import {
  CreateTransformJobCommand,
  DescribeTransformJobCommand,
  SageMakerClient,
  StopTransformJobCommand,
} from "@aws-sdk/client-sagemaker";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { expect } from "chai";
import { transformDataProcessing } from "../../../infra/transform-step";
import { startS3Server, type S3Server } from "../../../local/s3/server";
import { startSageMakerServer, type SageMakerServer } from "../../../local/sagemaker/server";
import { TransformJobs, type TransformModel } from "../../../local/sagemaker/transform-jobs";
import { SimClock } from "../../../local/time/clock";
import { errorOf, localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);

describe("local SageMaker transform jobs", () => {
  let clock: SimClock;
  let s3Server: S3Server;
  let server: SageMakerServer;
  let s3: S3Client;
  let sagemaker: SageMakerClient;
  let pending: Promise<unknown>[];
  /** A model of two-field predictions; it fails on a record holding `fail`. */
  const model: TransformModel = async (inputs) =>
    inputs.map((record) => {
      const r = record as { a: number; b: string; fail?: string };
      if (r.fail) throw new Error(r.fail);
      return { sum: r.a + 1, label: r.b.toUpperCase() };
    });

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: start });
    s3Server = await startS3Server({ buckets: ["data-bucket"] });
    s3 = new S3Client({ ...localClientConfig(s3Server.endpoint), forcePathStyle: true });
    pending = [];
    const transformJobs = new TransformJobs({
      clock,
      s3,
      region: "us-east-1",
      accountId: "123456789012",
      model,
      track: (work) => pending.push(work),
    });
    server = await startSageMakerServer({ clock, seed: 3, transformJobs });
    sagemaker = new SageMakerClient({ ...localClientConfig(server.endpoint), maxAttempts: 1 });
  });

  afterEach(async () => {
    sagemaker.destroy();
    s3.destroy();
    await server.stop();
    await s3Server.stop();
    clock.stop();
  });

  /** Advances simulated time, letting the jobs' S3 work finish at each step. */
  async function advance(seconds: number): Promise<void> {
    for (let i = 0; i < seconds; i += 10) {
      clock.advance(10_000);
      while (pending.length > 0) await pending.shift();
    }
  }

  async function put(key: string, lines: unknown[]): Promise<void> {
    const body = lines.map((line) => `${JSON.stringify(line)}\n`).join("");
    await s3.send(new PutObjectCommand({ Bucket: "data-bucket", Key: key, Body: body }));
  }

  const create = (name: string) =>
    sagemaker.send(
      new CreateTransformJobCommand({
        TransformJobName: name,
        ModelName: "scorer",
        TransformInput: {
          DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: "s3://data-bucket/input/batch-1/" } },
          ContentType: "application/jsonlines",
          SplitType: "Line",
        },
        TransformOutput: {
          S3OutputPath: "s3://data-bucket/output/batch-1/",
          Accept: "application/jsonlines",
          AssembleWith: "Line",
        },
        TransformResources: { InstanceType: "ml.m5.xlarge", InstanceCount: 1 },
        DataProcessing: { ...transformDataProcessing },
      }),
    );
  const status = async (name: string) =>
    (await sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: name }))).TransformJobStatus;

  it("provisions for minutes, then joins each prediction to its record's job_id, multi-field records and results intact", async () => {
    await put("input/batch-1/shard-00000/records.jsonl", [
      { job_id: "id-1", record: { a: 1, b: "x, y" } },
      { job_id: "id-2", record: { a: 41, b: "z" } },
    ]);
    await create("job-1");
    await advance(240);
    expect(await status("job-1")).to.equal("InProgress");
    await advance(300);
    expect(await status("job-1")).to.equal("Completed");
    const out = await s3.send(
      new GetObjectCommand({ Bucket: "data-bucket", Key: "output/batch-1/shard-00000/records.jsonl.out" }),
    );
    expect(
      (await out.Body!.transformToString())
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).to.deep.equal([
      { job_id: "id-1", SageMakerOutput: { sum: 2, label: "X, Y" } },
      { job_id: "id-2", SageMakerOutput: { sum: 42, label: "Z" } },
    ]);
  });

  it("fails the whole job with a FailureReason when the model errs on a record, writing nothing", async () => {
    await put("input/batch-1/a.jsonl", [
      { job_id: "id-1", record: { a: 1, b: "x" } },
      { job_id: "id-2", record: { a: 2, b: "y", fail: "bad input" } },
    ]);
    await create("job-2");
    await advance(600);
    const described = await sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: "job-2" }));
    expect([described.TransformJobStatus, described.FailureReason]).to.deep.equal([
      "Failed",
      "ClientError: bad input",
    ]);
  });

  it("stops an InProgress job (Stopping, then Stopped) and refuses an unknown or repeated name", async () => {
    await put("input/batch-1/a.jsonl", [{ job_id: "id-1", record: { a: 1, b: "x" } }]);
    await create("job-3");
    await advance(60);
    await sagemaker.send(new StopTransformJobCommand({ TransformJobName: "job-3" }));
    expect(await status("job-3")).to.equal("Stopping");
    await advance(600);
    expect(await status("job-3")).to.equal("Stopped");
    expect((await errorOf(create("job-3"))).name).to.equal("ResourceInUse");
    expect(
      (await errorOf(sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: "nope" })))).name,
    ).to.equal("ResourceNotFound");
  });
});
