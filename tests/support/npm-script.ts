/** What an npm script of this project runs, so that a test can start the same process without npm. */
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../../render/stack-files";

/**
 * The arguments for Node.js that `npm run <script>` passes (its command is `node <arguments>` in
 * package.json), followed by `args`.
 */
export function npmScriptNodeArgs(script: string, args: string[] = []): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const [program, ...words] = manifest.scripts[script].split(" ");
  if (program !== "node") throw new Error(`npm run ${script} runs ${program}, not node`);
  return [...words, ...args];
}
