/**
 * The checks a worker command passes before anything runs: the shell can parse it, and its program can be
 * found (on PATH, as a shell builtin, or as a file that may be executed). A command that fails these would
 * otherwise fail every shard with exit code 127 or 2, after the whole execution had been set up.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import * as path from "node:path";

/** Why `command` cannot start, or undefined when it can. */
export function workerCommandProblem(command: string, cwd = process.cwd()): string | undefined {
  if (command.trim() === "") return "the command is empty";
  const syntax = spawnSync("/bin/sh", ["-n", "-c", command], { encoding: "utf8" });
  if (syntax.error) return `/bin/sh cannot run: ${syntax.error.message}`;
  if (syntax.status !== 0) return `the shell cannot parse it: ${syntax.stderr.trim()}`;
  const program = programOf(command);
  if (program === undefined) return undefined;
  if (program.includes("/")) {
    try {
      accessSync(path.resolve(cwd, program), constants.X_OK);
      return undefined;
    } catch {
      return `${program} is not an executable file (from ${cwd})`;
    }
  }
  const found = spawnSync("/bin/sh", ["-c", 'command -v -- "$1"', "sh", program], { encoding: "utf8" });
  return found.status === 0 ? undefined : `${program} is not a program on PATH or a shell builtin`;
}

/**
 * The program a simple command runs: its first word after any `NAME=value` assignments, with quotes
 * removed. Undefined when the command starts with something else (a subshell, a brace group): the shell's
 * own check is then all there is.
 */
export function programOf(command: string): string | undefined {
  const words = command.trim().match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  for (const word of words) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) continue;
    if (/^[({!]/.test(word)) return undefined;
    return word.replace(/["']/g, "");
  }
  return undefined;
}
