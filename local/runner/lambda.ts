/**
 * Lambda for local mode: functions by ARN, invoked with an event and a context whose remaining time runs on
 * the simulated clock. Like Lambda, an invocation takes an idle instance of the function or starts a new
 * one (a cold start: the handler is loaded afresh, with its own SDK clients), so concurrent invocations
 * never share an instance.
 *
 * At the function's timeout the invocation ends, as Lambda stops it: the caller gets `Task timed out after
 * N seconds` at that simulated instant, whatever the handler was waiting for; from then on the handler's
 * timers do not fire and its calls fail before they are sent (invocation-context.ts), and its instance is
 * not reused (Lambda resets the execution environment after a timeout). What it did before the deadline
 * stays done.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";
import type { Handler, LambdaFunctionSpec } from "../designs/design";
import type { SimClock } from "../time/clock";
import { runInInvocation, type InvocationScope } from "./invocation-context";

/** How an invocation ended. */
export type InvocationResult =
  { ok: true; value: unknown } | { ok: false; error: unknown; timedOut: boolean; message: string };

export class LambdaService {
  private readonly functions = new Map<string, LambdaFunctionSpec>();
  private readonly idle = new Map<string, Handler[]>();
  private readonly counts = new Map<string, number>();
  private readonly cold = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timeouts = new Map<string, number>();
  private readonly stopped: InvocationScope[] = [];
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

  /** Invocations Lambda stopped at their timeout, by function name. */
  timedOut(): Record<string, number> {
    return Object.fromEntries([...this.timeouts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Calls that invocations tried to make after their timeout (refused before they were sent). */
  refusedAfterTimeout(): number {
    return this.stopped.reduce((sum, scope) => sum + scope.refusedCalls, 0);
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
    const scope: InvocationScope = {
      functionName: spec.name,
      deadline: this.clock.now() + spec.timeoutSeconds * 1000,
      ended: false,
      refusedCalls: 0,
    };
    let handler = this.idle.get(spec.arn)?.pop();
    try {
      const result = await new Promise<InvocationResult>((resolve) => {
        // Set outside the invocation (an ended one loses its timers). From this instant on, nothing the
        // handler set off runs: a timer due at the same instant, set later, no longer fires.
        const deadline = this.clock.setTimeout(() => {
          scope.ended = true;
          resolve(timedOut(spec));
        }, scope.deadline - this.clock.now());
        const settled = (result: InvocationResult) => {
          this.clock.clearTimeout(deadline);
          resolve(result);
        };
        runInInvocation(scope, async () => {
          if (!handler) {
            this.cold.set(spec.name, (this.cold.get(spec.name) ?? 0) + 1);
            handler = spec.load();
          }
          return handler(event, this.context(spec, scope.deadline));
        }).then(
          (value) => settled({ ok: true, value }),
          (error: unknown) => settled({ ok: false, error, timedOut: false, message: errorMessage(error) }),
        );
      });
      if (result.ok) return result;
      this.countFailure(spec);
      if (result.timedOut) {
        this.stopped.push(scope);
        this.timeouts.set(spec.name, (this.timeouts.get(spec.name) ?? 0) + 1);
        // Lambda resets the execution environment after a timeout: the next invocation starts cold.
        handler = undefined;
      }
      return result;
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
