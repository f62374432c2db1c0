/**
 * An example shard worker for sagemaker-batch-bridge: counts the lines, words and characters of the text
 * objects of its shard and writes one `<input key>.counts.json` per object under the output URI.
 *
 * Records (the records API's batches, docs/step-contract.md "Records: the worker contract"): a shard file of
 * JSON lines `{"job_id", "record"}` gets one `<input key>.results.jsonl` with a line per record,
 * `{"job_id", "result": {lines, words, characters}}` for a record that is text (or `{"text": ...}`), else
 * `{"job_id", "error": "..."}`. A bad record fails that record only, not the job.
 *
 *   node worker.mjs <inputUri> <outputUri>      (the job's command: ["Ref::inputUri", "Ref::outputUri"])
 *
 * Its shard, in either submit mode (docs/step-contract.md, "How a container finds its shard"):
 * - array mode: every child gets the whole input URI; child AWS_BATCH_JOB_ARRAY_INDEX of BRIDGE_SHARD_COUNT
 *   takes the objects whose position in the sorted listing is its index modulo the count;
 * - jobs mode (and an array of one): the input URI is the job's own (`.../shard-00003/`); it takes all of it.
 *
 * Exit codes: 0 done, 64 bad arguments or environment, 65 an input object is not UTF-8 text, 1 anything
 * else (an S3 error). Any non-zero code fails the job, and the bridge names the shard and the code.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import process from "node:process";
import { TextDecoder } from "node:util";

class WorkerError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `s3://bucket/prefix/` -> { bucket, prefix } (the prefix ends with "/" unless empty). */
function parseS3Uri(uri, name) {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri ?? "");
  if (!match) throw new WorkerError(`${name} must be an s3:// URI, got ${JSON.stringify(uri)}`, 64);
  const prefix = match[2] === "" || match[2].endsWith("/") ? match[2] : `${match[2]}/`;
  return { bucket: match[1], prefix };
}

/** This container's shard: which share of the listed objects it takes. */
function shardOf(env) {
  const count = Number(env.BRIDGE_SHARD_COUNT);
  if (!Number.isInteger(count) || count < 1) {
    throw new WorkerError(
      `BRIDGE_SHARD_COUNT must be a whole number >= 1, got ${env.BRIDGE_SHARD_COUNT}`,
      64,
    );
  }
  if (env.AWS_BATCH_JOB_ARRAY_INDEX !== undefined) {
    return {
      index: Number(env.AWS_BATCH_JOB_ARRAY_INDEX),
      count,
      takes: (position) => position % count === Number(env.AWS_BATCH_JOB_ARRAY_INDEX),
    };
  }
  if (env.BRIDGE_SHARD_INDEX === undefined) {
    throw new WorkerError(
      "neither AWS_BATCH_JOB_ARRAY_INDEX nor BRIDGE_SHARD_INDEX is set: not run by the bridge?",
      64,
    );
  }
  return { index: Number(env.BRIDGE_SHARD_INDEX), count, takes: () => true };
}

async function listKeys(s3, { bucket, prefix }) {
  const keys = [];
  let token;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (!object.Key.endsWith("/")) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

function counts(key, bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new WorkerError(`${key} is not UTF-8 text`, 65);
  }
  if (text.includes("\u0000")) throw new WorkerError(`${key} is not UTF-8 text (it holds a NUL byte)`, 65);
  return textCounts(text);
}

function textCounts(text) {
  const words = text.split(/\s+/).filter((word) => word !== "").length;
  const lines = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  return { lines, words, characters: [...text].length };
}

/** The records of a shard file (every line `{"job_id", "record"}`), or undefined for any other object. */
function shardRecords(text) {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const records = [];
  for (const line of lines) {
    let parsed;
    try {
      parsed = JSON.parse(line);
    } catch {
      return undefined;
    }
    if (typeof parsed?.job_id !== "string" || !("record" in parsed)) return undefined;
    records.push(parsed);
  }
  return records.length > 0 ? records : undefined;
}

/** A record's result line: the counts of its text, or why it has none. */
function resultLine({ job_id, record }) {
  const text =
    typeof record === "string" ? record : typeof record?.text === "string" ? record.text : undefined;
  if (text === undefined) {
    return {
      job_id,
      error: `the record must be text or {"text": "..."}, got ${JSON.stringify(record)}`.slice(0, 300),
    };
  }
  return { job_id, result: textCounts(text) };
}

async function main(args, env) {
  if (args.length !== 2) throw new WorkerError("usage: worker.mjs <inputUri> <outputUri>", 64);
  const input = parseS3Uri(args[0], "inputUri");
  const output = parseS3Uri(args[1], "outputUri");
  const shard = shardOf(env);
  // Region and endpoint come from the environment (AWS_REGION; AWS_ENDPOINT_URL_S3 in local mode).
  const s3 = new S3Client({});
  const mine = (await listKeys(s3, input)).filter((_key, position) => shard.takes(position));
  for (const key of mine) {
    const object = await s3.send(new GetObjectCommand({ Bucket: input.bucket, Key: key }));
    const bytes = await object.Body.transformToByteArray();
    const records = key.endsWith(".jsonl") ? shardRecords(new TextDecoder().decode(bytes)) : undefined;
    if (records) {
      await s3.send(
        new PutObjectCommand({
          Bucket: output.bucket,
          Key: `${output.prefix}${key.slice(input.prefix.length)}.results.jsonl`,
          Body: records.map((record) => `${JSON.stringify(resultLine(record))}\n`).join(""),
          ContentType: "application/x-ndjson",
        }),
      );
      continue;
    }
    const result = {
      input: `s3://${input.bucket}/${key}`,
      shard: shard.index,
      ...counts(key, bytes),
    };
    const outputKey = `${output.prefix}${key.slice(input.prefix.length)}.counts.json`;
    await s3.send(
      new PutObjectCommand({
        Bucket: output.bucket,
        Key: outputKey,
        Body: `${JSON.stringify(result)}\n`,
        ContentType: "application/json",
      }),
    );
  }
  process.stdout.write(`shard ${shard.index} of ${shard.count}: ${mine.length} object(s) counted\n`);
}

main(process.argv.slice(2), process.env).catch((error) => {
  process.stderr.write(`worker failed: ${error.message}\n`);
  process.exitCode = error instanceof WorkerError ? error.exitCode : 1;
});
