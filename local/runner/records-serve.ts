/**
 * `npm run api`: the stack's records API served on this machine until stopped, for a person with curl or
 * a program with an HTTP client. Everything runs as in `npm start -- --records`, but simulated time flows
 * on its own, `speed` times faster than wall time, and Lambda's pollers read the queues every simulated
 * second. With speed 0 time stands still until the caller moves it (`runUntilQuiet`), which is how tests
 * drive it deterministically.
 */
import type { JobMode } from "../../functions/step-contract";
import type { ConfigValue } from "../../render/stack-files";
import { prepareDesign } from "../designs/prepare";
import { SimClock } from "../time/clock";
import { RecordsWorld } from "./records-world";
import { settle } from "./simulated-process";

export interface ServeOptions {
  stack?: string;
  config?: Record<string, ConfigValue>;
  mode?: JobMode;
  /** Simulated ms per wall ms (default 10); 0: time moves only through `runUntilQuiet`. */
  speed?: number;
  /** Port of the API's stage (default 0: any free port). */
  port?: number;
  jobDurationSeconds?: number;
  seed?: number;
  functionLogs?: boolean;
  /** The functions reach the local servers over HTTP with signed requests (records-world.ts). */
  overHttp?: boolean;
}

/** A served API. */
export interface ServedApi {
  /** `http://127.0.0.1:<port>/v1`. */
  baseUrl: string;
  apiKey: string;
  /** With speed 0: runs what is due, moving the clock from timer to timer, until everything is at rest. */
  runUntilQuiet(limitSeconds?: number): Promise<void>;
  stop(): Promise<void>;
}

export const serveDefaults = { stack: "dev", speed: 10, jobDurationSeconds: 120, seed: 1 } as const;

/** Starts the API and everything behind it; resolves once it answers. */
export async function serveRecordsApi(options: ServeOptions = {}): Promise<ServedApi> {
  const speed = options.speed ?? serveDefaults.speed;
  const jobDurationSeconds = options.jobDurationSeconds ?? serveDefaults.jobDurationSeconds;
  const design = await prepareDesign({
    design: "bridge",
    stack: options.stack ?? serveDefaults.stack,
    config: { ...options.config, recordApi: true },
    mode: options.mode,
    shards: 1,
    jobDurationSeconds,
    functionLogs: options.functionLogs ?? false,
  });
  const clock = new SimClock({ speed, startMs: Date.now() });
  const world = await RecordsWorld.start({
    design,
    clock,
    seed: options.seed ?? serveDefaults.seed,
    jobDurationSeconds,
    eventDelaySeconds: 1,
    failureOf: () => undefined,
    port: options.port,
    overHttp: options.overHttp,
  });
  // Lambda's pollers: a receive on every subscribed queue each simulated second, while time flows.
  const stopPollers = speed > 0 ? world.pollEverySecond() : undefined;
  return {
    baseUrl: world.apiGateway.baseUrl,
    apiKey: world.apiGateway.apiKey,
    async runUntilQuiet(limitSeconds = 7 * 24 * 3600) {
      if (speed !== 0) throw new Error("runUntilQuiet drives a frozen clock: serve with speed 0.");
      const deadline = clock.now() + limitSeconds * 1000;
      for (;;) {
        await settle(world.activity, clock);
        if (world.error !== undefined) throw world.error;
        if (await world.pollQueues()) continue;
        if (await world.quiet()) return;
        if (clock.now() >= deadline) return;
        if (clock.advanceToNextTimer(deadline) === undefined) clock.advanceTo(deadline);
      }
    },
    async stop() {
      stopPollers?.();
      await world.stop();
      clock.stop();
    },
  };
}
