/**
 * The process as the functions see it during a local execution, and how the runner knows that everything
 * started so far has come to rest.
 *
 * Simulated time for everything in the execution: while it runs, the global timers, `Date` and
 * `Math.random` are the simulation's. The functions' own code reads them (their clocks, rate limiters and
 * jittered back-off), and so does the AWS SDK (its retry back-off and adaptive rate limiter): a throttled
 * call backs off in simulated time, during which Batch's quota refills, exactly as it would in AWS. The
 * local servers already run on the same clock. Everything is restored when the execution ends; two
 * executions must not run at once in one process.
 *
 * A Lambda invocation stopped at its timeout has no further effect: its timers do not fire and its HTTP
 * requests fail before they are sent (invocation-context.ts).
 *
 * Rest: time is frozen and moves only when the runner steps it to the next timer, which it does once no
 * HTTP request to a local server is in flight, no file-system request is pending, no timer is due and the
 * event loop has turned a few times without anything new starting. A function waiting on a timer (a
 * back-off, a rate limiter) is then waiting on simulated time, and stepping the clock wakes it. So every
 * simulated figure is exact and a run gives the same figures for the same seed.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import * as http from "node:http";
import type { ClientRequest, ServerResponse } from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { SimTimer, type SimClock } from "../time/clock";
import { seededRandom } from "../time/random";
import { inProcessRequests, type InProcessRequestStart } from "../in-process-http";
import { currentInvocation, refuseIfInvocationEnded } from "./invocation-context";

/** Turns of the event loop with nothing new before the runner calls the process at rest. */
const quietTurns = 3;

/** The process-wide state a run replaces, to put back afterwards. */
interface SavedGlobals {
  setTimeout: typeof globalThis.setTimeout;
  clearTimeout: typeof globalThis.clearTimeout;
  setInterval: typeof globalThis.setInterval;
  clearInterval: typeof globalThis.clearInterval;
  Date: DateConstructor;
  random: () => number;
  env: Record<string, string | undefined>;
}

let active = false;
/** Puts back what the active run replaced (once); undefined when no run is active. */
let restoreActive: (() => void) | undefined;

/**
 * Environment for a run: the local servers' endpoints, dummy credentials, and AWS configuration files that
 * do not exist, so that neither the functions nor the SDK read the user's AWS profile.
 */
export function localAwsEnvironment(
  endpoints: Record<string, string>,
  region: string,
): Record<string, string> {
  const missing = path.join(os.tmpdir(), "sagemaker-batch-bridge-local-mode-has-no-aws-config");
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_SESSION_TOKEN: "",
    AWS_PROFILE: "",
    AWS_CONFIG_FILE: missing,
    AWS_SHARED_CREDENTIALS_FILE: missing,
    AWS_EC2_METADATA_DISABLED: "true",
    ...Object.fromEntries(
      Object.entries(endpoints).map(([service, endpoint]) => [`AWS_ENDPOINT_URL_${service}`, endpoint]),
    ),
  };
}

/**
 * Makes the global timers, `Date` and `Math.random` the simulation's and sets `env` in `process.env`.
 * Returns the function that restores all of it.
 */
export function installSimulatedProcess(
  clock: SimClock,
  seed: number,
  env: Record<string, string>,
): () => void {
  if (active) throw new Error("A local execution is already running in this process; run one at a time.");
  active = true;
  const globals = clock.globals();
  const saved: SavedGlobals = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
    Date: globalThis.Date,
    random: Math.random,
    env: Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]])),
  };
  // Handles of real timers created before the run can still be cleared with the simulated functions.
  const clearEither = (timer: unknown): void => {
    if (timer instanceof SimTimer) globals.clearTimeout(timer);
    else saved.clearTimeout(timer as NodeJS.Timeout);
  };
  Object.assign(globalThis, {
    setTimeout: (callback: () => void, delayMs?: number, ...args: unknown[]) =>
      globals.setTimeout(unlessInvocationEnded(callback), nodeDelay(delayMs), ...args),
    setInterval: (callback: () => void, delayMs?: number, ...args: unknown[]) =>
      globals.setInterval(unlessInvocationEnded(callback), nodeDelay(delayMs), ...args),
    clearTimeout: clearEither,
    clearInterval: clearEither,
    Date: globals.Date,
  });
  Math.random = seededRandom(seed);
  subscribe("http.server.request.start", stampSimulatedDate);
  const addRequest = agentPrototype.addRequest;
  agentPrototype.addRequest = function (this: http.Agent, request: ClientRequest, ...rest: unknown[]) {
    if (refusedForEndedInvocation(request)) return;
    addRequest.call(this, request, ...rest);
  };
  for (const [key, value] of Object.entries(env)) {
    if (value === "") delete process.env[key];
    else process.env[key] = value;
  }
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    restoreActive = undefined;
    Object.assign(globalThis, {
      setTimeout: saved.setTimeout,
      clearTimeout: saved.clearTimeout,
      setInterval: saved.setInterval,
      clearInterval: saved.clearInterval,
      Date: saved.Date,
    });
    Math.random = saved.random;
    unsubscribe("http.server.request.start", stampSimulatedDate);
    agentPrototype.addRequest = addRequest;
    for (const [key, value] of Object.entries(saved.env)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    active = false;
  };
  restoreActive = restore;
  return restore;
}

/**
 * Puts back the process-wide state of a run that will not end (its caller gave up on it, as a test
 * framework does at a timeout), so that the next run can start; false when no run is active.
 */
export function abandonSimulatedProcess(): boolean {
  if (!restoreActive) return false;
  restoreActive();
  return true;
}

/**
 * A timer set by a Lambda invocation does not fire once the invocation has ended: Lambda stopped it, and
 * nothing it was waiting for resumes (invocation-context.ts).
 */
function unlessInvocationEnded(callback: (...args: unknown[]) => void): (...args: unknown[]) => void {
  const invocation = currentInvocation();
  if (!invocation) return callback;
  return (...args) => {
    if (!invocation.ended) callback(...args);
  };
}

/** `http.Agent`'s undocumented method that every request through an agent (the SDK's included) calls first. */
const agentPrototype = http.Agent.prototype as unknown as {
  addRequest(this: http.Agent, request: ClientRequest, ...rest: unknown[]): void;
};

/**
 * A request an ended invocation starts fails before it has a socket, so nothing is sent: a stopped
 * function makes no calls. It fails as a request whose connection could not be made does (the agent hands
 * it the error instead of a socket). True when refused.
 */
function refusedForEndedInvocation(request: ClientRequest): boolean {
  try {
    refuseIfInvocationEnded();
    return false;
  } catch (error) {
    (request as unknown as { onSocket(socket: null, error: Error): void }).onSocket(null, error as Error);
    return true;
  }
}

/**
 * Answers of the local servers carry the simulated time in their `Date` header. Node would send the wall
 * time, and the SDK, seeing a clock hours or years off, would correct for the skew and retry every error
 * of that call as a clock-skew error.
 */
function stampSimulatedDate(message: unknown): void {
  const { response } = message as { response: ServerResponse };
  response.setHeader("date", new Date().toUTCString());
}

/**
 * A delay as Node's timers take it: anything below 1 ms (or not a number) waits 1 ms, fractions round up.
 * The simulated clock would fire a zero delay without moving time, and code that sleeps a computed fraction
 * of a millisecond in a loop (the SDK's adaptive rate limiter does) would then never see time pass.
 */
function nodeDelay(delayMs: number | undefined): number {
  const delay = Number(delayMs);
  return delay >= 1 && delay <= 2 ** 31 - 1 ? Math.ceil(delay) : 1;
}

/** A request as `HttpActivity` shows it to its observer: where it goes and its headers. */
export interface ObservedRequest {
  /** `127.0.0.1:<port>`, the request's `host` header. */
  host: string;
  header(name: string): string | undefined;
}

/**
 * HTTP requests made in this process, counted from their start until their response has been read: those
 * over a socket, and those handed to a server in this process (in-process-http.ts).
 */
export class HttpActivity {
  private inFlight = 0;
  private changes = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly onStart = (message: unknown): void => {
    const request = (message as { request: ClientRequest }).request;
    this.observe({
      host: String(request.getHeader("host")),
      header: (name) => headerText(request.getHeader(name)),
    });
    // A request emits `close` once its response has ended, or after an error.
    request.once("close", this.started());
  };
  private readonly onInProcessStart = (message: unknown): void => {
    const { host, headers, done } = message as InProcessRequestStart;
    const lowerCase = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
    this.observe({ host, header: (name) => lowerCase.get(name.toLowerCase()) });
    void done.then(this.started());
  };

  /** `observe` sees every request as it starts (e.g. to count calls by operation). */
  constructor(private readonly observe: (request: ObservedRequest) => void = () => undefined) {
    subscribe("http.client.request.start", this.onStart);
    inProcessRequests.subscribe(this.onInProcessStart);
  }

  /** Counts a request in flight; returns what to call (once or more) when it has finished. */
  private started(): () => void {
    this.inFlight += 1;
    this.changes += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
      this.changes += 1;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    };
  }

  /** Stops counting. */
  close(): void {
    unsubscribe("http.client.request.start", this.onStart);
    inProcessRequests.unsubscribe(this.onInProcessStart);
  }

  /** Requests started and not yet finished. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Grows whenever a request starts or finishes. */
  get version(): number {
    return this.changes;
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

function headerText(value: number | string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Resolves after the event loop's current turn (I/O callbacks included). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** True while the file system still has to answer a request (the SDK reads its config files lazily). */
function fileSystemBusy(): boolean {
  return process.getActiveResourcesInfo().some((type) => type.startsWith("FSReq"));
}

/**
 * Resolves once the process is at rest: no request in flight, no file-system request pending, no timer of
 * `clock` due now, and `quietTurns` turns of the event loop in a row without a request starting or ending.
 */
export async function settle(activity: HttpActivity, clock: SimClock): Promise<void> {
  let quiet = 0;
  let seen = activity.version;
  while (quiet < quietTurns) {
    if (activity.requestsInFlight > 0) {
      await activity.whenIdle();
      quiet = 0;
    }
    const next = clock.nextTimerAt();
    if (next !== undefined && next <= clock.now()) {
      clock.fireDueTimers();
      quiet = 0;
    }
    await nextTurn();
    if (activity.version !== seen || activity.requestsInFlight > 0 || fileSystemBusy()) {
      seen = activity.version;
      quiet = 0;
    } else {
      quiet += 1;
    }
  }
}
