/**
 * `npm run bridge -- start|status|watch|stop [options]`: an operator's commands for a deployed stack,
 * through the AWS SDK. The stack is named by its outputs, as `pulumi stack output --json` prints them (a
 * file, or stdin). Region, credentials and endpoints come from the SDK's usual settings (AWS_REGION,
 * AWS_PROFILE, AWS_ENDPOINT_URL, ...), or from --region and --endpoint; so it runs against local mode's
 * servers (`npm start -- --serve`) as against AWS.
 */
import { BatchClient } from "@aws-sdk/client-batch";
import { terminationReasons } from "../functions/terminate";
import {
  DescribePipelineCommand,
  ListPipelineExecutionsCommand,
  SageMakerClient,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
} from "@aws-sdk/client-sagemaker";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseDuration, formatDuration } from "../local/runner/scenario";
import {
  endedStatuses,
  formatExecution,
  parseStackOutputs,
  progressLine,
  readExecution,
  regionOfArn,
  type ExecutionView,
  type StackOutputs,
} from "./bridge-status";
import {
  optionsHint,
  optionValue,
  parseArgs,
  readOptions,
  runCli,
  UsageError,
  type CliCommand,
  type CliOutput,
} from "./cli";

export const bridgeActions = ["start", "status", "watch", "stop"] as const;
type BridgeAction = (typeof bridgeActions)[number];

/** `npm run bridge`: its options and usage. */
export const bridgeCommand: CliCommand = {
  usage: [
    "npm run bridge -- start|status|watch|stop [options]",
    "pulumi stack output --json | npm run bridge -- status",
  ],
  npmScripts: ["bridge"],
  description:
    "Starts, follows and stops executions of a deployed stack's pipeline through the AWS SDK: step\n" +
    "states, jobs by state, failed shards with their CloudWatch log links, and the step's answer.",
  options: [
    {
      name: "--outputs",
      value: "FILE",
      allowed: "a file",
      help: 'the stack\'s outputs as "pulumi stack output --json" prints them (default: stdin)',
    },
    {
      name: "--execution",
      value: "ARN",
      allowed: "a pipeline execution ARN",
      help: "status, watch, stop: this execution (default: the pipeline's newest)",
    },
    {
      name: "--param",
      value: "NAME=VALUE",
      allowed: "NAME=VALUE, e.g. ShardCount=100",
      help: "start: set a pipeline parameter, checked against the pipeline's; repeatable",
    },
    {
      name: "--interval",
      value: "D",
      allowed: "a duration from 100ms to 1h, e.g. 5s",
      help: "watch: time between two looks (default 10s)",
    },
    {
      name: "--region",
      value: "REGION",
      allowed: "a region, e.g. eu-west-1",
      help: "AWS region (default: AWS_REGION, else the pipeline's)",
    },
    {
      name: "--endpoint",
      value: "URL",
      allowed: "a URL, e.g. http://127.0.0.1:4566",
      help: "send every call to URL, as AWS_ENDPOINT_URL does (npm start -- --serve prints one)",
    },
    { name: "--json", help: "print one JSON object on stdout, nothing else" },
  ],
  examples: [
    "pulumi stack output --json > outputs.json",
    "npm run bridge -- start --outputs outputs.json --param ShardCount=100",
    "npm run bridge -- watch --outputs outputs.json --interval 30s",
    "npm run bridge -- status --outputs outputs.json --execution arn:aws:sagemaker:...",
    "npm run bridge -- stop --outputs outputs.json --json",
  ],
  operands:
    "Commands: start (an execution, with --param), status (of an execution), watch (until it ends;\n" +
    "exit code 0 when it succeeded, 1 when it failed or stopped), stop (and what the bridge does with\n" +
    "its jobs).",
};

export interface BridgeOptions {
  action: BridgeAction;
  outputsFile?: string;
  executionArn?: string;
  parameters: { name: string; value: string }[];
  intervalSeconds: number;
  region?: string;
  endpoint?: string;
  json: boolean;
  help: boolean;
}

/** Reads the command line; throws a UsageError naming what is wrong. */
export function parseBridgeArgs(argv: string[]): BridgeOptions {
  const parsed = parseArgs(argv, bridgeCommand);
  const options: BridgeOptions = {
    action: "status",
    parameters: [],
    intervalSeconds: 10,
    json: parsed.values.some(([name]) => name === "--json"),
    help: parsed.help,
  };
  if (parsed.help) return options;
  if (parsed.operands.length !== 1 || !(bridgeActions as readonly string[]).includes(parsed.operands[0])) {
    const given = parsed.operands.length === 0 ? "none" : parsed.operands.map((o) => `"${o}"`).join(" ");
    throw new UsageError(`Give one command: ${bridgeActions.join(", ")}; got ${given}.`);
  }
  options.action = parsed.operands[0] as BridgeAction;
  const refuse = (name: string, text: string): never => {
    const allowed = bridgeCommand.options.find((option) => option.name === name)?.allowed;
    throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
  };
  for (const [name, given] of parsed.values) {
    const text = String(given);
    switch (name) {
      case "--outputs":
        options.outputsFile = text;
        break;
      case "--execution":
        if (
          !/^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:pipeline\/[^/]+\/execution\/[A-Za-z0-9]+$/.test(text)
        ) {
          refuse(name, text);
        }
        options.executionArn = text;
        break;
      case "--param": {
        const equals = text.indexOf("=");
        const parameter = text.slice(0, equals);
        if (equals <= 0 || !/^[A-Za-z0-9\-_]{1,64}$/.test(parameter)) refuse(name, text);
        options.parameters.push({ name: parameter, value: text.slice(equals + 1) });
        break;
      }
      case "--interval": {
        let seconds: number;
        try {
          seconds = parseDuration(text);
        } catch {
          return refuse(name, text);
        }
        if (seconds < 0.1 || seconds > 3600) refuse(name, text);
        options.intervalSeconds = seconds;
        break;
      }
      case "--region":
        if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(text)) refuse(name, text);
        options.region = text;
        break;
      case "--endpoint":
        if (!/^https?:\/\/[^\s/]+/.test(text)) refuse(name, text);
        options.endpoint = text;
        break;
    }
  }
  const misplaced = (option: string, actions: BridgeAction[], given: boolean) => {
    if (given && !actions.includes(options.action)) {
      throw new UsageError(`${option} is for ${actions.join(" and ")}, not ${options.action}.`);
    }
  };
  misplaced("--param", ["start"], options.parameters.length > 0);
  misplaced("--execution", ["status", "watch", "stop"], options.executionArn !== undefined);
  misplaced("--interval", ["watch"], optionValue(parsed, "--interval") !== undefined);
  return options;
}

/** Where the CLI's inputs come from, so that tests can give them. */
export interface BridgeIo {
  /** The whole of stdin (only read without --outputs). */
  readStdin(): Promise<string>;
  stdinIsTerminal: boolean;
  env: NodeJS.ProcessEnv;
  sleep(seconds: number): Promise<void>;
}

const processIo: BridgeIo = {
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  stdinIsTerminal: process.stdin.isTTY === true,
  env: process.env,
  sleep: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
};

/** A problem with what the user gave that shows only once read (exit 2, like a bad option). */
class InputError extends Error {}

/** Runs `npm run bridge` with `argv`; resolves to the exit code. */
export async function bridge(argv: string[], output: CliOutput, io: BridgeIo = processIo): Promise<number> {
  const options = readOptions(argv, bridgeCommand, parseBridgeArgs, output);
  if (typeof options === "number") return options;
  try {
    const outputs = await readOutputs(options, io);
    const region = options.region ?? io.env.AWS_REGION ?? regionOfArn(outputs.pipelineArn) ?? "us-east-1";
    const settings = {
      region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // Local servers take any signature: on loopback no AWS credentials are needed.
      ...(isLoopback(options.endpoint ?? io.env.AWS_ENDPOINT_URL)
        ? { credentials: loopbackCredentials }
        : {}),
    };
    const clients = { sagemaker: new SageMakerClient(settings), batch: new BatchClient(settings) };
    try {
      const context = { options, outputs, region, clients, output, io };
      switch (options.action) {
        case "start":
          return await startExecution(context);
        case "status":
          return await showStatus(context);
        case "watch":
          return await watchExecution(context);
        case "stop":
          return await stopExecution(context);
      }
    } finally {
      clients.sagemaker.destroy();
      clients.batch.destroy();
    }
  } catch (error) {
    if (error instanceof InputError) {
      output.err(`${error.message}\n${optionsHint(bridgeCommand)}`);
      return 2;
    }
    const { name, message, code } = error as NodeJS.ErrnoException;
    const endpoint = options.endpoint ?? io.env.AWS_ENDPOINT_URL;
    if (code === "ECONNREFUSED" && isLoopback(endpoint)) {
      output.err(`Nothing answers at ${endpoint} (${message}). ${localStackHint}`);
      return 1;
    }
    output.err(`AWS answered ${name}: ${message}`);
    return 1;
  }
}

/**
 * What to do to follow a local run. A plain `npm start` runs one execution in simulated time and stops its
 * servers when it ends (its summary holds the step outputs); only `npm start -- --serve` keeps a stack up
 * for these commands.
 */
export const localStackHint =
  "For a stack on this machine, run npm start -- --serve and pass the Outputs file and the Endpoint it " +
  "prints (--outputs FILE --endpoint URL), while it runs; a plain npm start stops its servers when its " +
  "execution ends, and its summary shows the step outputs (all of them with --json).";

const loopbackCredentials = { accessKeyId: "local", secretAccessKey: "local" };

function isLoopback(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

interface BridgeContext {
  options: BridgeOptions;
  outputs: StackOutputs;
  region: string;
  clients: { sagemaker: SageMakerClient; batch: BatchClient };
  output: CliOutput;
  io: BridgeIo;
}

async function readOutputs(options: BridgeOptions, io: BridgeIo): Promise<StackOutputs> {
  let text: string;
  let source: string;
  if (options.outputsFile !== undefined) {
    source = `--outputs ${options.outputsFile}`;
    try {
      text = readFileSync(options.outputsFile, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // npm start -- --serve deletes its Outputs file when it ends.
      throw new InputError(
        `${source}: cannot read it (${code ?? String(error)}).${code === "ENOENT" ? ` ${localStackHint}` : ""}`,
      );
    }
  } else {
    const nothingGiven =
      "Give the stack's outputs: --outputs FILE, or pipe them in (pulumi stack output --json | npm run " +
      `bridge -- ...). ${localStackHint}`;
    if (io.stdinIsTerminal) throw new InputError(nothingGiven);
    source = "stdin";
    text = await io.readStdin();
    if (text.trim() === "") throw new InputError(nothingGiven);
  }
  const outputs = parseStackOutputs(text);
  if (typeof outputs === "string") throw new InputError(`${source}: ${outputs}.`);
  return outputs;
}

/** A pipeline parameter as the definition declares it. */
interface DeclaredParameter {
  Name: string;
  Type?: string;
  DefaultValue?: unknown;
}

/** The problem with a parameter's value for its declared type, or undefined. */
export function parameterProblem(declared: DeclaredParameter, value: string): string | undefined {
  switch (declared.Type) {
    case "Integer":
      return /^-?\d+$/.test(value) ? undefined : "a whole number";
    case "Float":
      return value.trim() !== "" && Number.isFinite(Number(value)) ? undefined : "a number";
    case "Boolean":
      return value === "true" || value === "false" ? undefined : "true or false";
    default:
      return undefined;
  }
}

async function startExecution({ options, outputs, clients, output }: BridgeContext): Promise<number> {
  const pipeline = await clients.sagemaker.send(
    new DescribePipelineCommand({ PipelineName: outputs.pipelineName }),
  );
  const declared =
    (JSON.parse(pipeline.PipelineDefinition ?? "{}") as { Parameters?: DeclaredParameter[] }).Parameters ??
    [];
  const listing = declared.map((p) => `${p.Name} (${p.Type ?? "String"})`).join(", ") || "none";
  for (const { name, value } of options.parameters) {
    const parameter = declared.find((p) => p.Name === name);
    if (!parameter) {
      throw new InputError(
        `--param ${name}: the pipeline has no such parameter; its parameters: ${listing}.`,
      );
    }
    const problem = parameterProblem(parameter, value);
    if (problem) {
      throw new InputError(`--param ${name}: must be ${problem} (${parameter.Type}), got "${value}".`);
    }
  }
  const started = await clients.sagemaker.send(
    new StartPipelineExecutionCommand({
      PipelineName: outputs.pipelineName,
      ClientRequestToken: randomUUID(),
      PipelineParameters: options.parameters.map(({ name, value }) => ({ Name: name, Value: value })),
    }),
  );
  const executionArn = started.PipelineExecutionArn ?? "";
  if (options.json) {
    output.out(
      JSON.stringify({
        executionArn,
        parameters: Object.fromEntries(options.parameters.map((p) => [p.name, p.value])),
      }),
    );
  } else {
    output.out(`Started ${executionArn}`);
    output.out(`Follow it: npm run bridge -- watch --execution ${executionArn} --outputs <file>`);
  }
  return 0;
}

/** The execution the options name, else the pipeline's newest. */
async function executionOf({ options, outputs, clients }: BridgeContext): Promise<string> {
  if (options.executionArn) return options.executionArn;
  const listed = await clients.sagemaker.send(
    new ListPipelineExecutionsCommand({ PipelineName: outputs.pipelineName, MaxResults: 1 }),
  );
  const newest = listed.PipelineExecutionSummaries?.[0]?.PipelineExecutionArn;
  if (!newest) throw new InputError(`The pipeline ${outputs.pipelineName} has no execution yet: start one.`);
  return newest;
}

async function showStatus(context: BridgeContext): Promise<number> {
  const { outputs, region, clients, output, options } = context;
  const view = await readExecution(clients, outputs, region, await executionOf(context));
  output.out(options.json ? JSON.stringify(view) : formatExecution(view));
  return 0;
}

async function watchExecution(context: BridgeContext): Promise<number> {
  const { outputs, region, clients, output, options, io } = context;
  const executionArn = await executionOf(context);
  if (!options.json) {
    output.err(`Watching ${executionArn} every ${formatDuration(options.intervalSeconds)}:`);
  }
  let last = "";
  let view: ExecutionView;
  // Looks left once the execution has ended with jobs unfinished: none until it ends.
  let looksAfterEnd: number | undefined;
  const note = (text: string) => {
    if (!options.json) output.err(`${new Date().toISOString().slice(11, 19)}  ${text}`);
  };
  for (;;) {
    view = await readExecution(clients, outputs, region, executionArn);
    const line = progressLine(view);
    if (line !== last) note(line);
    last = line;
    if (endedStatuses.includes(view.status)) {
      const unfinished = unfinishedJobs(view);
      if (unfinished === 0) break;
      if (looksAfterEnd === undefined) {
        looksAfterEnd = Math.ceil(jobsEndWaitSeconds / options.intervalSeconds);
        note(
          `${view.status} with ${unfinished} unfinished job(s): following them until the bridge's ` +
            `termination ends them (at most ${formatDuration(jobsEndWaitSeconds)})`,
        );
      } else if (looksAfterEnd-- <= 0) {
        note(
          `${unfinished} job(s) still unfinished ${formatDuration(jobsEndWaitSeconds)} after the end: ` +
            "see the clean-up function's log (docs/operator-cli.md)",
        );
        break;
      }
    }
    await io.sleep(options.intervalSeconds);
  }
  output.out(options.json ? JSON.stringify(view) : `\n${formatExecution(view)}`);
  return view.status === "Succeeded" ? 0 : 1;
}

/**
 * How long `watch` follows an ended execution's unfinished jobs. The bridge terminates them as the
 * execution ends (the Callback step's Stopping message, or the clean-up function on EventBridge's status
 * change, seconds later); a running Fargate job then gets SIGTERM and up to its stopTimeout (30 s by default,
 * at most 120 s) before SIGKILL, and Batch marks it FAILED once its task has stopped.
 */
const jobsEndWaitSeconds = 300;

function unfinishedJobs(view: ExecutionView): number {
  return view.jobs.reduce((sum, jobs) => sum + jobs.unfinished, 0);
}

async function stopExecution(context: BridgeContext): Promise<number> {
  const { outputs, region, clients, output, options } = context;
  const executionArn = await executionOf(context);
  const before = await readExecution(clients, outputs, region, executionArn);
  if (endedStatuses.includes(before.status)) {
    throw new InputError(`The execution has ended (${before.status}): there is nothing to stop.`);
  }
  await clients.sagemaker.send(
    new StopPipelineExecutionCommand({
      PipelineExecutionArn: executionArn,
      ClientRequestToken: randomUUID(),
    }),
  );
  const plan = whatTheBridgeDoes(before);
  if (options.json) {
    output.out(
      JSON.stringify({ executionArn, stopRequested: true, unfinishedJobs: unfinishedJobs(before), plan }),
    );
  } else {
    output.out(`Stop requested for ${executionArn}.\n${plan}`);
  }
  return 0;
}

/** What happens to the execution's jobs once it is asked to stop, as docs/architecture.md describes it. */
export function whatTheBridgeDoes(view: ExecutionView): string {
  const unfinished = unfinishedJobs(view);
  const running = view.steps.at(-1);
  if (running?.status === "Executing" && running.type === "Lambda") {
    return (
      `${running.name} is a Lambda step, which runs to its end; the execution then becomes Stopped and the ` +
      `clean-up function terminates every job it submitted (status reason "${terminationReasons.stopped}").`
    );
  }
  if (unfinished === 0) return "None of its jobs is unfinished: the bridge has nothing to terminate.";
  const waiting =
    running?.status === "Executing" && running.type === "Callback" ? running.name : "the waiting step";
  return (
    `SageMaker sends ${waiting} a Stopping message; the bridge terminates its ${unfinished} unfinished ` +
    `job(s) (status reason "${terminationReasons.stopped}"), answers the step, and ` +
    "the execution becomes Stopped. Anything left is terminated by the clean-up function."
  );
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(bridgeCommand, bridge);
}
