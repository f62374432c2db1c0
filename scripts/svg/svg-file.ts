/** The `--svg FILE` and `--timeline FILE` options: a picture file to write, checked before any run. */
import { statSync } from "node:fs";
import * as path from "node:path";
import { optionValue, UsageError, type CliOption, type ParsedArgs } from "../cli";

/** The option, as a script lists it. */
export function svgFileOption(name: string, help: string): CliOption {
  return { name, value: "FILE", allowed: "a file name ending .svg in a folder that exists", help };
}

/** The file the option names, or undefined; a UsageError when it does not end .svg or its folder is missing. */
export function svgFileOf(parsed: ParsedArgs, name: string): string | undefined {
  const file = optionValue(parsed, name);
  if (file === undefined) return undefined;
  if (!file.toLowerCase().endsWith(".svg")) {
    throw new UsageError(`${name} must be a file name ending .svg, got "${file}".`);
  }
  const folder = path.dirname(path.resolve(file));
  let isFolder = false;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    isFolder = false;
  }
  if (!isFolder) throw new UsageError(`${name} ${file}: there is no folder ${folder} to write it in.`);
  return file;
}
