/**
 * The work a local run waits for (invocations, deliveries, executions): how much is still going, and the
 * first unexpected error, which ends the run.
 */
import type { Track } from "./event-sources";

/** Counts tracked work while it runs and keeps the first error any of it ended with. */
export class TrackedWork {
  private running = 0;
  private firstError: unknown;

  /** Starts work the run waits for; its unexpected errors end the run. */
  readonly track: Track = (work) => {
    this.running += 1;
    work.then(
      () => {
        this.running -= 1;
      },
      (error: unknown) => {
        this.running -= 1;
        this.fail(error);
      },
    );
  };

  /** Work still running. */
  get pending(): number {
    return this.running;
  }

  /** The first unexpected error, if any. */
  get error(): unknown {
    return this.firstError;
  }

  /** Records an unexpected error of work not tracked (kept only if it is the first). */
  fail(error: unknown): void {
    this.firstError ??= error;
  }
}
