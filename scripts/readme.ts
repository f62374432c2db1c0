/**
 * `npm run readme`: the outputs the README shows, from real runs. Each is a code block between
 * `<!-- output: COMMAND -->` and `<!-- /output -->`; this script runs COMMAND's code path and writes what
 * it printed (stderr and stdout, as a terminal shows them) into the block.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { bench } from "./bench";
import {
  optionsHint,
  parseArgs,
  runCli,
  UsageError,
  usageText,
  type CliCommand,
  type CliOutput,
} from "./cli";
import { start } from "./start";

const repoRoot = path.resolve(__dirname, "..");
export const readmePath = path.join(repoRoot, "README.md");

/** The pictures the README shows, drawn by the runs of its output blocks (not with --check). */
export const readmePictures = {
  bench: path.join(repoRoot, "docs", "bench.svg"),
  timeline: path.join(repoRoot, "docs", "timeline.svg"),
};

/**
 * The commands whose output the README shows, how to run each in this process (drawing the README's
 * pictures too when `pictures`), and whether the block shows its progress (stderr) too.
 */
export const readmeOutputs: Record<
  string,
  { run: (output: CliOutput, pictures: boolean) => Promise<number>; progress: boolean }
> = {
  "npm start": {
    run: (output, pictures) => start(pictures ? ["--timeline", readmePictures.timeline] : [], output),
    progress: true,
  },
  "npm start -- --records 200 --fail-records 3,7": {
    run: (output) => start(["--records", "200", "--fail-records", "3,7"], output),
    progress: true,
  },
  "npm start -- --stack example-pipeline": {
    run: (output) => start(["--stack", "example-pipeline"], output),
    progress: true,
  },
  "npm run bench": {
    run: (output, pictures) => bench(pictures ? ["--svg", readmePictures.bench] : [], output),
    progress: false,
  },
};

// Prettier keeps a blank line between an HTML comment and a code block.
const blockPattern = /(<!-- output: (.+?) -->\n\n?```\n)([\s\S]*?)(```\n\n?<!-- \/output -->)/g;

/** The README's output blocks: the command and the text shown. */
export function readmeOutputBlocks(readme: string): { opening: string; command: string; text: string }[] {
  return [...readme.matchAll(blockPattern)].map((match) => ({
    opening: match[1],
    command: match[2],
    text: match[3],
  }));
}

/**
 * Runs a command the README shows output of; resolves to what it printed, as a terminal shows it. With
 * `pictures`, the run also draws the README's pictures it makes.
 */
export async function runReadmeCommand(
  command: string,
  pictures = false,
): Promise<{ code: number; text: string }> {
  const shown = readmeOutputs[command];
  if (!shown)
    throw new Error(`The README shows the output of "${command}", which npm run readme cannot run.`);
  let text = "";
  const code = await shown.run(
    {
      out: (line) => (text += `${line}\n`),
      err: (line) => (text += shown.progress && !line.startsWith("Wrote the picture") ? `${line}\n` : ""),
    },
    pictures,
  );
  return { code, text: text.replace(/^\n+/, "") };
}

export const readmeCommand: CliCommand = {
  usage: ["npm run readme [-- options]"],
  npmScripts: ["readme"],
  description:
    "Runs the commands whose output the README shows (npm start, with --stack example-pipeline and with\n" +
    "--records, npm run bench) and writes what they print into README.md, and the pictures it shows into\n" +
    "docs/ (timeline.svg, bench.svg). About 2 minutes on the 2-core development machine: the bench runs\n" +
    "in full.",
  options: [{ name: "--check", help: "change nothing; exit 1 if a block's lines would change" }],
  examples: ["npm run readme", "npm run readme -- --check"],
};

/** Regenerates (or, with --check, compares) every output block; resolves to the exit code. */
export async function readme(argv: string[], output: CliOutput): Promise<number> {
  let check: boolean;
  try {
    const parsed = parseArgs(argv, readmeCommand);
    if (parsed.help) {
      output.out(usageText(readmeCommand));
      return 0;
    }
    check = parsed.values.length > 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\n${optionsHint(readmeCommand)}`);
    return 2;
  }
  let text = fs.readFileSync(readmePath, "utf8");
  let changed = 0;
  for (const block of readmeOutputBlocks(text)) {
    output.err(`Running ${block.command} ...`);
    const run = await runReadmeCommand(block.command, !check);
    if (run.text !== block.text) changed += 1;
    text = text.replace(`${block.opening}${block.text}`, `${block.opening}${run.text}`);
  }
  if (!check) fs.writeFileSync(readmePath, text);
  output.err(
    `${changed} of ${readmeOutputBlocks(text).length} output blocks ${check ? "differ" : "rewritten"}.`,
  );
  return check && changed > 0 ? 1 : 0;
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(readmeCommand, readme);
}
