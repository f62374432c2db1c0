/**
 * The check `pulumi preview` makes on a stack file before the program runs: the value of every key that
 * Pulumi.yaml declares with a type must be of that type. `npm run plan` reads stack files itself, so it
 * makes the same check, and each message says how to fix the value.
 *
 * As the Pulumi CLI does it (pkg/workspace/config.go `validateStackConfigValue`, with
 * sdk/go/common/workspace/project.go `ValidateConfigValue`): a top-level scalar is checked as its text, so
 * any scalar is a `string`, a whole number written either way (`1024` or `"1024"`) an `integer`, and
 * `true` or `false` a `boolean`; an `array` must be a YAML list whose every item has the declared item type
 * (checked as YAML typed it: `4` is not a string). A string holding a JSON list is not a list.
 */
import { ConfigError } from "./parse";

/** A key as Pulumi.yaml declares it. */
export interface DeclaredKey {
  type?: string;
  items?: { type?: string };
  default?: unknown;
}

/** A stack file as YAML parsed it. */
export interface StackFile {
  /** The stack's name: the file is `Pulumi.<stack>.yaml`. */
  stack: string;
  /** Its `config:` block, keys as written (`project:key`). */
  config: Record<string, unknown>;
}

/** Throws a ConfigError listing every value of the stack file that `pulumi preview` would reject. */
export function checkStackFileTypes(
  projectName: string,
  declared: Record<string, unknown>,
  file: StackFile,
): void {
  const problems = stackFileTypeProblems(projectName, declared, file);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Every value of the stack file whose type is not the type Pulumi.yaml declares, with its fix. */
export function stackFileTypeProblems(
  projectName: string,
  declared: Record<string, unknown>,
  file: StackFile,
): string[] {
  const problems: string[] = [];
  for (const [qualifiedKey, value] of Object.entries(file.config)) {
    const key = qualifiedKey.startsWith(`${projectName}:`)
      ? qualifiedKey.slice(projectName.length + 1)
      : qualifiedKey;
    const declaration = declared[key] as DeclaredKey | undefined;
    if (key.includes(":") || typeof declaration?.type !== "string" || isSecret(value)) continue;
    const problem = typeProblem({ projectName, key, declaration, value, stack: file.stack });
    if (problem) problems.push(problem);
  }
  return problems;
}

interface Checked {
  projectName: string;
  key: string;
  declaration: DeclaredKey;
  value: unknown;
  stack: string;
}

function typeProblem(checked: Checked): string | undefined {
  const { value, declaration } = checked;
  switch (declaration.type) {
    case "array":
      return Array.isArray(value) ? itemProblem(checked, value) : notAList(checked);
    case "object":
      return isMap(value) ? undefined : mismatch(checked, "a YAML map", "");
    default:
      return scalarMatches(declaration.type, value)
        ? undefined
        : mismatch(checked, expectedScalar(declaration.type), exampleCommand(checked));
  }
}

/** How the CLI checks a top-level value: as the text of a scalar. */
function scalarMatches(type: string | undefined, value: unknown): boolean {
  if (!["string", "number", "boolean"].includes(typeof value)) return false;
  const text = String(value);
  switch (type) {
    case "string":
      return true;
    case "integer":
      return /^[+-]?\d+$/.test(text);
    case "boolean":
      return text === "true" || text === "false";
    default:
      return false;
  }
}

/** How the CLI checks a list item: as YAML typed it. */
function itemMatches(type: string | undefined, item: unknown): boolean {
  switch (type) {
    case "string":
      return typeof item === "string";
    case "integer":
      return Number.isInteger(item) || (typeof item === "string" && /^[+-]?\d+$/.test(item));
    case "boolean":
      return typeof item === "boolean" || item === "true" || item === "false";
    default:
      return false;
  }
}

function itemProblem(checked: Checked, items: unknown[]): string | undefined {
  const { projectName, key, declaration, stack } = checked;
  const itemType = declaration.items?.type;
  const index = items.findIndex((item) => !itemMatches(itemType, item));
  if (index < 0) return undefined;
  const item = items[index];
  return (
    `${projectName}:${key}[${index}] must be ${expectedScalar(itemType)} (Pulumi.yaml declares ${key} ` +
    `${declaredType(declaration)}), got ${describe(item)}: write it as "${String(item)}" in ` +
    `Pulumi.${stack}.yaml, or set it with pulumi config set --stack ${stack} --type ${cliType(itemType)} ` +
    `--path '${key}[${index}]' ${shellWord(String(item))} (--type needs Pulumi CLI 3.148 or later).`
  );
}

/** An array key given a scalar, often a JSON list stored as a string by `pulumi config set key '[...]'`. */
function notAList(checked: Checked): string {
  const { projectName, key, declaration, value, stack } = checked;
  const items = jsonList(value);
  const fix = items
    ? `In Pulumi.${stack}.yaml, drop the quotes around it ` +
      `(${projectName}:${key}: ${JSON.stringify(items)} is a list), ` +
      `or set it item by item: ${items.map((item, i) => setItemCommand(stack, key, i, item)).join(" && ")}.`
    : `In Pulumi.${stack}.yaml, write it as a list (${projectName}:${key}: ["a", "b"]), ` +
      `or set it item by item: ` +
      `pulumi config set --stack ${stack} --path '${key}[0]' <first item>, then [1] and so on.`;
  return (
    `${projectName}:${key} must be a YAML list (Pulumi.yaml declares it ${declaredType(declaration)}), ` +
    `got ${describe(value)}. ${fix}`
  );
}

/**
 * The command that sets one string item. With --path the CLI stores digits as a number and true/false as a
 * boolean unless told the type, and a value starting with "-" must follow "--" so it is not read as a flag.
 */
function setItemCommand(stack: string, key: string, index: number, item: string): string {
  const typed = /^(\d+|true|false)$/.test(item) ? " --type string" : "";
  const value = item.startsWith("-") ? `-- ${shellWord(item)}` : shellWord(item);
  return `pulumi config set --stack ${stack}${typed} --path '${key}[${index}]' ${value}`;
}

function mismatch(checked: Checked, expected: string, fix: string): string {
  const { projectName, key, declaration, value } = checked;
  return (
    `${projectName}:${key} must be ${expected} (Pulumi.yaml declares it ${declaredType(declaration)}), ` +
    `got ${describe(value)}${fix ? `: ${fix}` : ""}.`
  );
}

function exampleCommand({ key, declaration, stack }: Checked): string {
  const command = `pulumi config set --stack ${stack} ${key}`;
  return declaration.default === undefined
    ? `set it with ${command} <value>`
    : `set it with ${command} <value> (its default: ${command} ${shellWord(String(declaration.default))})`;
}

/** The `--type` of `pulumi config set` for a declared type. */
function cliType(type: string | undefined): string {
  return type === "integer" ? "int" : type === "boolean" ? "bool" : String(type);
}

function expectedScalar(type: string | undefined): string {
  switch (type) {
    case "integer":
      return "a whole number";
    case "boolean":
      return "true or false";
    case "string":
      return "a string";
    default:
      return `a ${type}`;
  }
}

function declaredType(declaration: DeclaredKey): string {
  return declaration.type === "array" ? `array<${declaration.items?.type}>` : String(declaration.type);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "no value";
  if (Array.isArray(value)) return `a list (${JSON.stringify(value)})`;
  if (isMap(value)) return `a map (${JSON.stringify(value)})`;
  const text = JSON.stringify(value);
  return typeof value === "string" && value.includes('"') && !value.includes("'")
    ? `the string '${value}'`
    : `the ${typeof value} ${text}`;
}

/** The items of a string holding a JSON list of strings. */
function jsonList(value: unknown): string[] | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) && parsed.every((item) => typeof item === "string") ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** `{secure: ciphertext}`: a secret, whose plaintext only the CLI can check. */
function isSecret(value: unknown): boolean {
  return isMap(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A word as a POSIX shell reads it back unchanged. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.split("'").join("'\\''")}'`;
}
