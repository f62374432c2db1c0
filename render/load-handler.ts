/**
 * A function's serialized closure loaded the way Lambda loads it, with no Pulumi in the process: what a
 * local run or a test calls, from a render made afresh or kept.
 */
import { createRequire } from "module";
import * as path from "path";
import type { RenderedFunction } from "./rendered-stack";
import { repoRoot } from "./stack-files";

/** What a closure's `require(id)` returns, given the `require` rooted at the repository. */
export type ModuleLoader = (id: string, require: NodeJS.Require) => unknown;

/**
 * Loads a function's serialized closure the way Lambda does (`require` rooted at the repository, with the
 * function's environment set while the factory runs) and returns its handler. `loadModule` (default:
 * `require` itself) lets local mode hand the closure its own view of a package.
 */
export function loadHandler(
  fn: Pick<RenderedFunction, "indexJs" | "environment">,
  env: Record<string, string> = {},
  root = repoRoot,
  loadModule?: ModuleLoader,
): unknown {
  const filename = path.join(root, "__index.js");
  const rootedRequire = createRequire(filename);
  const closureRequire = loadModule
    ? Object.assign((id: string) => loadModule(id, rootedRequire), rootedRequire)
    : rootedRequire;
  const module = { exports: {} as Record<string, unknown> };
  const variables = { ...fn.environment, ...env };
  const previous = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
  Object.assign(process.env, variables);
  try {
    new Function("exports", "require", "module", "__filename", "__dirname", fn.indexJs)(
      module.exports,
      closureRequire,
      module,
      filename,
      root,
    );
  } finally {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  return module.exports.handler;
}
