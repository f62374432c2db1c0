import { expect } from "chai";
import { execFile } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import { SourceMap, type SourceMapPayload } from "module";
import * as os from "os";
import * as path from "path";
import { create as createTsNode } from "ts-node";
import { promisify } from "util";
import { repoRoot } from "../../render/stack-files";

const cacheFolder = path.join(repoRoot, "node_modules", ".cache", "sagemaker-batch-bridge", "ts");
/** The project's compile, as ts-register.js runs it. */
import { compile, compiledByTsc } from "../../scripts/ts-compile-cache";
/**
 * ts-node's own transpile-only mode, as `ts-node --transpile-only` and Pulumi run it. Creating it installs
 * ts-node's stack-trace mapping, which knows only the files it compiled itself: the register hook's is put
 * back, so that later suites of this mocha worker keep traces at their TypeScript lines.
 */
function plainTsNode(): ReturnType<typeof createTsNode> {
  const mappedStackTrace = Error.prepareStackTrace;
  try {
    return createTsNode({ transpileOnly: true });
  } finally {
    Error.prepareStackTrace = mappedStackTrace;
  }
}

/** JavaScript without its inline source map. */
function withoutMap(javaScript: string): string {
  return javaScript.slice(0, javaScript.lastIndexOf("//# sourceMappingURL="));
}

function cacheEntries(): Set<string> {
  return new Set(fs.existsSync(cacheFolder) ? fs.readdirSync(cacheFolder) : []);
}

/**
 * Compiles `code` (which holds a text no other file holds) as `file`; returns the JavaScript and the cache
 * entry written for it, found by that text (other processes may be writing entries meanwhile).
 */
function compileKept(code: string, file: string, marker: string): { output: string; entry?: string } {
  const before = cacheEntries();
  const output = compile(code, file);
  const entry = [...cacheEntries()]
    .filter((name) => !before.has(name) && name.endsWith(".json"))
    .map((name) => path.join(cacheFolder, name))
    .find((entryFile) => fs.readFileSync(entryFile, "utf8").includes(marker));
  return { output, ...(entry ? { entry } : {}) };
}

describe("running TypeScript (scripts/ts-register.js)", () => {
  const written: string[] = [];
  after(() => written.forEach((file) => fs.rmSync(file, { force: true, recursive: true })));

  it("compiles to exactly what ts-node's transpile-only mode makes (the code Pulumi serializes)", () => {
    const mappedStackTrace = Error.prepareStackTrace;
    const plain = plainTsNode();
    expect(Error.prepareStackTrace, "the register hook's trace mapping").to.equal(mappedStackTrace);
    for (const file of [
      "functions/entrypoints.ts",
      "infra/functions.ts",
      "index.ts",
      "local/runner/run.ts",
    ]) {
      const full = path.join(repoRoot, file);
      const code = fs.readFileSync(full, "utf8");
      // The source maps may differ where ts-node and TypeScript 7 map a line the code does not have (the
      // exports' list, a parameter property): kept files may come from either (see ts-compile-cache.js).
      expect(withoutMap(compile(code, full)), file).to.equal(withoutMap(plain.compile(code, full)));
    }
  });

  it("compiles the project at once with TypeScript 7 to what ts-node makes, its source maps at the TypeScript lines", () => {
    const plain = plainTsNode();
    const throwing = path.join(repoRoot, "scripts", `thrown-${randomUUID()}.ts`);
    written.push(throwing);
    fs.writeFileSync(
      throwing,
      "interface Reason {\n  text: string;\n}\n\n\nexport function fail(reason: Reason): never {\n  throw new Error(reason.text);\n}\n",
    );
    const files = ["functions/entrypoints.ts", "infra/functions.ts", "index.ts", "local/runner/run.ts"].map(
      (file) => path.join(repoRoot, file),
    );
    const compiled = compiledByTsc(path.join(repoRoot, "node_modules", "typescript-7", "bin", "tsc"), [
      ...files,
      throwing,
    ]);
    for (const file of files) {
      const { code, javaScript } = compiled.get(file)!;
      expect(withoutMap(javaScript), file).to.equal(withoutMap(plain.compile(code, file)));
    }
    const { javaScript } = compiled.get(throwing)!;
    const inline = "//# sourceMappingURL=data:application/json;charset=utf-8;base64,";
    expect(javaScript, "the inline map as ts-register.js reads it").to.include(inline);
    const map = JSON.parse(Buffer.from(javaScript.split(inline)[1], "base64").toString()) as {
      sources: string[];
    };
    expect(map.sources).to.deep.equal([throwing]);
    const throwLine = javaScript.split("\n").findIndex((line) => line.includes("throw new Error"));
    const found = new SourceMap(map as unknown as SourceMapPayload).findEntry(throwLine, 4) as {
      originalLine: number;
    };
    expect(found.originalLine + 1, "the throw's TypeScript line").to.equal(7);
  });

  it("leaves a file that does not parse to ts-node, which reports its error where it is loaded", () => {
    const broken = path.join(repoRoot, "scripts", `broken-${randomUUID()}.ts`);
    written.push(broken);
    fs.writeFileSync(broken, "export const broken = (;\n");
    const parses = path.join(repoRoot, "scripts", "cli.ts");
    const compiled = compiledByTsc(path.join(repoRoot, "node_modules", "typescript-7", "bin", "tsc"), [
      broken,
      parses,
    ]);
    expect([...compiled.keys()]).to.deep.equal([parses]);
    expect(() => compile(fs.readFileSync(broken, "utf8"), broken)).to.throw(/Expression expected/);
  });

  it("keeps a compiled file for the next process and serves it from there", () => {
    const file = path.join(repoRoot, "scripts", `kept-${randomUUID()}.ts`);
    const marker = randomUUID();
    const code = `export const kept: string = "${marker}";\n`;
    const first = compileKept(code, file, marker);
    expect(first.entry, "a cache entry").to.not.equal(undefined);
    written.push(first.entry!);
    expect(first.output).to.include("exports.kept = ");
    // What another process finds there is what it runs: mark the entry, compile again.
    const entry = JSON.parse(fs.readFileSync(first.entry!, "utf8")) as { javaScript: string };
    fs.writeFileSync(first.entry!, JSON.stringify({ javaScript: `${entry.javaScript}// from the cache\n` }));
    expect(compile(code, file)).to.include("// from the cache");
  });

  it("compiles a changed file anew, never serving the JavaScript of its earlier text", () => {
    const file = path.join(repoRoot, "scripts", `changed-${randomUUID()}.ts`);
    const [one, two] = [randomUUID(), randomUUID()];
    const first = compileKept(`export const value = 1; // ${one}\n`, file, one);
    const changed = compileKept(`export const value = 2; // ${two}\n`, file, two);
    expect(first.entry, "the first text's entry").to.not.equal(undefined);
    written.push(...[first.entry, changed.entry].filter((e): e is string => e !== undefined));
    expect(changed.entry).to.not.equal(first.entry);
    expect(changed.output).to.include("exports.value = 2;");
  });

  it("compiles again over an entry that does not parse (a write cut short)", () => {
    const file = path.join(repoRoot, "scripts", `cut-${randomUUID()}.ts`);
    const marker = randomUUID();
    const code = `export const whole = true; // ${marker}\n`;
    const first = compileKept(code, file, marker);
    written.push(first.entry!);
    fs.writeFileSync(first.entry!, '{"javaScript": "exports.wh');
    expect(compile(code, file)).to.include("exports.whole = true;");
    expect(JSON.parse(fs.readFileSync(first.entry!, "utf8")).javaScript).to.include("exports.whole = true;");
  });

  it("points stack traces at the TypeScript lines, of files compiled in the process and files kept", async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "ts-register-"));
    written.push(folder);
    /** A file whose throw is on line 7 of the TypeScript: types and blank lines move it in the JavaScript. */
    const throwingFile = (name: string) => {
      const file = path.join(folder, name);
      fs.writeFileSync(
        file,
        "interface Reason {\n  text: string;\n}\n\n\nexport function fail(reason: Reason): never {\n" +
          `  throw new Error(reason.text);\n}\n// ${randomUUID()}\n`,
      );
      return file;
    };
    const [kept, compiledNow] = [throwingFile("kept.ts"), throwingFile("compiled-now.ts")];
    compile(fs.readFileSync(kept, "utf8"), kept);
    // One process loads the kept file, then compiles new files (ts-node is created only then).
    const traceOf = (file: string) =>
      `{ const { fail } = require(${JSON.stringify(file)});` +
      " try { fail({ text: 'mapped' }); } catch (error) { console.log(error.stack.split('\\n')[1]); } }";
    const script = [traceOf(kept), traceOf(compiledNow), traceOf(kept)].join("\n");
    const run = promisify(execFile)(process.execPath, ["-r", "./scripts/ts-register.js", "-e", script], {
      cwd: repoRoot,
    });
    const [keptLine, compiledLine, keptAfterCompile] = (await run).stdout
      .split("\n")
      .map((line) => line.trim());
    expect(keptLine, "kept").to.equal(`at fail (${kept}:7:9)`);
    expect(compiledLine, "compiled in the process").to.equal(`at fail (${compiledNow}:7:9)`);
    expect(keptAfterCompile, "kept, after ts-node was created").to.equal(`at fail (${kept}:7:9)`);
  });

  it("runs a script whose files are all kept without loading ts-node or TypeScript", async () => {
    const loadedCompilers =
      "require('./scripts/check.ts'); console.log(Object.keys(require.cache)" +
      ".filter((file) => /[/\\\\]node_modules[/\\\\](ts-node|typescript)[/\\\\]/.test(file)).length)";
    const run = async () =>
      (
        await promisify(execFile)(
          process.execPath,
          ["-r", "./scripts/ts-register.js", "-e", loadedCompilers],
          {
            cwd: repoRoot,
          },
        )
      ).stdout.trim();
    // npm test's own process has kept check.ts's files; on a cold cache the first run keeps them.
    const first = await run();
    expect(first === "0" ? first : await run()).to.equal("0");
  });
});
