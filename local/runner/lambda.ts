/**
 * Lambda for local mode: functions by ARN, invoked with an event and a context whose remaining time runs on
 * the simulated clock. Like Lambda, an invocation takes an idle instance of the function or starts a new
 * one (a cold start: the handler is loaded afresh, with its own SDK clients), so concurrent invocations
 * never share an instance. An invocation that ran past the function's timeout counts as failed, as Lambda
 * would have stopped it (whatever it did before that stays done).
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";
import type { Handler, LambdaFunctionSpec } from "../designs/design";
import type { SimClock } from "../time/clock";

/** How an invocation ended. */
export type InvocationResult =
  { ok: true; value: unknown } | { ok: false; error: unknown; timedOut: boolean; message: string };

export class LambdaService {
  private readonly functions = new Map<string, LambdaFunctionSpec>();
  private readonly idle = new Map<string, Handler[]>();
  private readonly counts = new Map<string, number>();
  private readonly cold = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private running = 0;

  constructor(
    private readonly clock: SimClock,
    specs: readonly LambdaFunctionSpec[],
  ) {
    for (const spec of specs) this.functions.set(spec.arn, spec);
  }

  /** The function with this ARN (or name), or undefined. */
  find(arnOrName: string): LambdaFunctionSpec | undefined {
    return (
      this.functions.get(arnOrName) ??
      [...this.functions.values()].find((f) => f.functionName === arnOrName || f.name === arnOrName)
    );
  }

  /** Invocations in progress. */
  get inFlight(): number {
    return this.running;
  }

  /** Invocations so far, by function name. */
  invocations(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Invocations that threw or timed out, by function name. */
  errors(): Record<string, number> {
    return Object.fromEntries([...this.failures.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Instances started so far, by function name. */
  coldStarts(): Record<string, number> {
    return Object.fromEntries([...this.cold.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Invokes the function synchronously (RequestResponse); never throws for the function's own errors. */
  async invoke(arn: string, event: unknown): Promise<InvocationResult> {
    const spec = this.find(arn);
    if (!spec) {
      throw new Error(
        `No function ${arn} in this design (functions: ${[...this.functions.keys()].join(", ")}).`,
      );
    }
    this.counts.set(spec.name, (this.counts.get(spec.name) ?? 0) + 1);
    this.running += 1;
    const startedAt = this.clock.now();
    const deadline = startedAt + spec.timeoutSeconds * 1000;
    let handler: Handler | undefined;
    try {
      handler = this.idle.get(spec.arn)?.pop();
      if (!handler) {
        this.cold.set(spec.name, (this.cold.get(spec.name) ?? 0) + 1);
        handler = spec.load();
      }
      const value = await handler(event, this.context(spec, deadline));
      if (this.clock.now() <= deadline) return { ok: true, value };
      this.countFailure(spec);
      return timedOut(spec);
    } catch (error) {
      this.countFailure(spec);
      if (this.clock.now() > deadline) return timedOut(spec);
      return { ok: false, error, timedOut: false, message: errorMessage(error) };
    } finally {
      // An instance that loaded serves the next invocation, as a warm Lambda container does.
      if (handler) {
        const pool = this.idle.get(spec.arn) ?? [];
        pool.push(handler);
        this.idle.set(spec.arn, pool);
      }
      this.running -= 1;
    }
  }

  private countFailure(spec: LambdaFunctionSpec): void {
    this.failures.set(spec.name, (this.failures.get(spec.name) ?? 0) + 1);
  }

  private context(spec: LambdaFunctionSpec, deadline: number): Context {
    const clock = this.clock;
    const unsupported = (what: string) => () => {
      throw new Error(`context.${what} is not available in local mode; return or throw instead`);
    };
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: spec.functionName,
      functionVersion: "$LATEST",
      invokedFunctionArn: spec.arn,
      memoryLimitInMB: String(spec.memoryMiB),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${spec.functionName}`,
      logStreamName: `local/[$LATEST]${spec.functionName}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now()),
      done: unsupported("done"),
      fail: unsupported("fail"),
      succeed: unsupported("succeed"),
    };
  }
}

function timedOut(spec: LambdaFunctionSpec): InvocationResult {
  const message = `Task timed out after ${spec.timeoutSeconds.toFixed(2)} seconds`;
  return { ok: false, error: new Error(message), timedOut: true, message };
}

/** `Name: message`, as Lambda reports a function's error. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
