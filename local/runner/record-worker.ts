/**
 * The local default job of a records run: a container runtime, in this process and in simulated time, whose
 * every attempt runs as long as the scenario's job duration and then does what a worker honouring the
 * record contract does (docs/step-contract.md, "Records: the worker contract"): it reads its shard's JSON
 * Lines file from local S3 and writes a result line per record (the record's text counts) under its output
 * URI, or an error line for a record the scenario fails. Its shard, as a container finds it: jobs mode and
 * an array of one read everything under their input URI; array children take the file at their index of
 * the sorted listing.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ContainerExit, ContainerLaunch, ContainerRuntime, RunningContainer } from "../batch/scenario";
import type { SimClock } from "../time/clock";
import type { Track } from "./event-sources";

export interface RecordWorkerOptions {
  clock: SimClock;
  s3: S3Client;
  /** How long an attempt runs before it has written its results. */
  durationMs: number;
  /** The error a record gets instead of a result, or undefined. */
  failureOf(jobId: string): string | undefined;
  track: Track;
}

/** The result the local job gives a record: its text's counts (as the example worker's). */
export function recordResult(record: unknown): { lines: number; words: number; characters: number } {
  const text =
    typeof record === "string"
      ? record
      : typeof (record as { text?: unknown } | null)?.text === "string"
        ? (record as { text: string }).text
        : JSON.stringify(record);
  const words = text.split(/\s+/).filter((word) => word !== "").length;
  const lines = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  return { lines, words, characters: [...text].length };
}

export class RecordWorkerRuntime implements ContainerRuntime {
  /** Records read and result lines written, over all attempts. */
  readonly written = { records: 0, errors: 0 };

  constructor(private readonly options: RecordWorkerOptions) {}

  start(launch: ContainerLaunch, onExit: (exit: ContainerExit) => void): RunningContainer {
    const { clock, track } = this.options;
    const timer = clock.setTimeout(() => {
      track(
        this.work(launch).then(
          () => onExit({ exitCode: 0 }),
          (error: unknown) => onExit({ exitCode: 1, reason: `worker failed: ${(error as Error).message}` }),
        ),
      );
    }, this.options.durationMs);
    // A stopped attempt writes nothing; Batch has ended it already.
    return { stop: () => clock.clearTimeout(timer) };
  }

  private async work(launch: ContainerLaunch): Promise<void> {
    const [inputUri, outputUri] = launch.command.filter((argument) => argument.startsWith("s3://"));
    if (!inputUri || !outputUri) {
      throw new Error(
        `the job's command holds no input and output s3:// URIs: ${JSON.stringify(launch.command)}`,
      );
    }
    const input = parse(inputUri);
    const output = parse(outputUri);
    const { s3 } = this.options;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: input.bucket, Prefix: input.prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    keys.sort();
    const index = launch.environment.AWS_BATCH_JOB_ARRAY_INDEX;
    const mine = index === undefined ? keys : keys.filter((_, position) => position === Number(index));
    for (const key of mine) {
      const object = await s3.send(new GetObjectCommand({ Bucket: input.bucket, Key: key }));
      const text = (await object.Body?.transformToString("utf-8")) ?? "";
      const lines = text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as { job_id: string; record: unknown })
        .map(({ job_id, record }) => {
          const error = this.options.failureOf(job_id);
          this.written.records += 1;
          if (error !== undefined) this.written.errors += 1;
          return JSON.stringify(
            error !== undefined ? { job_id, error } : { job_id, result: recordResult(record) },
          );
        });
      await s3.send(
        new PutObjectCommand({
          Bucket: output.bucket,
          Key: `${output.prefix}${key.slice(input.prefix.length)}.results.jsonl`,
          Body: lines.map((line) => `${line}\n`).join(""),
        }),
      );
    }
  }
}

function parse(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri)!;
  const prefix = match[2] === "" || match[2].endsWith("/") ? match[2] : `${match[2]}/`;
  return { bucket: match[1], prefix };
}
