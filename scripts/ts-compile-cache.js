/**
 * The JavaScript of the project's TypeScript files, kept for the next process (see ts-register.js). A file
 * is compiled by ts-node in transpile-only mode, so the JavaScript is what `ts-node --transpile-only` and
 * Pulumi's ts-node make (the closures Pulumi serializes come from it), inline source map included. It is
 * kept under node_modules/.cache/<package>/ts by a digest of the file's path and text, tsconfig.json, the
 * TS_NODE_ settings and the versions of ts-node and TypeScript: a process that finds all its files there
 * never loads ts-node or TypeScript (more than half a second of CPU); a changed file is a new entry.
 */
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

/** The JavaScript of `code`, the text of the TypeScript file `fileName`. */
exports.compile = function compile(code, fileName) {
  const key = createHash("sha256").update(`${settings}\0${fileName}\0${code}`).digest("hex");
  const entry = path.join(cacheFolder, `${key}.json`);
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
