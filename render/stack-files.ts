/**
 * The stack files: Pulumi.yaml (the project and its declared config with defaults) and each stack's
 * `Pulumi.<stack>.yaml`, read the way the Pulumi CLI combines them.
 */
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { checkStackFileTypes } from "../infra/config/stack-file";

/** The repository root: where Pulumi.yaml, index.ts and node_modules are. */
export const repoRoot = path.resolve(__dirname, "..");

export type ConfigValue = string | number | boolean | string[];

/** The Pulumi project's name (from Pulumi.yaml). */
export function projectName(root = repoRoot): string {
  return readYaml(path.join(root, "Pulumi.yaml")).name as string;
}

/**
 * The config a stack runs with: the defaults declared in Pulumi.yaml's `config:` block, then the values of
 * `Pulumi.<stack>.yaml`, then `overrides`; keys qualified (`project:key`) and values as strings, the way
 * `pulumi config` stores them. Throws if the stack file does not exist.
 */
export function stackConfig(
  stack: string,
  overrides: Record<string, ConfigValue> = {},
  root = repoRoot,
): Record<string, string> {
  const project = readYaml(path.join(root, "Pulumi.yaml"));
  const projectKey = (key: string) => (key.includes(":") ? key : `${project.name}:${key}`);
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) {
    throw new Error(
      `No stack file Pulumi.${stack}.yaml in ${root} (Pulumi writes it on the stack's first ` +
        `"pulumi config set"); stacks with a file: ${stackNames(root).join(", ") || "(none)"}.`,
    );
  }
  const config: Record<string, string> = {};
  const declared = (project.config ?? {}) as Record<string, { default?: ConfigValue }>;
  for (const [key, spec] of Object.entries(declared)) {
    if (spec && typeof spec === "object" && spec.default !== undefined) {
      config[projectKey(key)] = configString(spec.default);
    }
  }
  const values = (readYaml(stackFile).config ?? {}) as Record<string, ConfigValue>;
  // What pulumi preview rejects before the program runs.
  checkStackFileTypes(String(project.name), declared, { stack, config: values });
  for (const [key, value] of Object.entries({ ...values, ...overrides })) {
    config[projectKey(key)] = configString(value);
  }
  return config;
}

/** Stacks with a `Pulumi.<stack>.yaml` file. */
export function stackNames(root = repoRoot): string[] {
  return fs
    .readdirSync(root)
    .map((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

function configString(value: ConfigValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Stack files parsed, by their text: a local run reads the same ones several times. */
const parsedYaml = new Map<string, Record<string, unknown>>();

function readYaml(file: string): Record<string, unknown> {
  const text = fs.readFileSync(file, "utf8");
  let parsed = parsedYaml.get(text);
  if (parsed === undefined) {
    parsed = (parseYaml(text) ?? {}) as Record<string, unknown>;
    parsedYaml.set(text, parsed);
  }
  return structuredClone(parsed);
}
