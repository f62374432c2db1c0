/**
 * `npm start [-- options]`: one pipeline execution of the stack on this machine, with no AWS account, in
 * simulated time. Progress lines go to stderr while it runs, the summary to stdout (with --json, one JSON
 * object and nothing else). Exit code 0 when the execution ended as the scenario expects, 1 when not,
 * 2 for a bad option.
 */
import { parse as parseYaml } from "yaml";
import { designNames } from "../local/designs/design";
import { formatSummary, ProgressPrinter } from "../local/runner/report";
import { runExecution, type Summary } from "../local/runner/run";
import {
  formatDuration,
  maxJobDurationSeconds,
  maxShards,
  parseDuration,
  resolveScenario,
  scenarioDefaults,
  ScenarioError,
  type Scenario,
} from "../local/runner/scenario";
import { stackNames, type ConfigValue } from "../render/stack-files";
import { CliOutput, UsageError, runCli } from "./cli";

export const usage = `Usage: npm start [-- options]

Runs one execution of the stack's pipeline locally (local AWS servers, simulated time) and summarizes it.

Options:
  --shards N              shards of the execution, 1-${maxShards} (default ${scenarioDefaults.shards})
  --mode array|jobs       one array job, or one job per shard (default: the stack's submitMode)
  --job-duration D        how long each job runs, e.g. 90s, 30m, 2h (default ${formatDuration(scenarioDefaults.jobDurationSeconds)})
  --fail-shards i,j       these shards (0-based) exit with code 1 halfway through
  --stop-after D          stop the execution this long after it starts, e.g. 5m
  --throttle RATE         extra share of Batch calls answered 429, 0-1 (default 0)
  --duplicate-deliveries  deliver every callback message and event twice
  --stack NAME            whose config to use: Pulumi.<NAME>.yaml (default ${scenarioDefaults.stack})
  --seed N                seed of everything random in the run (default ${scenarioDefaults.seed})
  --event-delay D         delay of Batch's state-change events (default ${formatDuration(scenarioDefaults.eventDelaySeconds)})
  --design NAME           bridge (the stack, default) or reference (the reference design's policy)
  --function-logs         print the functions' own JSON log lines (not with --json)
  --worker "COMMAND"      run COMMAND as every job's container, one process per job (the job's command,
                          Ref:: resolved, follows as arguments); exit code 0 succeeds, any other fails
  --input DIR             with --worker: upload DIR's files under the stack's input prefix first
  --config KEY=VALUE      set a stack config key for this run (a YAML value: --config jobAttempts=1,
                          --config 'containerCommand=[Ref::inputUri, Ref::outputUri]'); repeatable
  --json                  print the summary as one JSON object on stdout, nothing else
  --help                  show this help`;

export interface StartOptions {
  scenario: Scenario;
  json: boolean;
  help: boolean;
}

/** Reads the options (`--name value` or `--name=value`); throws a UsageError naming a bad one. */
export function parseStartArgs(argv: string[]): StartOptions {
  const scenario: Scenario = {};
  const options: StartOptions = { scenario, json: false, help: false };
  let failShards: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
    const value = (allowed: string): string => {
      const given = inline ?? argv[++i];
      if (given === undefined || (inline === undefined && given.startsWith("--"))) {
        throw new UsageError(`${name} needs a value: ${allowed}.`);
      }
      return given;
    };
    const wholeNumber = (allowed: string, min: number, max: number): number => {
      const text = value(allowed);
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < min || n > max)
        throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
      return n;
    };
    const duration = (allowed: string, max: number): number => {
      const text = value(allowed);
      let seconds: number;
      try {
        seconds = parseDuration(text);
      } catch {
        throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
      }
      if (seconds > max) throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
      return seconds;
    };
    switch (name) {
      case "--help":
      case "-h":
        options.help = true;
        break;
      case "--json":
        options.json = true;
        break;
      case "--duplicate-deliveries":
        scenario.duplicateDeliveries = true;
        break;
      case "--function-logs":
        scenario.functionLogs = true;
        break;
      case "--shards":
        scenario.shards = wholeNumber(`a whole number from 1 to ${maxShards}`, 1, maxShards);
        break;
      case "--mode": {
        const mode = value("array or jobs");
        if (mode !== "array" && mode !== "jobs")
          throw new UsageError(`--mode must be array or jobs, got "${mode}".`);
        scenario.mode = mode;
        break;
      }
      case "--design": {
        const design = value(designNames.join(" or "));
        if (!(designNames as readonly string[]).includes(design)) {
          throw new UsageError(`--design must be ${designNames.join(" or ")}, got "${design}".`);
        }
        scenario.design = design as Scenario["design"];
        break;
      }
      case "--job-duration":
        scenario.jobDurationSeconds = duration(
          `a duration up to ${formatDuration(maxJobDurationSeconds)}, e.g. 90s, 30m, 2h`,
          maxJobDurationSeconds,
        );
        break;
      case "--stop-after":
        scenario.stopAfterSeconds = duration("a duration, e.g. 45s, 5m", 4 * maxJobDurationSeconds);
        break;
      case "--event-delay":
        scenario.eventDelaySeconds = duration("a duration up to 1h, e.g. 1s, 500ms", 3600);
        break;
      case "--fail-shards":
        failShards = value("shard indexes separated by commas, e.g. 0,3");
        break;
      case "--throttle": {
        const text = value("a fraction from 0 to 1, e.g. 0.2");
        const rate = Number(text);
        if (text.trim() === "" || !(rate >= 0 && rate <= 1)) {
          throw new UsageError(`--throttle must be a fraction from 0 to 1, e.g. 0.2, got "${text}".`);
        }
        scenario.throttleRate = rate;
        break;
      }
      case "--stack": {
        const stack = value("a stack name");
        const stacks = stackNames();
        if (!stacks.includes(stack)) {
          throw new UsageError(
            `--stack ${stack}: there is no Pulumi.${stack}.yaml; stacks with a file: ${stacks.join(", ") || "(none)"}.`,
          );
        }
        scenario.stack = stack;
        break;
      }
      case "--seed":
        scenario.seed = wholeNumber(`a whole number from 0 to ${2 ** 31 - 1}`, 0, 2 ** 31 - 1);
        break;
      case "--worker":
        scenario.worker = value('a command in quotes, e.g. "node worker.mjs"');
        break;
      case "--input":
        scenario.inputDirectory = value("a folder");
        break;
      case "--config": {
        const [key, configValue] = configSetting(value("KEY=VALUE, e.g. jobAttempts=1"));
        scenario.config = { ...scenario.config, [key]: configValue };
        break;
      }
      default:
        throw new UsageError(`Unknown option "${arg}".`);
    }
  }
  if (failShards !== undefined) {
    const shards = scenario.shards ?? scenarioDefaults.shards;
    const indexes = failShards.split(",").map((part) => part.trim());
    if (indexes.some((part) => !/^\d+$/.test(part) || Number(part) >= shards)) {
      throw new UsageError(
        `--fail-shards must list shard indexes from 0 to ${shards - 1} separated by commas, got "${failShards}".`,
      );
    }
    scenario.failShards = indexes.map(Number);
  }
  if (options.json && scenario.functionLogs) {
    throw new UsageError("--function-logs cannot be combined with --json: both write to stdout.");
  }
  return options;
}

/** `KEY=VALUE` with VALUE read as YAML, as a stack file holds it: a string, number, boolean or list of strings. */
function configSetting(text: string): [string, ConfigValue] {
  const equals = text.indexOf("=");
  const key = text.slice(0, equals);
  if (equals <= 0 || !/^[A-Za-z][A-Za-z0-9]*$/.test(key)) {
    throw new UsageError(`--config must be KEY=VALUE with a config key, e.g. jobAttempts=1, got "${text}".`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text.slice(equals + 1));
  } catch (error) {
    throw new UsageError(
      `--config ${key}: the value is not YAML (${(error as Error).message.split("\n")[0]}).`,
    );
  }
  const isStringList = Array.isArray(parsed) && parsed.every((item) => typeof item === "string");
  if (!["string", "number", "boolean"].includes(typeof parsed) && !isStringList) {
    throw new UsageError(`--config ${key}: the value must be a string, number, boolean or list of strings.`);
  }
  return [key, parsed as ConfigValue];
}

/** Runs `npm start` with `argv`; resolves to the exit code. */
export async function start(argv: string[], output: CliOutput): Promise<number> {
  let options: StartOptions;
  try {
    options = parseStartArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`${error.message}\nRun "npm start -- --help" for the options.`);
    return 2;
  }
  if (options.help) {
    output.out(usage);
    return 0;
  }
  try {
    // Every check that needs no render (a worker that cannot start, a missing folder) before anything runs.
    resolveScenario(options.scenario);
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    output.err(`${error.problems.join("\n")}\nRun "npm start -- --help" for the options.`);
    return 2;
  }
  const progress = new ProgressPrinter((line) => output.err(line));
  let summary: Summary;
  // Whatever the program or a library prints goes to stderr: stdout carries only the summary.
  const log = console.log;
  console.log = console.error;
  try {
    output.err(describeRun(options.scenario));
    summary = await runExecution(options.scenario, { onProgress: (p) => progress.update(p) });
  } catch (error) {
    output.err(`The local execution could not run: ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  output.out(options.json ? JSON.stringify(summary) : `\n${formatSummary(summary)}`);
  return summary.expected ? 0 : 1;
}

function describeRun(scenario: Scenario): string {
  const design = scenario.design === "reference" ? "the reference design" : "the stack";
  return (
    `Running one execution of ${design} locally (${scenario.stack ?? scenarioDefaults.stack} config, ` +
    `${scenario.shards ?? scenarioDefaults.shards} shards, ` +
    (scenario.worker !== undefined
      ? `jobs run by ${JSON.stringify(scenario.worker)}, `
      : `${formatDuration(scenario.jobDurationSeconds ?? scenarioDefaults.jobDurationSeconds)} jobs, `) +
    `seed ${scenario.seed ?? scenarioDefaults.seed}); times are simulated:`
  );
}

if (require.main === module) {
  // The SDK warns once per process that its 2027 releases will need Node 22; this project runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(start);
}
