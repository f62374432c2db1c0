import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";

const repositoryRoot = path.resolve(__dirname, "..");
const skippedFolders = new Set(["node_modules", ".git", "bin", ".local"]);
const sourceExtensions = new Set([".ts", ".js", ".mjs", ".cjs", ".json", ".sh", ".yaml", ".yml"]);

/** Every file a user's clone holds that code could be read from (not docs, not dependencies). */
function sourceFiles(folder: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!skippedFolders.has(entry.name)) files.push(...sourceFiles(full));
    } else if (sourceExtensions.has(path.extname(entry.name)) || full.endsWith(path.join(".ci", "run"))) {
      files.push(full);
    }
  }
  return files;
}

const literal = String.raw`(?:"[^"\n]*"|'[^'\n]*'|` + "`[^`\\n]*`)";

/**
 * The relative paths a file names: string literals that start with `..`, and `path.join/resolve(__dirname,
 * "...", ...)` calls with literal segments, each resolved from the file's own folder.
 */
export function pathsNamedIn(file: string, text: string): string[] {
  const folder = path.dirname(file);
  const named: string[] = [];
  const call = new RegExp(String.raw`path\.(?:join|resolve)\(\s*__dirname((?:\s*,\s*${literal})+)`, "g");
  for (const match of text.matchAll(call)) {
    const segments = [...match[1].matchAll(new RegExp(literal, "g"))].map((m) => m[0].slice(1, -1));
    named.push(path.resolve(folder, ...segments));
  }
  for (const match of text.matchAll(new RegExp(literal, "g"))) {
    const value = match[0].slice(1, -1);
    if (/^\.\.(\/|$)/.test(value)) named.push(path.resolve(folder, value));
  }
  return named;
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

describe("a clone with nothing beside it", () => {
  it("names no path outside the repository in any code, test, script or config", () => {
    const outside: string[] = [];
    for (const file of sourceFiles(repositoryRoot)) {
      for (const named of pathsNamedIn(file, fs.readFileSync(file, "utf8"))) {
        if (!isInside(repositoryRoot, named)) {
          outside.push(`${path.relative(repositoryRoot, file)} names ${named}`);
        }
      }
    }
    expect(outside, "copy what these need into the repository").to.deep.equal([]);
  });

  it("catches a read of a folder beside the repository, written either way", () => {
    const sibling = ["..", "..", "sibling", "schema.json"].join("/");
    const test = path.join(repositoryRoot, "tests", "example.test.ts");
    const call = ["path.resolve(", "__dirname, "].join("");
    const joined = `fs.readFileSync(${call}"../..", "${sibling.slice(3)}"))`;
    const direct = `require("${sibling}")`;
    expect(pathsNamedIn(test, joined).some((p) => !isInside(repositoryRoot, p))).to.equal(true);
    expect(pathsNamedIn(test, direct).some((p) => !isInside(repositoryRoot, p))).to.equal(true);
    expect(
      pathsNamedIn(test, `require("../infra/config")`).every((p) => isInside(repositoryRoot, p)),
    ).to.equal(true);
  });
});
