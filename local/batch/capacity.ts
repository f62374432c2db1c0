/**
 * Compute capacity: at most `limit` jobs hold a slot (STARTING or RUNNING) at once; the others wait
 * RUNNABLE, in the order they became ready, until a slot frees.
 */
import type { Job } from "./job-record";

export class ComputeCapacity {
  private readonly waiting: Job[] = [];
  private waitingHead = 0;
  private slotsInUse = 0;

  /** `limit` undefined: no limit, as if capacity were unlimited. */
  constructor(private readonly limit: number | undefined) {}

  /** A RUNNABLE job asks for a slot: true when it takes one now, false when it waits in line. */
  request(job: Job): boolean {
    if (this.limit === undefined || this.slotsInUse < this.limit) {
      this.take(job);
      return true;
    }
    this.waiting.push(job);
    return false;
  }

  /** Frees the job's slot (if it held one) and returns the waiting jobs that take freed slots, in order. */
  release(job: Job): Job[] {
    if (!job.holdsSlot) return [];
    job.holdsSlot = false;
    this.slotsInUse -= 1;
    const limit = this.limit ?? Infinity;
    const started: Job[] = [];
    while (this.slotsInUse < limit && this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead++];
      // Cancelled or terminated while waiting: its place is simply skipped.
      if (next.status === "RUNNABLE" && !next.holdsSlot) {
        this.take(next);
        started.push(next);
      }
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    return started;
  }

  private take(job: Job): void {
    job.holdsSlot = true;
    this.slotsInUse += 1;
  }
}
