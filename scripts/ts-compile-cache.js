/**
 * The JavaScript of the project's TypeScript files, kept for the next process (see ts-register.js). A file
 * is compiled by ts-node in transpile-only mode, so the JavaScript is what `ts-node --transpile-only` and
 * Pulumi's ts-node make (the closures Pulumi serializes come from it), inline source map included. It is
 * kept under node_modules/.cache/<package>/ts by a digest of the file's path and text, tsconfig.json, the
 * TS_NODE_ settings and the versions of ts-node and TypeScript: a process that finds all its files there
 * never loads ts-node or TypeScript (more than half a second of CPU); a changed file is a new entry.
 *
 * `compileProject` fills the cache for every file of the project at once, through TypeScript 7's native
 * compiler: its JavaScript is the same, byte for byte, as ts-node's (a test compares them), for a tenth of
 * the CPU, and once rather than in each of the processes that a run starts together.
 */
const { spawnSync } = require("node:child_process");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const readText = (file) => fs.readFileSync(path.join(root, file), "utf8");
const packageName = JSON.parse(readText("package.json")).name;
const cacheFolder = path.join(root, "node_modules", ".cache", packageName, "ts");

/** What decides the JavaScript besides the file itself. */
const settings = JSON.stringify([
  ...["ts-node", "typescript"].map(
    (name) => JSON.parse(readText(`node_modules/${name}/package.json`)).version,
  ),
  readText("tsconfig.json"),
  Object.entries(process.env)
    .filter(([name]) => name.startsWith("TS_NODE_"))
    .sort(),
]);

/** ts-node, created for the first file not kept. */
let tsNode;

/** Where the JavaScript of `code`, the text of the TypeScript file `fileName`, is kept. */
function entryOf(code, fileName) {
  const key = createHash("sha256").update(`${settings}\0${fileName}\0${code}`).digest("hex");
  return path.join(cacheFolder, `${key}.json`);
}

/** The JavaScript of `code`, the text of the TypeScript file `fileName`. */
exports.compile = function compile(code, fileName) {
  const entry = entryOf(code, fileName);
  try {
    const kept = JSON.parse(fs.readFileSync(entry, "utf8"));
    if (typeof kept.javaScript === "string") return kept.javaScript;
  } catch {
    // Not compiled yet (or a write cut short): compile it.
  }
  tsNode ??= createTsNode();
  // A file that does not parse throws ts-node's error, and is compiled again next time.
  const javaScript = tsNode.compile(code, fileName);
  keep(entry, { javaScript });
  return javaScript;
};

function createTsNode() {
  // ts-node installs its own stack-trace mapping, which knows only the files it compiled itself: keep the
  // register hook's, which maps every file it loaded, compiled now or kept.
  const mappedStackTrace = Error.prepareStackTrace;
  const created = require("ts-node").create({ transpileOnly: true, projectSearchDir: root });
  Error.prepareStackTrace = mappedStackTrace;
  return created;
}

/** Writes aside and renames, so that another process never reads half an entry. */
function keep(file, entry) {
  try {
    fs.mkdirSync(cacheFolder, { recursive: true });
    const written = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(written, JSON.stringify(entry));
    fs.renameSync(written, file);
  } catch {
    // A cache that cannot be written only costs the next process the compile.
  }
}

/** The TypeScript files the type check reads (absolute paths), as tsconfig.json's `include` lists them. */
exports.typeCheckedFiles = function typeCheckedFiles() {
  const { include } = JSON.parse(readText("tsconfig.json"));
  const walk = (folder) =>
    fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) return walk(full);
      return entry.name.endsWith(".ts") ? [full] : [];
    });
  return include.flatMap((pattern) =>
    pattern.endsWith("/**/*.ts")
      ? walk(path.join(root, pattern.slice(0, -"/**/*.ts".length)))
      : [path.join(root, pattern)],
  );
};

/**
 * Compiles the project's files not kept yet with TypeScript 7's compiler at `tsc` and keeps those that
 * parse; returns how many it kept. Nothing runs when every file is kept already.
 */
exports.compileProject = function compileProject(tsc) {
  const missing = exports
    .typeCheckedFiles()
    .filter(
      (file) => !file.endsWith(".d.ts") && !fs.existsSync(entryOf(fs.readFileSync(file, "utf8"), file)),
    );
  const compiled = exports.compiledByTsc(tsc, missing);
  for (const [file, { code, javaScript }] of compiled) keep(entryOf(code, file), { javaScript });
  return compiled.size;
};

/**
 * The JavaScript of `files` (absolute paths) as TypeScript 7's compiler at `tsc` emits it with the project's
 * settings (no type check, each file alone as ts-node's transpile-only mode compiles it), its source map
 * inline as ts-node writes it; by file, with the TypeScript it was compiled from.
 */
exports.compiledByTsc = function compiledByTsc(tsc, files) {
  const compiled = new Map();
  if (files.length === 0) return compiled;
  // Beside the cache, under the project: the compiler finds the type packages the settings name from there.
  fs.mkdirSync(cacheFolder, { recursive: true });
  const folder = fs.mkdtempSync(path.join(cacheFolder, "..", "tsc-"));
  try {
    const project = path.join(folder, "tsconfig.json");
    const outDir = path.join(folder, "out");
    const compilerOptions = {
      noEmit: false,
      noCheck: true,
      noResolve: true,
      inlineSourceMap: true,
      outDir,
      rootDir: root,
    };
    const extended = { extends: path.join(root, "tsconfig.json"), compilerOptions, files, include: [] };
    fs.writeFileSync(project, JSON.stringify(extended));
    const ran = spawnSync(tsc, ["-p", project, "--pretty", "false"], { cwd: root, encoding: "utf8" });
    // A file that does not parse is left out: ts-node reports its error where it is loaded, rather than
    // the JavaScript tsc recovers from it running. So is every file when the compiler cannot run.
    const failed = new Set(
      [...(ran.stdout ?? "").matchAll(/^(.+?)\(\d+,\d+\): error /gm)].map((match) =>
        path.resolve(root, match[1]),
      ),
    );
    for (const file of files) {
      const emitted = path.join(outDir, path.relative(root, file).replace(/\.ts$/, ".js"));
      if (failed.has(file) || !fs.existsSync(emitted)) continue;
      const code = fs.readFileSync(file, "utf8");
      compiled.set(file, { code, javaScript: withSourceMapOf(fs.readFileSync(emitted, "utf8"), file, code) });
    }
    return compiled;
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
};

/** `javaScript` with its inline source map naming the TypeScript file and holding its text, as ts-node's. */
function withSourceMapOf(javaScript, fileName, code) {
  const at = javaScript.lastIndexOf(emittedMapPrefix);
  const map = JSON.parse(
    Buffer.from(javaScript.slice(at + emittedMapPrefix.length).trim(), "base64").toString(),
  );
  const { version, names, mappings } = map;
  const rewritten = { version, file: fileName, sources: [fileName], names, mappings, sourcesContent: [code] };
  return `${javaScript.slice(0, at)}${keptMapPrefix}${Buffer.from(JSON.stringify(rewritten)).toString("base64")}`;
}

/** How tsc and ts-node (whose form ts-register.js reads) begin an inline source map. */
const emittedMapPrefix = "//# sourceMappingURL=data:application/json;base64,";
const keptMapPrefix = "//# sourceMappingURL=data:application/json;charset=utf-8;base64,";
