/**
 * The user's worker command as a transform job's model: for each request (one input object's records, as a
 * mini-batch of a MultiRecord job), one `/bin/sh -c COMMAND` process in a process group of its own gets the
 * records on stdin, one JSON value a line (each line already through the job's InputFilter), and answers on
 * stdout, one JSON value a line, in the same order. Its stderr goes to a log file per request.
 *
 * A request fails, and with it the whole transform job (as a model answering an error fails a job), when
 * the process exits with a code other than 0, answers another number of lines than it was given, writes a
 * line that is not JSON, or takes longer than the timeout (SageMaker's ModelClientConfig
 * InvocationsTimeoutInSeconds, 600 s by default): the error says which, for the job's FailureReason.
 *
 * Time: the processes run in wall time. While one runs, the runner lets simulated time follow the wall
 * clock (`running`, `waitForIdle`), as it does for Batch jobs run by a worker.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { TransformModel } from "../sagemaker/transform-jobs";
import { signalGroup, wallWaitOrWake, withoutAws, type ProcessRecord } from "./process-runtime";

/** Wall-clock timers, captured before a local run replaces the globals with simulated ones. */
const wallSetTimeout = globalThis.setTimeout;
const wallClearTimeout = globalThis.clearTimeout;

export interface ModelProcessesOptions {
  /** The worker command, run by `/bin/sh -c`. */
  command: string;
  /** AWS settings every process gets (the local endpoints, dummy credentials). */
  awsEnvironment: Record<string, string>;
  /** Folder of the per-request log files (created when missing). */
  logsDirectory: string;
  /** Wall seconds a request may take (SageMaker's InvocationsTimeoutInSeconds). */
  timeoutSeconds: number;
}

/** The last lines of a log, for a failure reason (the reason is short: SageMaker keeps 1,024 characters). */
function tail(file: string): string {
  try {
    const text = readFileSync(file, "utf8").trim();
    return text === "" ? "" : `: ${text.split("\n").slice(-3).join(" | ").slice(-300)}`;
  } catch {
    return "";
  }
}

export class ModelProcesses {
  /** One record per request, in the order they started (as the worker summary lists processes). */
  readonly processes: ProcessRecord[] = [];
  private live = 0;
  private wake: (() => void) | undefined;
  /** How to kill each running request's process, by the request's name. */
  private readonly kills = new Map<() => void, string>();

  constructor(private readonly options: ModelProcessesOptions) {
    mkdirSync(options.logsDirectory, { recursive: true });
  }

  /** Requests whose process is still running. */
  get running(): number {
    return this.live;
  }

  /** Resolves once no process runs, or after `wallMs`. */
  waitForIdle(wallMs: number): Promise<void> {
    if (this.live === 0) return Promise.resolve();
    return wallWaitOrWake(wallMs, (wake) => (this.wake = wake));
  }

  /** Kills every process still running. */
  killAll(): void {
    for (const kill of [...this.kills.keys()]) kill();
  }

  /** Kills the processes of one transform job's requests (a stopped job stops its instances). */
  stopJob(jobName: string): void {
    for (const [kill, name] of [...this.kills]) if (name.startsWith(`${jobName}.`)) kill();
  }

  /** The model a transform job calls: one process per request. */
  readonly model: TransformModel = (inputs, request) => this.answer(inputs, request?.name ?? "request");

  private answer(inputs: unknown[], name: string): Promise<unknown[]> {
    const { command, awsEnvironment, logsDirectory, timeoutSeconds } = this.options;
    const record: ProcessRecord = {
      jobId: name,
      jobName: name,
      attempt: 1,
      logFile: path.join(
        logsDirectory,
        `${name.replace(/[^A-Za-z0-9._-]/g, "_")}.model-${this.processes.length + 1}.log`,
      ),
      stopped: false,
    };
    this.processes.push(record);
    const log = openSync(record.logFile, "w");
    const child = spawn("/bin/sh", ["-c", command], {
      env: { ...withoutAws(process.env), ...awsEnvironment },
      stdio: ["pipe", "pipe", log],
      detached: true,
    });
    closeSync(log);
    this.live += 1;
    let stdout = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    // A process that exits without reading its input closes the pipe: its exit code tells why.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(inputs.map((input) => `${JSON.stringify(input)}\n`).join(""));
    return new Promise<unknown[]>((resolve, reject) => {
      let timedOut = false;
      const kill = (): void => {
        record.stopped = true;
        signalGroup(child, "SIGKILL");
      };
      this.kills.set(kill, name);
      const timer = wallSetTimeout(() => {
        timedOut = true;
        kill();
      }, timeoutSeconds * 1000);
      let finished = false;
      // "error" (the shell could not start) may be followed by "close": the request ends once.
      const finish = (outcome: () => unknown[]): void => {
        if (finished) return;
        finished = true;
        wallClearTimeout(timer);
        this.kills.delete(kill);
        this.live -= 1;
        try {
          resolve(outcome());
        } catch (error) {
          reject(error as Error);
        }
        this.wake?.();
      };
      child.once("error", (error) =>
        finish(() => {
          throw new Error(`the model command could not start: ${error.message}`);
        }),
      );
      child.once("close", (code, signal) =>
        finish(() => {
          record.exitCode = code ?? 137;
          if (timedOut) {
            throw new Error(
              `the model command did not answer ${inputs.length} record(s) within ${timeoutSeconds} s ` +
                `(InvocationsTimeoutInSeconds)`,
            );
          }
          if (code !== 0) {
            throw new Error(
              `the model command exited with ${code === null ? `signal ${signal}` : `code ${code}`}` +
                tail(record.logFile),
            );
          }
          const lines = stdout.split("\n").filter((line) => line.trim() !== "");
          if (lines.length !== inputs.length) {
            throw new Error(
              `the model command answered ${lines.length} line(s) for ${inputs.length} record(s): ` +
                `it must write one result line per input line`,
            );
          }
          return lines.map((line, i) => {
            try {
              return JSON.parse(line) as unknown;
            } catch {
              throw new Error(`the model command's answer line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
            }
          });
        }),
      );
    });
  }
}
