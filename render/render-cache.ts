/**
 * Renders kept on disk, so that every process of a run (mocha's workers, `npm run plan`, `npm start`)
 * renders a stack config once. An entry is found by a digest of everything a render reads: the program's
 * sources (index.ts, infra/, functions/ whose code the closures carry, render/), the project and package
 * files, the installed packages as npm recorded them, Node.js's version, the working folder, and the
 * resolved config. Change any of them and the digest changes: a render is never served from older files.
 * A process making a render holds a claim on it, so that the others that want it meanwhile wait for its
 * entry: each render is made once per run, however many workers ask for it at the same time.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
// Node's own timers: a local execution replaces the global ones with simulated time.
import { setTimeout as sleep } from "timers/promises";

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

/** The file a process holds while it makes the render stored in `renderFile` (its process ID inside). */
export function claimFileOf(renderFile: string): string {
  return renderFile.replace(/\.json$/, ".claim");
}

/** Wall ms between two looks at a render another process is making. */
const claimPollMs = 100;

/**
 * Claims the render stored under `key` for this process, so that the processes of one run (mocha's
 * workers) that want the same render at once make it once: true when this process is to make it, false
 * when another live process holds the claim (`awaitClaimedRender` waits for its entry). The claim of a
 * process that has exited is taken over; where no claim can be written, every process renders.
 */
export function claimRender(root: string, key: string): boolean {
  const claim = claimFileOf(cachedRenderFile(root, key));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.mkdirSync(path.dirname(claim), { recursive: true });
      fs.writeFileSync(claim, String(process.pid), { flag: "wx" });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return true;
      if (claimHolderLives(claim)) return false;
      fs.rmSync(claim, { force: true });
    }
  }
  return true;
}

/** Gives up this process's claim on the render under `key` (made or failed). */
export function releaseRender(root: string, key: string): void {
  const claim = claimFileOf(cachedRenderFile(root, key));
  if (readClaimHolder(claim) === process.pid) fs.rmSync(claim, { force: true });
}

/**
 * Waits while another process holds the claim on the render under `key`; resolves with its entry, or
 * undefined when the claim ended without one (that process failed or exited).
 */
export async function awaitClaimedRender(root: string, key: string): Promise<string | undefined> {
  const claim = claimFileOf(cachedRenderFile(root, key));
  for (;;) {
    const text = readCachedRender(root, key);
    if (text !== undefined || !claimHolderLives(claim)) return text ?? readCachedRender(root, key);
    await sleep(claimPollMs);
  }
}

function readClaimHolder(claim: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(claim, "utf8"));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process named in `claim` still runs (a claim being written counts as held). */
function claimHolderLives(claim: string): boolean {
  if (!fs.existsSync(claim)) return false;
  const pid = readClaimHolder(claim);
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
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
