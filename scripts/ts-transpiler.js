/**
 * ts-node's transpiler in this project (see ts-register.js): TypeScript's own transpileModule with the
 * options ts-node gives it, so the JavaScript is what `ts-node --transpile-only` and Pulumi's ts-node make
 * (the closures Pulumi serializes come from it), kept under node_modules/.cache/<package>/ts by a digest
 * of the file's text and path, the compiler options and TypeScript's version. The processes of a run
 * (mocha's workers, npm run plan, npm start) compile each file once; a changed file is a new entry.
 */
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const packageName = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).name;
const cacheFolder = path.join(root, "node_modules", ".cache", packageName, "ts");

/** The transpiler factory ts-node calls (its `transpiler` option). */
exports.create = function create({ service }) {
  const ts = require(service.projectLocalResolveHelper("typescript", true));
  const compilerOptions = service.config.options;
  const optionsDigest = JSON.stringify([ts.version, compilerOptions]);
  return {
    transpile(input, { fileName }) {
      const key = createHash("sha256").update(`${optionsDigest}\0${fileName}\0${input}`).digest("hex");
      const file = path.join(cacheFolder, `${key}.json`);
      try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
      } catch {
        // Not compiled yet (or a write cut short): compile it.
      }
      const output = ts.transpileModule(input, { fileName, compilerOptions, reportDiagnostics: true });
      // A file that does not parse is reported by ts-node, and compiled again next time.
      if (output.diagnostics === undefined || output.diagnostics.length === 0) {
        keep(file, { outputText: output.outputText, sourceMapText: output.sourceMapText });
      }
      return output;
    },
  };
};

/** Writes aside and renames, so that another process never reads half an entry. */
function keep(file, output) {
  try {
    fs.mkdirSync(cacheFolder, { recursive: true });
    const written = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(written, JSON.stringify(output));
    fs.renameSync(written, file);
  } catch {
    // A cache that cannot be written only costs the next process the compile.
  }
}
