/** The S3 calls the record functions make: URIs taken apart, prefixes listed, text objects read and written. */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

/** `s3://bucket/some/key` -> `{bucket, key}`; undefined for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/.exec(uri);
  return match ? { bucket: match[1], key: match[2] } : undefined;
}

/** Every key under `s3://bucket/prefix`, sorted (ListObjectsV2, 1,000 a page). */
export async function listKeys(s3: S3Client, uri: string): Promise<string[]> {
  const { bucket, key: prefix } = requireS3Uri(uri);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? [])
      if (object.Key && !object.Key.endsWith("/")) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** An object's content as UTF-8 text. */
export async function readText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await object.Body?.transformToString("utf-8")) ?? "";
}

/** Writes a text object at `s3://bucket/key`. */
export async function writeText(s3: S3Client, uri: string, body: string, contentType: string): Promise<void> {
  const { bucket, key } = requireS3Uri(uri);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}

function requireS3Uri(uri: string): { bucket: string; key: string } {
  const parsed = parseS3Uri(uri);
  if (!parsed) throw new Error(`${JSON.stringify(uri)} is not an s3://bucket/key URI`);
  return parsed;
}

/** JSON Lines: one JSON value per non-empty line; `undefined` for a line that is not JSON. */
export function jsonLines(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return undefined;
      }
    });
}
