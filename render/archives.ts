/**
 * The assets and archives a program registers: read as plain JSON for the record, and zipped as Pulumi
 * would upload them (a function's serialized closure is loaded by load-handler.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ZipFile } from "yazl";
import type { RenderedFunction, RenderedResource } from "./rendered-stack";

/** Inputs as plain JSON: assets and archives replaced by what they hold. */
export async function plainValue(value: unknown): Promise<unknown> {
  if (pulumi.asset.Archive.isInstance(value)) {
    const entries = await archiveEntries(value);
    return { archive: entries.map((e) => e.name) };
  }
  if (pulumi.asset.Asset.isInstance(value)) {
    return { asset: await assetDescription(value) };
  }
  if (Array.isArray(value)) return Promise.all((value as unknown[]).map(plainValue));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await plainValue(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

async function assetDescription(asset: pulumi.asset.Asset): Promise<string> {
  const fields = asset as unknown as {
    path?: Promise<string>;
    text?: Promise<string>;
    uri?: Promise<string>;
  };
  if (fields.text !== undefined) return `text (${(await fields.text).length} characters)`;
  if (fields.path !== undefined) return `file ${await fields.path}`;
  return `uri ${await fields.uri}`;
}

interface ArchiveEntry {
  name: string;
  text?: string;
  file?: string;
}

/** The top-level entries of an archive: `__index.js` and one folder per package. */
async function archiveEntries(archive: pulumi.asset.Archive): Promise<ArchiveEntry[]> {
  const fields = archive as unknown as {
    assets?: Promise<Record<string, pulumi.asset.Asset | pulumi.asset.Archive>>;
    path?: Promise<string>;
  };
  if (fields.assets === undefined) return [{ name: `archive ${await fields.path}` }];
  const assets = await fields.assets;
  const entries: ArchiveEntry[] = [];
  for (const name of Object.keys(assets).sort()) {
    const item = assets[name] as unknown as { text?: Promise<string>; path?: Promise<string> };
    if (item.text !== undefined) entries.push({ name, text: await item.text });
    else if (item.path !== undefined) entries.push({ name, file: await item.path });
  }
  return entries;
}

interface ZippedArchive {
  indexJs: string;
  files: string[];
  archiveBytes: number;
}

/** Archives already zipped in this process, by content: the same closure and packages zip the same. */
const zippedArchives = new Map<string, ZippedArchive>();

/** The archive zipped in memory (deflate, through Node's zlib), as Pulumi would upload it. */
async function zipArchive(code: unknown, root: string): Promise<ZippedArchive> {
  const entries = pulumi.asset.Archive.isInstance(code) ? await archiveEntries(code) : [];
  const key = createHash("sha256")
    .update(JSON.stringify([root, entries]))
    .digest("hex");
  const cached = zippedArchives.get(key);
  if (cached) return cached;
  const zip = new ZipFile();
  const files: string[] = [];
  const add = (name: string, bytes: Buffer) => {
    zip.addBuffer(bytes, name, { compress: true, mtime: archiveTime });
    files.push(name);
  };
  for (const entry of entries) {
    if (entry.text !== undefined) add(entry.name, Buffer.from(entry.text));
    else if (entry.file !== undefined) addPath(add, entry.name, path.resolve(root, entry.file));
  }
  zip.end();
  let archiveBytes = 0;
  for await (const chunk of zip.outputStream) archiveBytes += (chunk as Buffer).byteLength;
  const zipped = {
    indexJs: entries.find((e) => e.name === "__index.js")?.text ?? "",
    files: files.sort(),
    archiveBytes,
  };
  zippedArchives.set(key, zipped);
  return zipped;
}

/** Every entry's time: an archive's size does not depend on when it is made. */
const archiveTime = new Date(Date.UTC(2020, 0, 1));

/** A function's settings and archive. */
export async function renderFunction(
  resource: RenderedResource,
  code: unknown,
  root: string,
): Promise<RenderedFunction> {
  const { indexJs, files, archiveBytes } = await zipArchive(code, root);
  const inputs = resource.inputs as {
    name?: string;
    runtime?: string;
    handler?: string;
    environment?: { variables?: Record<string, string> };
  };
  return {
    name: resource.name,
    functionName: String(resource.state.name ?? inputs.name ?? resource.name),
    runtime: String(inputs.runtime),
    handler: String(inputs.handler),
    environment: inputs.environment?.variables ?? {},
    files,
    archiveBytes,
    indexJs,
  };
}

function addPath(add: (name: string, bytes: Buffer) => void, name: string, file: string): void {
  const stat = fs.statSync(file);
  if (stat.isDirectory()) {
    for (const child of fs.readdirSync(file).sort()) addPath(add, `${name}/${child}`, path.join(file, child));
  } else {
    add(name, fs.readFileSync(file));
  }
}
