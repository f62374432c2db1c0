/**
 * Which Lambda invocation the running code belongs to, so that an invocation can end at its timeout as it
 * does in Lambda: a function's timeout is "the amount of time that Lambda allows a function to run before
 * stopping it" (Lambda API reference, CreateFunction `Timeout`), and after a timeout Lambda resets the
 * execution environment (Lambda developer guide, "Understanding the Lambda execution environment
 * lifecycle", failures during the Invoke phase).
 *
 * Local mode runs every function in this one process, so an invocation is an async context: everything its
 * handler set off, through promises, timers and I/O callbacks. Once the invocation has ended, the process
 * (simulated-process.ts) fires none of its timers and refuses its HTTP requests before they are sent, so
 * that it has no further effect, as a stopped function has none.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** One invocation, as the code it runs is tagged with it. */
export interface InvocationScope {
  /** The function's name in the summary, e.g. `batch-bridge-submit`. */
  functionName: string;
  /** Simulated time (ms) at which Lambda stops it. */
  deadline: number;
  /** True once Lambda has stopped it: it may not act any more. */
  ended: boolean;
  /** Calls it tried to make after it ended, refused. */
  refusedCalls: number;
}

const storage = new AsyncLocalStorage<InvocationScope>();

/** Runs `handler` (and everything it sets off) as part of `scope`. */
export function runInInvocation<T>(scope: InvocationScope, handler: () => T): T {
  return storage.run(scope, handler);
}

/** The invocation the calling code belongs to, or undefined outside any. */
export function currentInvocation(): InvocationScope | undefined {
  return storage.getStore();
}

/**
 * Throws `InvocationEndedError` when the calling code belongs to an invocation that has ended, counting the
 * refused call: what every request a function sends goes through first, over a socket or in this process.
 */
export function refuseIfInvocationEnded(): void {
  const invocation = currentInvocation();
  if (!invocation?.ended) return;
  invocation.refusedCalls += 1;
  throw new InvocationEndedError(invocation);
}

/**
 * Runs `serve` outside any invocation: a local server answering in this process is not part of the
 * function that called it, and its timers must fire after that invocation has ended.
 */
export function outsideInvocation<T>(serve: () => T): T {
  return storage.exit(serve);
}

/** The error a call of an ended invocation fails with (no SDK retries it: it is not a transient error). */
export class InvocationEndedError extends Error {
  override readonly name = "InvocationEndedError";

  constructor(scope: InvocationScope) {
    super(
      `${scope.functionName} was stopped at its timeout (${new Date(scope.deadline).toISOString()}): ` +
        `a stopped invocation makes no further calls`,
    );
  }
}
