/**
 * What the command-line scripts share: their options and usage text, reading the options the way
 * command-line tools do, spotting options npm kept for itself, their output, and `main`.
 */
import { parse as parseYaml } from "yaml";
import { closestName, editDistance } from "../infra/config/closest-name";
import type { ConfigValue } from "../render/stack-files";

/** Where a script writes: its result to stdout, progress and errors to stderr. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** A bad command line: the script prints the message and exits 2. */
export class UsageError extends Error {}

/** One option of a script. */
export interface CliOption {
  /** `--shards`. */
  name: string;
  /** Its value's placeholder in the usage (`N`); absent for a flag. */
  value?: string;
  /** What a value may be, for "needs a value" (`a whole number from 1 to 10000`); default: `value`. */
  allowed?: string;
  help: string;
}

/** A script as a person runs it. */
export interface CliCommand {
  /** The usage line(s), each a command that works as typed: `npm start [-- options]`. */
  usage: string[];
  /** The npm scripts that run it (`npm_lifecycle_event`): `start`, `plan`. */
  npmScripts: string[];
  /** What it does, in a sentence or two. */
  description: string;
  options: CliOption[];
  /** Command lines that work as typed. */
  examples: string[];
  /** What the script does with arguments that are not options (e.g. test files); default: refuse them. */
  operands?: string;
}

/** `--help` and `-h`: every script has them. */
export const helpOption: CliOption = { name: "--help", help: "show this help and exit" };

/** The npm command that runs the script `command` describes: `npm start`, `npm run plan`. */
function npmCommand(command: CliCommand): string {
  const [script] = command.npmScripts;
  return script === "start" || script === "test" ? `npm ${script}` : `npm run ${script}`;
}

/** What a usage error ends with: how to see the script's options. */
export function optionsHint(command: CliCommand): string {
  return `Run "${npmCommand(command)} -- --help" for the options.`;
}

/**
 * A script's options read with `parse`, or its exit code: a bad option is answered on stderr with how to
 * see the options (2), and `--help` prints the usage (0).
 */
export function readOptions<T extends { help: boolean }>(
  argv: string[],
  command: CliCommand,
  parse: (argv: string[]) => T,
  output: CliOutput,
): T | number {
  let options: T;
  try {
    options = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\n${optionsHint(command)}`);
    return 2;
  }
  if (options.help) {
    output.out(usageText(command));
    return 0;
  }
  return options;
}

/** The usage text `--help` prints. */
export function usageText(command: CliCommand): string {
  const options = [...command.options, helpOption];
  const left = (option: CliOption) => (option.value ? `${option.name} ${option.value}` : option.name);
  const width = Math.max(...options.map((option) => left(option).length)) + 2;
  return [
    ...command.usage.map((line, i) => `${i === 0 ? "Usage: " : "       "}${line}`),
    "",
    command.description,
    "",
    "Options:",
    ...options.map(
      (option) =>
        `  ${left(option).padEnd(width)}${option.help.split("\n").join(`\n  ${" ".repeat(width)}`)}`,
    ),
    ...(command.operands ? ["", command.operands] : []),
    "",
    "Examples:",
    ...command.examples.map((example) => `  ${example}`),
  ].join("\n");
}

/** The options given, by name (a flag's value is `true`), in order; and the other arguments. */
export interface ParsedArgs {
  values: [name: string, value: string | true][];
  operands: string[];
  help: boolean;
}

/**
 * Reads `--name value`, `--name=value` and flags; throws a UsageError for an unknown option (naming the
 * nearest known one), a missing value, or an operand the command does not take.
 */
export function parseArgs(argv: string[], command: CliCommand): ParsedArgs {
  const parsed: ParsedArgs = { values: [], operands: [], help: false };
  const byName = new Map(command.options.map((option) => [option.name, option]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      parsed.help = true;
      continue;
    }
    if (arg === "--") {
      throw new UsageError('npm passed on a second "--": put every option after the first one.');
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!command.operands) throw new UsageError(`Unexpected argument "${arg}": options start with --.`);
      parsed.operands.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = arg.startsWith("--") && equals > 0 ? arg.slice(0, equals) : arg;
    const inline = name === arg ? undefined : arg.slice(equals + 1);
    const option = byName.get(name);
    if (!option) throw new UsageError(unknownOptionMessage(name, command));
    if (!option.value) {
      if (inline !== undefined) throw new UsageError(`${name} takes no value, got "${arg}".`);
      parsed.values.push([name, true]);
      continue;
    }
    const given = inline ?? argv[i + 1];
    if (given === undefined || (inline === undefined && given.startsWith("--"))) {
      throw new UsageError(`${name} needs a value: ${option.allowed ?? option.value}.`);
    }
    if (inline === undefined) i++;
    parsed.values.push([name, given]);
  }
  return parsed;
}

function unknownOptionMessage(name: string, command: CliCommand): string {
  const names = [...command.options, helpOption].map((option) => option.name);
  const nearest = nearOption(name, names);
  return `Unknown option "${name}"${nearest ? `: did you mean ${nearest}?` : "."}`;
}

/**
 * The option a mistyped name most likely meant: the nearest by edit distance, if it is near enough to be a
 * typo (at most 2 edits, and at most a third of the name) rather than another word.
 */
export function nearOption(name: string, names: readonly string[]): string | undefined {
  const nearest = closestName(name, names);
  if (nearest === undefined) return undefined;
  const distance = editDistance(name.toLowerCase(), nearest.toLowerCase());
  return distance <= 2 && distance * 3 <= nearest.replace(/^-+/, "").length ? nearest : undefined;
}

/**
 * Options npm kept for itself. Without `--` between the script and its options (`npm start --shards 5`),
 * npm takes `--shards` as a setting of its own, sets `npm_config_shards=true` in the script's environment
 * and passes the script only `5` (checked with npm 11; `.npmrc`'s loglevel=silent hides npm's warning).
 * Returns a message saying how to pass them, or undefined when npm kept none of the script's options.
 */
export function npmSwallowedOptions(
  command: CliCommand,
  argv: string[],
  env: NodeJS.ProcessEnv,
): string | undefined {
  // Only when npm runs this script: a script started another way inherits whatever npm had.
  if (!command.npmScripts.includes(env.npm_lifecycle_event ?? "")) return undefined;
  const names = command.options.map((option) => option.name);
  const kept: { given: string; meant: CliOption; value: string }[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("npm_config_") || value === undefined) continue;
    const given = `--${key.slice("npm_config_".length).replace(/_/g, "-")}`;
    const meant = names.includes(given) ? given : nearOption(given, names);
    if (meant) kept.push({ given, meant: command.options.find((o) => o.name === meant)!, value });
  }
  if (kept.length === 0) return undefined;
  kept.sort((a, b) => command.options.indexOf(a.meant) - command.options.indexOf(b.meant));
  // npm passes on the words after a flag it took as its own; with one such flag they are its value.
  const valued = kept.filter((k) => k.meant.value && k.value === "true");
  const operands = argv.filter((arg) => !arg.startsWith("-"));
  const typed = kept.map((k) => {
    if (!k.meant.value) return k.meant.name;
    if (k.value !== "true") return `${k.meant.name} ${k.value}`;
    return `${k.meant.name} ${valued.length === 1 && operands.length === 1 ? operands[0] : k.meant.value}`;
  });
  // The words npm passed on were a flag's value; with several such flags npm does not say which word was
  // whose, and the placeholders stand in for them.
  const rest = valued.length === 0 ? argv : argv.filter((arg) => arg.startsWith("-"));
  const given = kept.map((k) => k.given).join(", ");
  const typos = kept.filter((k) => k.given !== k.meant.name);
  return (
    `npm took ${given} as its own setting${kept.length > 1 ? "s" : ""}` +
    `${argv.length > 0 ? ` and passed the script only ${argv.map((a) => `"${a}"`).join(" ")}` : ""}.` +
    `${typos.map((k) => ` ${k.given} is not an option: did you mean ${k.meant.name}?`).join("")}` +
    ` Put -- between the script and its options:\n  ${command.usage[0].replace(/ \[--.*$/, "")} -- ${[...typed, ...rest].join(" ")}`
  );
}

/** Resolves when the process is asked to stop (Ctrl-C's SIGINT, or SIGTERM): a serving command's end. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

/**
 * Runs a script's entry point with the process's arguments and streams, and sets the exit code it
 * resolves to (1 for an unexpected error, with its stack on stderr). Options npm kept for itself end it
 * with exit code 2 before it starts; a reader that closes the pipe (`| head`) ends it quietly.
 */
export function runCli(
  command: CliCommand,
  main: (argv: string[], output: CliOutput) => Promise<number>,
): void {
  endQuietlyOnClosedPipe();
  const argv = process.argv.slice(2);
  const swallowed = npmSwallowedOptions(command, argv, process.env);
  if (swallowed) {
    process.stderr.write(`${swallowed}\n`);
    process.exitCode = 2;
    return;
  }
  main(argv, {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * When the reader of stdout or stderr goes away (`npm run plan -- --json | head`), writing fails with
 * EPIPE: stop at once and quietly, with exit code 0, as a command in a shell pipeline does.
 */
function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
      throw error;
    });
  }
}

/** The value of an option that takes one (the last given wins), or undefined. */
export function optionValue(parsed: ParsedArgs, name: string): string | undefined {
  const given = parsed.values.filter(([n]) => n === name).at(-1)?.[1];
  return typeof given === "string" ? given : undefined;
}

/** Whether a flag was given. */
export function flagGiven(parsed: ParsedArgs, name: string): boolean {
  return parsed.values.some(([n]) => n === name);
}

/** `KEY=VALUE` with VALUE read as YAML, as a stack file holds it: a string, number, boolean or list of strings. */
export function configSetting(text: string): [string, ConfigValue] {
  const equals = text.indexOf("=");
  const key = text.slice(0, equals);
  if (equals <= 0 || !/^[A-Za-z][A-Za-z0-9]*$/.test(key)) {
    throw new UsageError(`--set must be KEY=VALUE with a config key, e.g. jobAttempts=1, got "${text}".`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text.slice(equals + 1));
  } catch (error) {
    throw new UsageError(`--set ${key}: the value is not YAML (${(error as Error).message.split("\n")[0]}).`);
  }
  const isStringList = Array.isArray(parsed) && parsed.every((item) => typeof item === "string");
  if (!["string", "number", "boolean"].includes(typeof parsed) && !isStringList) {
    throw new UsageError(`--set ${key}: the value must be a string, number, boolean or list of strings.`);
  }
  return [key, parsed as ConfigValue];
}
