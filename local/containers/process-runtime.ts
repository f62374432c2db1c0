/**
 * Containers as local processes: the user's worker command plays the image's entry point, and the job's
 * command (the job definition's, `Ref::` resolved) follows it as arguments, as Docker appends a task's
 * command to the image's ENTRYPOINT. Each attempt is one `/bin/sh -c` process in a process group of its
 * own, with its stdout and stderr written to one log file per attempt (the job's log, as the awslogs driver
 * keeps one stream per attempt).
 *
 * The worker inherits this process's environment (PATH, HOME, ...) without any AWS_* setting, so that it
 * can reach only what local mode serves, then gets the local AWS settings (S3 endpoint, dummy credentials)
 * and the container's environment.
 *
 * Stopping a container is ECS's StopTask: SIGTERM to the whole group, then SIGKILL if it has not exited
 * after the stop timeout (30 s by default on Fargate:
 * https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html).
 *
 * Exits are queued, not reported at once: the runner moves the simulated clock to the moment an exit
 * happened and then delivers it (`deliverExits`), so that each attempt lasts, in simulated time, as long
 * as its process ran.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { constants } from "node:os";
import * as path from "node:path";
import type { ContainerExit, ContainerLaunch, ContainerRuntime, RunningContainer } from "../batch/scenario";

/** Wall-clock timers, captured before a local run replaces the globals with simulated ones. */
const wallSetTimeout = globalThis.setTimeout;
const wallClearTimeout = globalThis.clearTimeout;

/**
 * Resolves after `wallMs` of real time, or sooner when the function handed to `setWake` is called; hands
 * `setWake` undefined once resolved.
 */
export function wallWaitOrWake(
  wallMs: number,
  setWake: (wake: (() => void) | undefined) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const timer = wallSetTimeout(() => done(), Math.max(0, Math.min(wallMs, 2 ** 31 - 1)));
    const done = (): void => {
      wallClearTimeout(timer);
      setWake(undefined);
      resolve();
    };
    setWake(done);
  });
}

/** ECS's default stop timeout on Fargate: SIGKILL follows SIGTERM after it. */
export const defaultStopGraceMs = 30_000;

export interface ProcessRuntimeOptions {
  /** The worker command, run by `/bin/sh -c` with the job's command as its arguments. */
  command: string;
  /** AWS settings every worker gets (endpoint, credentials, config files), before the container's own. */
  awsEnvironment: Record<string, string>;
  /** Folder of the log files (created when missing). */
  logsDirectory: string;
  /** Wall ms from SIGTERM to SIGKILL when a container is stopped (default 30 s, as ECS). */
  stopGraceMs?: number;
}

/** One process started for an attempt. */
export interface ProcessRecord {
  jobId: string;
  jobName: string;
  arrayIndex?: number;
  attempt: number;
  logFile: string;
  /** Undefined while it runs. */
  exitCode?: number;
  /** True when it was stopped (a timeout or TerminateJob), not when it ended on its own. */
  stopped: boolean;
}

interface Pending {
  onExit: (exit: ContainerExit) => void;
  exit: ContainerExit;
}

export class ProcessRuntime implements ContainerRuntime {
  readonly processes: ProcessRecord[] = [];
  private readonly live = new Set<ChildProcess>();
  private readonly pending: Pending[] = [];
  private wake: (() => void) | undefined;
  private readonly stopGraceMs: number;

  constructor(private readonly options: ProcessRuntimeOptions) {
    this.stopGraceMs = options.stopGraceMs ?? defaultStopGraceMs;
    mkdirSync(options.logsDirectory, { recursive: true });
  }

  /** Processes still running. */
  get running(): number {
    return this.live.size;
  }

  /** Exits that happened and have not been delivered yet. */
  get undelivered(): number {
    return this.pending.length;
  }

  start(launch: ContainerLaunch, onExit: (exit: ContainerExit) => void): RunningContainer {
    const record: ProcessRecord = {
      jobId: launch.jobId,
      jobName: launch.jobName,
      arrayIndex: launch.arrayIndex,
      attempt: launch.attempt,
      logFile: path.join(this.options.logsDirectory, logFileName(launch)),
      stopped: false,
    };
    this.processes.push(record);
    const log = openSync(record.logFile, "w");
    let child: ChildProcess;
    try {
      child = spawn("/bin/sh", ["-c", `${this.options.command} "$@"`, "worker", ...launch.command], {
        env: { ...withoutAws(process.env), ...this.options.awsEnvironment, ...launch.environment },
        stdio: ["ignore", log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    this.live.add(child);
    let ended = false;
    const end = (exit: ContainerExit): void => {
      if (ended) return;
      ended = true;
      this.live.delete(child);
      record.exitCode = exit.exitCode;
      this.pending.push({ onExit, exit });
      this.wake?.();
    };
    child.once("exit", (code, signal) =>
      end({ exitCode: code ?? 128 + (signal ? constants.signals[signal] : 0) }),
    );
    // The shell itself could not start: as a container whose entry point cannot run.
    child.once("error", (error) =>
      end({ exitCode: 127, reason: `CannotStartContainerError: ${error.message}` }),
    );
    return { stop: () => this.stop(child, record) };
  }

  /** Resolves when an exit is waiting to be delivered, or after `wallMs` (at once if one is waiting). */
  waitForExit(wallMs: number): Promise<void> {
    if (this.pending.length > 0) return Promise.resolve();
    return wallWaitOrWake(wallMs, (wake) => (this.wake = wake));
  }

  /** Reports the queued exits to the attempts they end, in the order they happened. */
  deliverExits(): void {
    for (let next = this.pending.shift(); next; next = this.pending.shift()) next.onExit(next.exit);
  }

  /** Kills every process still running (SIGKILL) and waits for them to exit. */
  async killAll(): Promise<void> {
    const exits = [...this.live].map(
      (child) => new Promise<void>((resolve) => child.once("exit", () => resolve())),
    );
    for (const child of this.live) signalGroup(child, "SIGKILL");
    await Promise.all(exits);
  }

  private stop(child: ChildProcess, record: ProcessRecord): void {
    if (!this.live.has(child)) return;
    record.stopped = true;
    signalGroup(child, "SIGTERM");
    const kill = wallSetTimeout(() => signalGroup(child, "SIGKILL"), this.stopGraceMs);
    child.once("exit", () => wallClearTimeout(kill));
  }
}

/** `<job name>[.<array index>].attempt-<n>.log` */
export function logFileName(launch: Pick<ContainerLaunch, "jobName" | "arrayIndex" | "attempt">): string {
  const index = launch.arrayIndex === undefined ? "" : `.${launch.arrayIndex}`;
  return `${launch.jobName}${index}.attempt-${launch.attempt}.log`;
}

/** Signals the process's whole group (the shell and what it started); a group already gone is ignored. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group has exited meanwhile.
  }
}

/** The environment without AWS_* settings, so that no worker reaches a real AWS account by accident. */
export function withoutAws(env: NodeJS.ProcessEnv): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.startsWith("AWS_")) kept[name] = value;
  }
  return kept;
}
