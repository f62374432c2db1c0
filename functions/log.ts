import { Logger } from "@aws-lambda-powertools/logger";

/** Structured logging, one JSON line per call (the Powertools Logger fits it). */
export interface Log {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/**
 * The Powertools service name of a function, `sagemaker-batch-bridge-<part>` (`submit`, `monitor`,
 * `job-event`, `records-api`, ...): the stack sets it as POWERTOOLS_SERVICE_NAME, and a handler built
 * without that variable names itself the same.
 */
export function logServiceName(part: string): string {
  return `sagemaker-batch-bridge-${part}`;
}

/** A handler's logger, named by the stack's POWERTOOLS_SERVICE_NAME, else by `logServiceName(part)`. */
export function functionLogger(env: NodeJS.ProcessEnv, part: string): Logger {
  return new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME || logServiceName(part) });
}
