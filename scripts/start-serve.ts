/**
 * `npm start -- --serve`: the stack deployed into the local servers and kept up until Ctrl-C, for
 * `npm run bridge`, the AWS CLI or an SDK. Its options, the serve they ask for, and what it prints: the
 * endpoint, the outputs file, and commands that work as printed.
 */
import type { StackServeOptions } from "../local/runner/stack-serve";
import { scenarioDefaults, type Scenario } from "../local/runner/scenario";
import { UsageError, untilInterrupted, type CliOption, type CliOutput, type ParsedArgs } from "./cli";

const defaultSpeed = 10;

export const serveOptions: CliOption[] = [
  {
    name: "--serve",
    help:
      "deploy the stack into the local servers and serve it until Ctrl-C: prints one endpoint\n" +
      "and the stack's outputs file, for npm run bridge (executions started through the API run)",
  },
  {
    name: "--speed",
    value: "X",
    allowed: "a number from 1 to 10000",
    help: `with --serve: simulated time runs X times faster than wall time (default ${defaultSpeed})`,
  },
];

/** Options that shape the one execution npm start runs, which a served stack does not run. */
const executionOnly: Partial<Record<keyof Scenario, string>> = {
  shards: "--shards",
  stopAfterSeconds: "--stop-after",
  throttleRate: "--throttle",
  duplicateDeliveries: "--duplicate-deliveries",
  worker: "--worker",
  inputDirectory: "--input",
  design: "--design",
};

/** The serve the command line asks for, or undefined without --serve; throws a UsageError for a bad one. */
export function serveOptionsOf(
  values: ParsedArgs["values"],
  scenario: Scenario,
  failShards: string | undefined,
): StackServeOptions | undefined {
  const given = new Map(values.map(([name, value]) => [name, String(value)]));
  if (!given.has("--serve")) {
    if (given.has("--speed")) throw new UsageError("--speed needs --serve.");
    return undefined;
  }
  for (const [field, option] of Object.entries(executionOnly)) {
    if (scenario[field as keyof Scenario] !== undefined) {
      throw new UsageError(`${option} cannot be combined with --serve: it shapes npm start's own execution.`);
    }
  }
  for (const option of ["--records", "--json", "--timeline", "--engine", "--model-timeout"]) {
    if (given.has(option)) throw new UsageError(`${option} cannot be combined with --serve.`);
  }
  const speedText = given.get("--speed");
  const speed = speedText === undefined ? defaultSpeed : Number(speedText);
  if (speedText !== undefined && !(speedText.trim() !== "" && speed >= 1 && speed <= 10_000)) {
    throw new UsageError(`--speed must be ${serveOptions[1].allowed}, got "${speedText}".`);
  }
  const indexes = failShards === undefined ? [] : failShards.split(",").map((part) => part.trim());
  if (indexes.some((part) => !/^\d+$/.test(part) || Number(part) >= 10_000)) {
    throw new UsageError(
      `--fail-shards must list shard indexes from 0 to 9999 separated by commas, got "${failShards}".`,
    );
  }
  return {
    stack: scenario.stack ?? scenarioDefaults.stack,
    config: scenario.config ?? {},
    mode: scenario.mode,
    jobDurationSeconds: scenario.jobDurationSeconds ?? scenarioDefaults.jobDurationSeconds,
    failShards: indexes.map(Number),
    speed,
    seed: scenario.seed ?? scenarioDefaults.seed,
    eventDelaySeconds: scenario.eventDelaySeconds ?? scenarioDefaults.eventDelaySeconds,
  };
}

/**
 * Serves the stack until `stopped` resolves (by default SIGINT or SIGTERM); resolves to the exit code (1
 * when it cannot start).
 */
export async function serve(
  options: StackServeOptions,
  output: CliOutput,
  stopped: Promise<void> = untilInterrupted(),
): Promise<number> {
  const log = console.log;
  console.log = console.error;
  let served;
  try {
    const { serveStack } = await import("../local/runner/stack-serve");
    served = await serveStack(options);
  } catch (error) {
    output.err(`The local stack could not start: ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  const { endpoint, outputsFile } = served;
  const pipelineName = String(served.outputs.pipelineName);
  output.out(
    [
      `The ${options.stack} stack, deployed into local servers and served until Ctrl-C; simulated time runs ${options.speed}x wall time.`,
      `Endpoint  ${endpoint}`,
      `Outputs   ${outputsFile}`,
      "",
      `npm run bridge -- start --outputs ${outputsFile} --endpoint ${endpoint}`,
      `npm run bridge -- watch --outputs ${outputsFile} --endpoint ${endpoint}`,
      `AWS_ENDPOINT_URL=${endpoint} AWS_REGION=${served.region} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\`,
      `  aws sagemaker list-pipeline-executions --pipeline-name ${pipelineName}`,
      "",
      "Press Ctrl-C to stop.",
    ].join("\n"),
  );
  await stopped;
  await served.stop();
  return 0;
}
