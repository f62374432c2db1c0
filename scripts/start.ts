/**
 * `npm start [-- options]`: one pipeline execution of the stack on this machine, with no AWS account, in
 * simulated time. Progress lines go to stderr while it runs, the summary to stdout (with --json, one JSON
 * object and nothing else). Exit code 0 when the execution ended as the scenario expects, 1 when not,
 * 2 for a bad option.
 */
import { designNames } from "../local/designs/design";
import { formatSummary, ProgressPrinter } from "../local/runner/report";
import type { Progress, Summary } from "../local/runner/run";
import { writeFileSync } from "node:fs";
import { svgFileOf, svgFileOption } from "./svg/svg-file";
import { timelineSvg } from "./svg/timeline";
import {
  counted,
  formatDuration,
  maxJobDurationSeconds,
  maxShards,
  notWithTransformEngine,
  parseDuration,
  resolveScenario,
  scenarioDefaults,
  ScenarioError,
  type Scenario,
} from "../local/runner/scenario";
import { stackConfig, stackNames } from "../render/stack-files";
import { qualifiedKey } from "../infra/config/keys";
import type { RecordsScenario } from "../local/runner/records-run";
import {
  configSetting,
  optionsHint,
  parseArgs,
  readOptions,
  runCli,
  UsageError,
  type CliCommand,
  type CliOutput,
} from "./cli";
import { recordsOptions, recordsScenarioOf, startRecords } from "./start-records";
import type { StackServeOptions } from "../local/runner/stack-serve";
import { serve, serveOptions, serveOptionsOf } from "./start-serve";

const durationExamples = "e.g. 90s, 30m, 2h";

/** `npm start`: its options and usage. */
export const startCommand: CliCommand = {
  usage: ["npm start [-- options]"],
  npmScripts: ["start"],
  description:
    "Runs one execution of the stack's pipeline locally (local AWS servers, simulated time) and summarizes it.",
  options: [
    {
      name: "--shards",
      value: "N",
      allowed: `a whole number from 1 to ${maxShards}`,
      help: `shards of the execution, 1-${maxShards} (default ${scenarioDefaults.shards})`,
    },
    {
      name: "--mode",
      value: "array|jobs",
      allowed: "array or jobs",
      help: "one array job, or one job per shard (default: the stack's submitMode)",
    },
    {
      name: "--job-duration",
      value: "D",
      allowed: `a duration up to ${formatDuration(maxJobDurationSeconds)}, ${durationExamples}`,
      help: `how long each job runs, ${durationExamples} (default ${formatDuration(scenarioDefaults.jobDurationSeconds)})`,
    },
    {
      name: "--step-duration",
      value: "D",
      allowed: `a duration up to ${formatDuration(maxJobDurationSeconds)}, ${durationExamples}`,
      help:
        "how long a step local mode does not run itself (Training, Processing, ...) takes\n" +
        `before it succeeds (default ${formatDuration(scenarioDefaults.stepDurationSeconds)})`,
    },
    {
      name: "--fail-shards",
      value: "i,j",
      allowed: "shard indexes separated by commas, e.g. 0,3",
      help: "these shards (0-based) exit with code 1 halfway through",
    },
    {
      name: "--stop-after",
      value: "D",
      allowed: "a duration, e.g. 45s, 5m",
      help: "stop the execution this long after it starts, e.g. 5m",
    },
    {
      name: "--throttle",
      value: "RATE",
      allowed: "a fraction from 0 to 1, e.g. 0.2",
      help: "extra share of Batch calls answered 429, 0-1 (default 0)",
    },
    { name: "--duplicate-deliveries", help: "deliver every callback message and event twice" },
    {
      name: "--stack",
      value: "NAME",
      allowed: "a stack name",
      help: `whose config to use: Pulumi.<NAME>.yaml (default ${scenarioDefaults.stack})`,
    },
    {
      name: "--seed",
      value: "N",
      allowed: `a whole number from 0 to ${2 ** 31 - 1}`,
      help: `seed of everything random in the run (default ${scenarioDefaults.seed})`,
    },
    {
      name: "--event-delay",
      value: "D",
      allowed: "a duration up to 1h, e.g. 1s, 500ms",
      help: `delay of Batch's state-change events (default ${formatDuration(scenarioDefaults.eventDelaySeconds)})`,
    },
    {
      name: "--design",
      value: "NAME",
      allowed: designNames.join(" or "),
      help: "bridge (the stack, default) or reference (the reference design's policy)",
    },
    { name: "--function-logs", help: "print the functions' own JSON log lines (not with --json)" },
    {
      name: "--worker",
      value: '"COMMAND"',
      allowed: 'a command in quotes, e.g. "node worker.mjs"',
      help:
        "run COMMAND as every job's container, one process per job (the job's command,\n" +
        "Ref:: resolved, follows as arguments); exit code 0 succeeds, any other fails",
    },
    {
      name: "--input",
      value: "DIR",
      allowed: "a folder",
      help: "with --worker: upload DIR's files under the stack's input prefix first",
    },
    {
      name: "--set",
      value: "KEY=VALUE",
      allowed: "KEY=VALUE, e.g. jobAttempts=1",
      help:
        "set a stack config key for this run (a YAML value: --set jobAttempts=1,\n" +
        "--set 'containerCommand=[Ref::inputUri, Ref::outputUri]'); repeatable",
    },
    ...recordsOptions,
    ...serveOptions,
    svgFileOption(
      "--timeline",
      "also draw the execution into FILE (.svg): jobs by state over time, the steps, the answer",
    ),
    { name: "--json", help: "print the summary as one JSON object on stdout, nothing else" },
  ],
  examples: [
    "npm start",
    "npm start -- --shards 10000 --job-duration 2h",
    "npm start -- --mode jobs --shards 200 --fail-shards 7,9",
    "npm start -- --stop-after 60s",
    "npm start -- --stack example-pipeline --step-duration 5m",
    "npm start -- --throttle 0.3 --duplicate-deliveries --json",
    "npm start -- --records 1000 --fail-records 3,7",
    "npm start -- --serve --speed 60",
    "npm start -- --fail-shards 2 --timeline timeline.svg",
  ],
};

export interface StartOptions {
  scenario: Scenario;
  /** With --records: the records run instead of one execution. */
  records?: RecordsScenario;
  /** With --serve: the stack served until Ctrl-C instead of one execution. */
  serve?: StackServeOptions;
  /** With --timeline: the picture of the execution to write. */
  timeline?: string;
  json: boolean;
  help: boolean;
}

/** Reads the options (`--name value` or `--name=value`); throws a UsageError naming a bad one. */
export function parseStartArgs(argv: string[]): StartOptions {
  const parsed = parseArgs(argv, startCommand);
  const scenario: Scenario = {};
  const options: StartOptions = { scenario, json: false, help: parsed.help };
  let failShards: string | undefined;
  for (const [name, given] of parsed.values) {
    const text = String(given);
    const allowed = startCommand.options.find((option) => option.name === name)?.allowed;
    const refuse = (): never => {
      throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
    };
    const wholeNumber = (min: number, max: number): number =>
      /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max ? Number(text) : refuse();
    const duration = (max: number): number => {
      let seconds: number;
      try {
        seconds = parseDuration(text);
      } catch {
        return refuse();
      }
      return seconds <= max ? seconds : refuse();
    };
    switch (name) {
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
        scenario.shards = wholeNumber(1, maxShards);
        break;
      case "--mode":
        scenario.mode = text === "array" || text === "jobs" ? text : refuse();
        break;
      case "--design":
        scenario.design = (designNames as readonly string[]).includes(text)
          ? (text as Scenario["design"])
          : refuse();
        break;
      case "--job-duration":
        scenario.jobDurationSeconds = duration(maxJobDurationSeconds);
        break;
      case "--step-duration":
        scenario.stepDurationSeconds = duration(maxJobDurationSeconds);
        break;
      case "--stop-after":
        scenario.stopAfterSeconds = duration(4 * maxJobDurationSeconds);
        break;
      case "--event-delay":
        scenario.eventDelaySeconds = duration(3600);
        break;
      case "--fail-shards":
        failShards = text;
        break;
      case "--throttle": {
        const rate = Number(text);
        scenario.throttleRate = text.trim() !== "" && rate >= 0 && rate <= 1 ? rate : refuse();
        break;
      }
      case "--stack": {
        const stacks = stackNames();
        if (!stacks.includes(text)) {
          throw new UsageError(
            `--stack ${text}: there is no Pulumi.${text}.yaml; stacks with a file: ${stacks.join(", ") || "(none)"}.`,
          );
        }
        scenario.stack = text;
        break;
      }
      case "--seed":
        scenario.seed = wholeNumber(0, 2 ** 31 - 1);
        break;
      case "--worker":
        scenario.worker = text;
        break;
      case "--input":
        scenario.inputDirectory = text;
        break;
      case "--engine":
        scenario.engine = text === "batch" || text === "transform" ? text : refuse();
        break;
      case "--model-timeout": {
        const seconds = duration(3600);
        scenario.modelTimeoutSeconds = seconds > 0 ? seconds : refuse();
        break;
      }
      case "--set": {
        const [key, configValue] = configSetting(text);
        scenario.config = { ...scenario.config, [key]: configValue };
        break;
      }
    }
  }
  const serveRequest = serveOptionsOf(parsed.values, scenario, failShards);
  if (serveRequest) return { ...options, serve: serveRequest };
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
  const records = recordsScenarioOf(parsed.values, scenario);
  if (records) options.records = records;
  const timeline = svgFileOf(parsed, "--timeline");
  if (!records) checkEngineOptions(scenario, timeline !== undefined, engineOfRun(scenario));
  if (timeline !== undefined) options.timeline = timeline;
  if (records && timeline !== undefined) {
    throw new UsageError("--timeline cannot be combined with --records: it draws one execution.");
  }
  return options;
}

/**
 * Sets the engine the run will use when --engine is not given: the stack's own `engine` (its stack file or
 * --set), so that a stack on the transform engine gets its model and refuses what shapes Batch jobs.
 * Returns how the refusals name it.
 */
function engineOfRun(scenario: Scenario): string {
  if (scenario.engine !== undefined) return `--engine ${scenario.engine}`;
  const stack = scenario.stack ?? scenarioDefaults.stack;
  const engine = stackConfig(stack, scenario.config ?? {})[qualifiedKey("engine")];
  if (engine === "transform") scenario.engine = engine;
  return `engine ${engine} (the ${stack} stack's engine key)`;
}

/** Refuses what cannot shape a single execution on its engine, naming the option and why. */
function checkEngineOptions(scenario: Scenario, timeline: boolean, engine: string): void {
  if (scenario.engine !== "transform") {
    if (scenario.modelTimeoutSeconds !== undefined) {
      throw new UsageError(
        "--model-timeout needs --engine transform: it bounds the transform model's answer.",
      );
    }
    return;
  }
  for (const { field, option, why } of notWithTransformEngine) {
    const given = scenario[field];
    if (given !== undefined && given !== false && !(field === "design" && given === "bridge")) {
      throw new UsageError(`${option} cannot be combined with ${engine}: ${why}.`);
    }
  }
  if (timeline) {
    throw new UsageError(`--timeline cannot be combined with ${engine}: it draws Batch jobs by state.`);
  }
  if (scenario.modelTimeoutSeconds !== undefined && scenario.worker === undefined) {
    throw new UsageError("--model-timeout needs --worker: it bounds the worker's answer as the model.");
  }
}

/** Runs `npm start` with `argv`; resolves to the exit code. */
export async function start(argv: string[], output: CliOutput): Promise<number> {
  const options = readOptions(argv, startCommand, parseStartArgs, output);
  if (typeof options === "number") return options;
  if (options.records) return startRecords(options.records, options.json, output);
  if (options.serve) return serve(options.serve, output);
  try {
    // Every check that needs no render (a worker that cannot start, a missing folder) before anything runs.
    resolveScenario(options.scenario);
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    output.err(`${error.problems.join("\n")}\n${optionsHint(startCommand)}`);
    return 2;
  }
  const progress = new ProgressPrinter((line) => output.err(line));
  const samples: Progress[] = [];
  let summary: Summary;
  // Whatever the program or a library prints goes to stderr: stdout carries only the summary.
  const log = console.log;
  console.log = console.error;
  try {
    // Loaded only for a run: --help and a bad option answer at once.
    const { runExecution } = await import("../local/runner/run");
    const { runConfig } = await import("../local/designs/prepare");
    output.err(describeRun(options.scenario));
    for (const [key, { value, why }] of Object.entries(runConfig(resolveScenario(options.scenario)))) {
      output.err(`Stack config for this run: ${key} = ${JSON.stringify(value)} (${why})`);
    }
    summary = await runExecution(options.scenario, {
      onProgress: (p) => {
        progress.update(p);
        if (options.timeline !== undefined) samples.push(p);
      },
    });
  } catch (error) {
    output.err(`The local execution could not run: ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  if (options.timeline !== undefined) {
    writeFileSync(options.timeline, timelineSvg(samples, summary));
    output.err(`Wrote the picture to ${options.timeline}`);
  }
  output.out(options.json ? JSON.stringify(summary) : `\n${formatSummary(summary)}`);
  return summary.expected ? 0 : 1;
}

function describeRun(scenario: Scenario): string {
  const design = scenario.design === "reference" ? "the reference design" : "the stack";
  return (
    `Running one execution of ${design} locally (${scenario.stack ?? scenarioDefaults.stack} config, ` +
    `${counted(scenario.shards ?? scenarioDefaults.shards, "shard")}, ` +
    (scenario.engine === "transform" ? "as input objects of one transform job, " : "") +
    (scenario.worker !== undefined
      ? `jobs run by ${JSON.stringify(scenario.worker)}, `
      : `${formatDuration(scenario.jobDurationSeconds ?? scenarioDefaults.jobDurationSeconds)} jobs, `) +
    `seed ${scenario.seed ?? scenarioDefaults.seed}); times are simulated:`
  );
}

if (require.main === module) {
  // The SDK warns once per process that its 2027 releases will need Node 22; this project runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(startCommand, start);
}
