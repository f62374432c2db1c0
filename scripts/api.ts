/**
 * `npm run api [-- options]`: the stack's records API served locally until interrupted (Ctrl-C), with the
 * base URL and the API key printed, so that curl or a program can submit records and watch them reach
 * their final status. Simulated time runs `--speed` times faster than wall time.
 */
import type { ServedApi } from "../local/runner/records-serve";
import {
  configSetting,
  optionValue,
  parseArgs,
  readOptions,
  runCli,
  UsageError,
  type CliCommand,
  type CliOutput,
  untilInterrupted,
} from "./cli";

export const apiCommand: CliCommand = {
  usage: ["npm run api [-- options]"],
  npmScripts: ["api"],
  description:
    "Serves the stack's records API locally (recordApi on; local AWS servers, simulated time) until\n" +
    "interrupted, and prints its base URL and API key.",
  options: [
    {
      name: "--port",
      value: "P",
      allowed: "a port number from 0 to 65535",
      help: "port to listen on, on 127.0.0.1 (default 0: any free port)",
    },
    {
      name: "--speed",
      value: "X",
      allowed: "a number from 1 to 10000",
      help: "simulated time runs X times faster than wall time (default 10)",
    },
    {
      name: "--stack",
      value: "NAME",
      allowed: "a stack name",
      help: "whose config: Pulumi.<NAME>.yaml (default dev)",
    },
    {
      name: "--set",
      value: "KEY=VALUE",
      allowed: "KEY=VALUE, e.g. recordBatchWindowSeconds=5",
      help: "set a stack config key for this run (a YAML value); repeatable",
    },
  ],
  examples: [
    "npm run api",
    "npm run api -- --port 8080 --speed 60",
    "npm run api -- --set recordBatchWindowSeconds=5",
  ],
};

export interface ApiOptions {
  port: number;
  speed: number;
  stack: string;
  config: Record<string, string | number | boolean | string[]>;
  help: boolean;
}

/** Reads the options; throws a UsageError naming a bad one. */
export function parseApiArgs(argv: string[]): ApiOptions {
  const parsed = parseArgs(argv, apiCommand);
  const number = (name: string, min: number, max: number, fallback: number): number => {
    const text = optionValue(parsed, name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (
      text.trim() === "" ||
      !Number.isFinite(value) ||
      value < min ||
      value > max ||
      (name === "--port" && !Number.isInteger(value))
    ) {
      const allowed = apiCommand.options.find((option) => option.name === name)!.allowed;
      throw new UsageError(`${name} must be ${allowed}, got "${text}".`);
    }
    return value;
  };
  return {
    port: number("--port", 0, 65535, 0),
    speed: number("--speed", 1, 10_000, 10),
    stack: optionValue(parsed, "--stack") ?? "dev",
    config: Object.fromEntries(
      parsed.values.filter(([name]) => name === "--set").map(([, value]) => configSetting(String(value))),
    ),
    help: parsed.help,
  };
}

/**
 * Serves the API; resolves to the exit code once `stopped` resolves (the script passes Ctrl-C), or at once
 * with 1 when it cannot start and 2 for a bad option. `onServing` gets the running API.
 */
export async function api(
  argv: string[],
  output: CliOutput,
  control: { stopped?: Promise<void>; onServing?: (served: ServedApi) => void } = {},
): Promise<number> {
  const options = readOptions(argv, apiCommand, parseApiArgs, output);
  if (typeof options === "number") return options;
  let served: ServedApi;
  const log = console.log;
  console.log = console.error;
  try {
    const { serveRecordsApi } = await import("../local/runner/records-serve");
    served = await serveRecordsApi({
      port: options.port,
      speed: options.speed,
      stack: options.stack,
      config: options.config,
    });
  } catch (error) {
    output.err(`The local records API could not start: ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  output.out(
    [
      `Records API of the ${options.stack} stack, served locally; simulated time runs ${options.speed}x wall time.`,
      `Base URL  ${served.baseUrl}`,
      `API key   ${served.apiKey}`,
      "",
      `curl -s -X POST ${served.baseUrl}/job -H "x-api-key: ${served.apiKey}" -d '{"text": "hello"}'`,
      `curl -s ${served.baseUrl}/job/<job_id> -H "x-api-key: ${served.apiKey}"`,
      "",
      "Press Ctrl-C to stop.",
    ].join("\n"),
  );
  control.onServing?.(served);
  await (control.stopped ?? untilInterrupted());
  await served.stop();
  return 0;
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  runCli(apiCommand, api);
}
