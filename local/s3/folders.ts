/**
 * Local folders in and out of S3: a folder uploaded under a prefix (the input a run starts with), and a
 * prefix downloaded to a folder (the output a run leaves for a person to read). Keys mirror the folder's
 * relative paths, with `/` as the separator.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";

/** Uploads every file under `folder` to `s3://bucket/<prefix><relative path>`; returns how many. */
export async function uploadFolder(
  s3: S3Client,
  bucket: string,
  prefix: string,
  folder: string,
): Promise<number> {
  let count = 0;
  for (const file of await filesUnder(folder)) {
    const key = prefix + path.relative(folder, file).split(path.sep).join("/");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
    count += 1;
  }
  return count;
}

/** Downloads every object under `s3://bucket/<prefix>` to `folder`, keys relative to the prefix; returns how many. */
export async function downloadPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string,
  folder: string,
): Promise<number> {
  let count = 0;
  let continuationToken: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: continuationToken }),
    );
    for (const { Key: key } of page.Contents ?? []) {
      if (key === undefined || key.endsWith("/")) continue;
      const target = path.join(folder, ...key.slice(prefix.length).split("/"));
      // A key such as `../x` must not write outside the folder.
      if (path.relative(folder, target).startsWith("..")) continue;
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, await object.Body!.transformToByteArray());
      count += 1;
    }
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
  return count;
}

/** Every file under `folder`, sorted. */
async function filesUnder(folder: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(full)));
    else if (entry.isFile()) files.push(full);
  }
  return files.sort();
}
