/** How the handlers tell AWS errors apart: retry later, or give up. */
import type { Clock } from "./clock";

interface AwsErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

const throttlingNames: readonly string[] = [
  "TooManyRequestsException",
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "ProvisionedThroughputExceededException",
  "SlowDown",
];

/** A 429 or a throttling error code (Batch answers TooManyRequestsException above 50 SubmitJob/s). */
export function isThrottlingError(error: unknown): boolean {
  const e = (error ?? {}) as AwsErrorShape;
  return (
    e.$metadata?.httpStatusCode === 429 ||
    e.$retryable?.throttling === true ||
    (e.name !== undefined && throttlingNames.includes(e.name))
  );
}

/**
 * A call that kept failing with errors worth retrying until the invocation had no time left for another
 * attempt: worth retrying in a later invocation.
 */
export class OutOfTimeError extends Error {
  override readonly name = "OutOfTimeError";
  constructor(
    readonly operation: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(
      `${operation} was not accepted before the invocation's time ran out (${attempts} attempt` +
        `${attempts === 1 ? "" : "s"}${lastError === undefined ? "" : `, the last: ${describeError(lastError)}`})`,
    );
  }
}

/** Worth retrying later: throttling, a 5xx, no answer at all (network, timeout), or out of time. */
export function isTransientError(error: unknown): boolean {
  if (isThrottlingError(error) || error instanceof OutOfTimeError) return true;
  const e = (error ?? {}) as AwsErrorShape;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  const name = e.name ?? "";
  return (
    name === "TimeoutError" ||
    name === "RequestTimeout" ||
    name === "NetworkingError" ||
    name === "AbortError" ||
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN)$/.test((error as { code?: string })?.code ?? "")
  );
}

/** A short description of an error for logs and failure reasons. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Calls `request`, retrying throttling errors with exponential backoff and full jitter, on top of the
 * SDK's own retries (SageMaker's answers; Batch calls go through batch-calls.ts instead). Other errors, and
 * throttling that outlasts `attempts`, are rethrown.
 */
export async function retryThrottled<T>(
  request: () => Promise<T>,
  clock: Clock,
  attempts = 6,
  baseDelayMs = 250,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (attempt >= attempts || !isThrottlingError(error)) throw error;
      const ceiling = baseDelayMs * 2 ** (attempt - 1);
      await clock.sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    }
  }
}
