import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { configKeys, pulumiTypeOf, type KeySpec } from "../infra/config";

interface ReadmeRow {
  type: string;
  defaultText: string;
  meaning: string;
}

/** The README's configuration table, by key. */
function readmeConfigTable(): Map<string, ReadmeRow> {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const rows = new Map<string, ReadmeRow>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const key = /^`([A-Za-z]+)`$/.exec(cells[1] ?? "");
    // Only the configuration table has four columns: key, type, default, meaning.
    if (key && cells.length === 6)
      rows.set(key[1], { type: cells[2], defaultText: cells[3], meaning: cells[4] });
  }
  return rows;
}

function defaultText(value: unknown): string {
  if (Array.isArray(value)) return `\`${JSON.stringify(value)}\``;
  return value === "" ? '`""`' : `\`${String(value)}\``;
}

describe("README", () => {
  it("lists every config key with the type Pulumi checks, the default the program applies and its meaning", () => {
    const table = readmeConfigTable();
    for (const [key, spec] of Object.entries(configKeys) as [string, KeySpec][]) {
      expect(table.get(key), `README row for ${key}`).to.deep.equal({
        type: pulumiTypeOf(spec.type),
        defaultText: defaultText(spec.default),
        meaning: spec.description,
      });
    }
    expect([...table.keys()]).to.have.members(Object.keys(configKeys));
  });
});
