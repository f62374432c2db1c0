import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";

const repositoryRoot = path.resolve(__dirname, "..", "..");

/** The repository's own modules a file imports (static, dynamic or required), resolved to files. */
function importedFiles(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specifiers = [
    ...text.matchAll(/\bfrom\s+"(\.[^"]+)"/g),
    ...text.matchAll(/\bimport\s+"(\.[^"]+)"/g),
    ...text.matchAll(/\b(?:import|require)\(\s*"(\.[^"]+)"\s*\)/g),
  ].map((match) => match[1]);
  return specifiers.flatMap((specifier) => {
    const base = path.resolve(path.dirname(file), specifier);
    const candidate = [base, `${base}.ts`, `${base}.js`, path.join(base, "index.ts")].find(
      (option) => fs.existsSync(option) && fs.statSync(option).isFile(),
    );
    return candidate === undefined ? [] : [candidate];
  });
}

/** Each file reachable by imports from `entries`, with the chain of imports that reaches it. */
function importChains(entries: string[]): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  const pending = entries.map((entry) => [path.resolve(repositoryRoot, entry)]);
  for (let chain = pending.shift(); chain !== undefined; chain = pending.shift()) {
    const file = chain[chain.length - 1];
    if (chains.has(file)) continue;
    chains.set(file, chain);
    for (const imported of importedFiles(file)) pending.push([...chain, imported]);
  }
  return chains;
}

function filesIn(folder: string): string[] {
  return fs
    .readdirSync(path.join(repositoryRoot, folder))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => path.join(folder, name));
}

describe("the plan and the stack's tests without local mode", () => {
  it("neither npm run plan, render/, index.ts nor any infra test imports a module of local/", () => {
    const entries = ["scripts/plan.ts", "index.ts", ...filesIn("render"), ...filesIn("tests/infra")];
    const local = path.join(repositoryRoot, "local") + path.sep;
    const reaching = [...importChains(entries).entries()]
      .filter(([file]) => file.startsWith(local))
      .map(([, chain]) => chain.map((file) => path.relative(repositoryRoot, file)).join(" -> "));
    expect(reaching).to.deep.equal([]);
  });
});
