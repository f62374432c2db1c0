/**
 * How this project runs TypeScript (`node -r ./scripts/ts-register.js file.ts`, the npm scripts, mocha):
 * each .ts file runs as ts-node's transpile-only mode compiles it (`npm run typecheck` checks the types),
 * through ts-compile-cache.js, which keeps each compiled file for the next process. Stack traces point at
 * the .ts lines, as under ts-node, through each file's inline source map, read when a trace needs it.
 */
const fs = require("node:fs");
const { SourceMap } = require("node:module");
const path = require("node:path");
const { compile } = require("./ts-compile-cache.js");

/** Each loaded file's inline source map: its base64 text until a stack trace needs it parsed. */
const sourceMaps = new Map();
const inlineMapPrefix = "//# sourceMappingURL=data:application/json;charset=utf-8;base64,";

const loadJavaScript = require.extensions[".js"];
require.extensions[".ts"] = function loadTypeScript(loaded, fileName) {
  // As ts-node does, packages' own files are not compiled.
  if (fileName.split(path.sep).includes("node_modules")) return loadJavaScript(loaded, fileName);
  const javaScript = compile(fs.readFileSync(fileName, "utf8"), fileName);
  const mapAt = javaScript.lastIndexOf(inlineMapPrefix);
  if (mapAt >= 0) sourceMaps.set(fileName, javaScript.slice(mapAt + inlineMapPrefix.length).trimEnd());
  loaded._compile(javaScript, fileName);
};

function sourceMapOf(fileName) {
  const known = sourceMaps.get(fileName);
  if (typeof known !== "string") return known;
  const parsed = new SourceMap(JSON.parse(Buffer.from(known, "base64").toString("utf8")));
  sourceMaps.set(fileName, parsed);
  return parsed;
}

/** V8's own line for a call, at the TypeScript line and column when the call is in a .ts file. */
function frameText(site) {
  const text = site.toString();
  const fileName = site.getFileName();
  const map = fileName && sourceMaps.has(fileName) ? sourceMapOf(fileName) : undefined;
  const [line, column] = [site.getLineNumber(), site.getColumnNumber()];
  const found = map?.findEntry(line - 1, column - 1);
  if (found?.originalLine === undefined) return text;
  const original = `${fileName}:${found.originalLine + 1}:${found.originalColumn + 1}`;
  return text.replace(`${fileName}:${line}:${column}`, original);
}

Error.prepareStackTrace = function mappedStackTrace(error, callSites) {
  let heading;
  try {
    heading = Error.prototype.toString.call(error);
  } catch {
    heading = "<error>";
  }
  return heading + callSites.map((site) => `\n    at ${frameText(site)}`).join("");
};
