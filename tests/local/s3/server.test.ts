import { expect } from "chai";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { AwsChunkedDecoder } from "../../../local/s3/aws-chunked";
import { downloadPrefix, uploadFolder } from "../../../local/s3/folders";
import { startS3Server, type S3Server } from "../../../local/s3/server";
import { errorOf, localClientConfig } from "../aws-config";

const bucket = "batch-bridge-data-224c41e";

/** An `aws-chunked` body as the SDKs send a stream: chunks, a zero chunk, a CRC32 trailer. */
function awsChunked(parts: string[], crc32Base64: string): Buffer {
  const chunks = parts.map((part) => `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
  return Buffer.from(`${chunks.join("")}0\r\nx-amz-checksum-crc32:${crc32Base64}\r\n\r\n`);
}

async function decode(body: Buffer, expectedBytes: number): Promise<string> {
  const decoder = new AwsChunkedDecoder(expectedBytes);
  const out: Buffer[] = [];
  decoder.on("data", (chunk: Buffer) => out.push(chunk));
  await new Promise<void>((resolve, reject) => {
    decoder.on("end", resolve).on("error", reject);
    Readable.from([body.subarray(0, 7), body.subarray(7)]).pipe(decoder);
  });
  return Buffer.concat(out).toString("utf8");
}

describe("local S3 (the s3rver emulator behind our front)", function () {
  let server: S3Server;
  let s3: S3Client;

  beforeEach(async () => {
    server = await startS3Server({ buckets: [bucket] });
    // No forcePathStyle: an IP endpoint is addressed path-style by S3's own endpoint rules.
    s3 = new S3Client(localClientConfig(server.endpoint));
  });

  afterEach(async () => {
    s3.destroy();
    await server.stop();
  });

  it("holds the data bucket from the start and round-trips objects, keys with spaces included", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "input/a b.txt", Body: "hello" }));
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "input/a b.txt" }));
    expect(await object.Body!.transformToString()).to.equal("hello");
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "input/" }));
    expect(listed.Contents?.map((c) => c.Key)).to.deep.equal(["input/a b.txt"]);
  });

  it("stores a streamed upload, which the SDK sends aws-chunked with a CRC32 trailer", async () => {
    // Since @aws-sdk/client-s3 3.729 a stream body goes out as STREAMING-UNSIGNED-PAYLOAD-TRAILER.
    const body = Readable.from([Buffer.from("streamed "), Buffer.from("data")]);
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "output/s.txt", Body: body, ContentLength: 13 }),
    );
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "output/s.txt" }));
    expect(await object.Body!.transformToString()).to.equal("streamed data");
    expect(server.calls()).to.include({ PutObject: 1, GetObject: 1 });
  });

  it("answers NoSuchKey for a missing object and NoSuchBucket for another bucket", async () => {
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "nope" })))).name).to.equal(
      "NoSuchKey",
    );
    expect(
      (await errorOf(s3.send(new PutObjectCommand({ Bucket: "other", Key: "k", Body: "x" })))).name,
    ).to.equal("NoSuchBucket");
  });

  it("copies a folder in under a prefix and a prefix out to a folder, nested paths kept", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "s3-folders-"));
    try {
      await mkdir(path.join(root, "in", "shard-00001"), { recursive: true });
      await writeFile(path.join(root, "in", "a.txt"), "A");
      await writeFile(path.join(root, "in", "shard-00001", "b.txt"), "B");
      expect(await uploadFolder(s3, bucket, "input/", path.join(root, "in"))).to.equal(2);
      const keys = (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((c) => c.Key);
      expect(keys).to.deep.equal(["input/a.txt", "input/shard-00001/b.txt"]);
      expect(await downloadPrefix(s3, bucket, "input/", path.join(root, "out"))).to.equal(2);
      expect(await readFile(path.join(root, "out", "shard-00001", "b.txt"), "utf8")).to.equal("B");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("the aws-chunked decoder", () => {
  it("yields the data of every chunk, whatever the network's packet boundaries", async () => {
    // CRC32 of "hello world" is 0x0d4a1185.
    expect(await decode(awsChunked(["hello ", "world"], "DUoRhQ=="), 11)).to.equal("hello world");
  });

  it("fails on a CRC32 that does not match the data, and on a body shorter than announced", async () => {
    const wrongSum = await decode(awsChunked(["hello ", "world"], "AAAAAA=="), 11).then(String, String);
    expect(wrongSum).to.match(/CRC32 DUoRhQ== is not the announced AAAAAA==/);
    const short = await decode(awsChunked(["hello"], "NhCmhg=="), 11).then(String, String);
    expect(short).to.match(/ended after 5 of the 11 bytes/);
  });
});
