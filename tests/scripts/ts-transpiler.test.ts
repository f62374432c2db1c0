import { expect } from "chai";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { create as createTsNode } from "ts-node";
import { repoRoot } from "../../render/stack-files";

const transpilerModule = path.join(repoRoot, "scripts", "ts-transpiler.js");
const cacheFolder = path.join(repoRoot, "node_modules", ".cache", "sagemaker-batch-bridge", "ts");

/** ts-node as this project registers it: transpile-only with the caching transpiler. */
const cached = createTsNode({ transpileOnly: true, transpiler: transpilerModule });
/** ts-node's own transpile-only mode, as `ts-node --transpile-only` and Pulumi run it. */
const plain = createTsNode({ transpileOnly: true });

function cacheEntries(): Set<string> {
  return new Set(fs.existsSync(cacheFolder) ? fs.readdirSync(cacheFolder) : []);
}

/**
 * Compiles `code` (which holds a text no other file holds) as `file`; returns the JavaScript and the cache
 * entry written for it, found by that text (other processes may be writing entries meanwhile).
 */
function compileKept(code: string, file: string, marker: string): { output: string; entry?: string } {
  const before = cacheEntries();
  const output = cached.compile(code, file);
  const entry = [...cacheEntries()]
    .filter((name) => !before.has(name) && name.endsWith(".json"))
    .map((name) => path.join(cacheFolder, name))
    .find((entryFile) => fs.readFileSync(entryFile, "utf8").includes(marker));
  return { output, ...(entry ? { entry } : {}) };
}

describe("running TypeScript (scripts/ts-register.js)", () => {
  const written: string[] = [];
  after(() => written.forEach((file) => fs.rmSync(file, { force: true })));

  it("compiles to exactly what ts-node's transpile-only mode makes (the code Pulumi serializes)", () => {
    for (const file of [
      "functions/entrypoints.ts",
      "infra/functions.ts",
      "index.ts",
      "local/runner/run.ts",
    ]) {
      const full = path.join(repoRoot, file);
      const code = fs.readFileSync(full, "utf8");
      expect(cached.compile(code, full), file).to.equal(plain.compile(code, full));
    }
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
    const entry = JSON.parse(fs.readFileSync(first.entry!, "utf8")) as { outputText: string };
    fs.writeFileSync(
      first.entry!,
      JSON.stringify({ ...entry, outputText: `${entry.outputText}// from the cache\n` }),
    );
    const second = createTsNode({ transpileOnly: true, transpiler: transpilerModule }).compile(code, file);
    expect(second).to.include("// from the cache");
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
    fs.writeFileSync(first.entry!, '{"outputText": "exports.wh');
    expect(
      createTsNode({ transpileOnly: true, transpiler: transpilerModule }).compile(code, file),
    ).to.include("exports.whole = true;");
    expect(JSON.parse(fs.readFileSync(first.entry!, "utf8")).outputText).to.include("exports.whole = true;");
  });
});
