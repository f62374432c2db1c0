/** What the command-line scripts (plan, start, bench) share: their output, usage errors, and `main`. */

/** Where a script writes: its result to stdout, progress and errors to stderr. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** A bad command line: the script prints the message and exits 2. */
export class UsageError extends Error {}

/**
 * Runs a script's entry point with the process's arguments and streams, and sets the exit code it
 * resolves to (1 for an unexpected error, with its stack on stderr).
 */
export function runCli(main: (argv: string[], output: CliOutput) => Promise<number>): void {
  main(process.argv.slice(2), {
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
