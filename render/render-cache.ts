/**
 * Renders kept on disk, so that every process of a run (mocha's workers, `npm run plan`, `npm start`)
 * renders a stack config once. An entry is found by a digest of everything a render reads: the program's
 * sources (index.ts, infra/, functions/ whose code the closures carry, render/), the project and package
 * files, the installed packages as npm recorded them, Node.js's version, the working folder, and the
 * resolved config. Change any of them and the digest changes: a render is never served from older files.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Where this project keeps its caches: with the dependencies, so that `npm ci` starts them afresh. */
export function cacheFolder(root: string): string {
  return path.join(root, "node_modules", ".cache", "sagemaker-batch-bridge");
}

/** Folders whose files a render runs or serializes into a closure (none imports from elsewhere). */
export const renderedSourceFolders = ["infra", "functions", "render"];

/**
 * Files outside those folders that a render reads: the program, the project (name and config
 * declarations), the dependencies an archive holds, how TypeScript is compiled, and what npm installed.
 */
export const renderedProjectFiles = [
  "index.ts",
  "Pulumi.yaml",
  "package.json",
  "tsconfig.json",
  path.join("node_modules", ".package-lock.json"),
];

/** Entries kept: a full test run writes about 20; older ones go first. */
const maxEntries = 100;

/** The files a render reads under `root` (relative paths, sorted): what its digest covers. */
export function renderedSourceFiles(root: string): string[] {
  return [...renderedProjectFiles, ...renderedSourceFolders.flatMap((f) => filesUnder(root, f))].sort();
}

/** The digest of the files a render reads under `root`, by content. */
export function sourcesDigest(root: string): string {
  const hash = createHash("sha256");
  for (const file of renderedSourceFiles(root)) {
    const full = path.join(root, file);
    hash.update(`${file}\0`);
    hash.update(fs.existsSync(full) ? fs.readFileSync(full) : "(none)");
    hash.update("\0");
  }
  return hash.digest("hex");
}

function filesUnder(root: string, folder: string): string[] {
  const full = path.join(root, folder);
  if (!fs.existsSync(full)) return [];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(folder, entry.name);
    return entry.isDirectory() ? filesUnder(root, file) : entry.isFile() ? [file] : [];
  });
}

/** The key of a render: the sources' digest, the runtime and what the render was asked for. */
export function renderKey(root: string, sources: string, request: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify([sources, process.version, process.cwd(), root, request]))
    .digest("hex");
}

/** The file that holds the render stored under `key`. */
export function cachedRenderFile(root: string, key: string): string {
  return path.join(cacheFolder(root), "renders", `${key}.json`);
}

/** The render stored under `key` (its JSON text), or undefined if there is none or it does not parse. */
export function readCachedRender(root: string, key: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(cachedRenderFile(root, key), "utf8");
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return text;
}

/** Stores a render's JSON text under `key`; a reader never sees half a file (written aside, then renamed). */
export function writeCachedRender(root: string, key: string, text: string): void {
  const file = cachedRenderFile(root, key);
  const folder = path.dirname(file);
  try {
    fs.mkdirSync(folder, { recursive: true });
    const written = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(written, text);
    fs.renameSync(written, file);
    pruneEntries(folder);
  } catch {
    // A cache that cannot be written (read-only node_modules) only costs the next render its time.
  }
}

function pruneEntries(folder: string): void {
  const entries = fs
    .readdirSync(folder)
    .filter((name) => name.endsWith(".json"))
    .map((name) => ({ file: path.join(folder, name), time: fs.statSync(path.join(folder, name)).mtimeMs }))
    .sort((a, b) => b.time - a.time);
  for (const { file } of entries.slice(maxEntries)) fs.rmSync(file, { force: true });
}
