import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { configKeys } from "../infra/config";

/** The README's configuration table, as key -> default text. */
function readmeConfigTable(): Map<string, string> {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const rows = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const key = /^`([A-Za-z]+)`$/.exec(cells[1] ?? "");
    // Only the configuration table has four columns: key, type, default, meaning.
    if (key && cells.length === 6) rows.set(key[1], cells[3]);
  }
  return rows;
}

function defaultText(value: unknown): string {
  if (Array.isArray(value)) return `\`${JSON.stringify(value)}\``;
  return value === "" ? '`""`' : `\`${String(value)}\``;
}

describe("README", () => {
  it("lists every config key with the default the program applies", () => {
    const table = readmeConfigTable();
    for (const [key, spec] of Object.entries(configKeys)) {
      expect(table.get(key), `README row for ${key}`).to.equal(defaultText(spec.default));
    }
    expect([...table.keys()]).to.have.members(Object.keys(configKeys));
  });
});
