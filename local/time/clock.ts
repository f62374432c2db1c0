/**
 * Simulated time shared by every local server, so that a 30-minute job, a 1,800-second visibility timeout
 * and a 1-second event delay keep their proportions while a whole execution runs in seconds of wall time.
 *
 * Time flows on its own at `speed` simulated milliseconds per wall millisecond, and a driver can also jump
 * it forward instantly (`advanceTo`, `advanceToNextTimer`). Timers live in one queue ordered by their
 * simulated due time and a single wall timer wakes the queue, so ordering never depends on how coarse wall
 * timers are: at any speed a 10-second delay fires after a 1-second one.
 */

import { AsyncResource } from "node:async_hooks";
import { MinHeap } from "./min-heap";

/** The wall clock, captured once so that nothing installed later can change what it reads. */
const wallNow = (): number => performance.now();
const wallSetTimeout = globalThis.setTimeout;
const wallClearTimeout = globalThis.clearTimeout;

/** Node caps timer delays at 2^31 - 1 ms; longer wall waits are re-armed when they expire. */
const maxWallDelayMs = 2 ** 31 - 1;
/** A jump stops with an error past this many timers at one simulated instant. */
const maxTimersPerInstant = 1_000_000;

/** A pending timer's handle, shaped like Node's `Timeout` for the code that calls `unref()` on it. */
export class SimTimer {
  /** @internal */
  cancelled = false;
  /** @internal */
  referenced = true;

  /** @internal */
  constructor(
    readonly id: number,
    /** Simulated time (ms since the epoch) at which it fires next. */
    public dueAt: number,
    /** @internal */
    readonly callback: () => void,
    /** Repeat period for intervals, undefined for timeouts. */
    readonly periodMs: number | undefined,
    private readonly owner: SimClock,
  ) {}

  /** Lets the process exit while only unreferenced timers are pending (as Node's `unref`). */
  unref(): this {
    this.owner.setReferenced(this, false);
    return this;
  }

  ref(): this {
    this.owner.setReferenced(this, true);
    return this;
  }

  hasRef(): boolean {
    return this.referenced;
  }

  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

/** Timer functions and `Date` bound to a clock, to hand to code written against the globals. */
export interface ClockGlobals {
  setTimeout: (callback: (...args: unknown[]) => void, delayMs?: number, ...args: unknown[]) => SimTimer;
  clearTimeout: (timer: SimTimer | undefined | null) => void;
  setInterval: (callback: (...args: unknown[]) => void, delayMs?: number, ...args: unknown[]) => SimTimer;
  clearInterval: (timer: SimTimer | undefined | null) => void;
  /** `Date` whose `now()` and argument-less constructor read the clock. */
  Date: DateConstructor;
}

export interface SimClockOptions {
  /**
   * Simulated milliseconds per wall millisecond: 1 is real time, 1800 runs 30 minutes a second, 0 freezes
   * time so that it moves only through `advance`/`advanceTo`/`advanceToNextTimer`.
   */
  speed: number;
  /** Simulated time at creation, in ms since the epoch (default: the real time now). */
  startMs?: number;
}

/**
 * `callback`, run in the async context of the code that calls this: what `AsyncResource.bind` does, without
 * the deprecated `asyncResource` property Node.js 20 defines on each function it binds (two `util.deprecate`
 * wrappers, some 20 µs a timer, and local mode sets several timers for each SDK call).
 */
function inAsyncContextOfCaller(callback: () => void): () => void {
  const resource = new AsyncResource("SimTimer");
  return () => resource.runInAsyncScope(callback);
}

/** Timers fire by due time; equal due times fire in creation order. */
function firesBefore(a: SimTimer, b: SimTimer): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);
}

/**
 * Simulated time: `now()`, `sleep()` and timers in simulated milliseconds. It satisfies the functions'
 * `Clock` interface (`now`, `sleep`), so handlers can be given the same clock as the servers.
 */
export class SimClock {
  readonly speed: number;
  private simBase: number;
  private wallBase: number;
  private readonly queue = new MinHeap<SimTimer>(firesBefore);
  private nextId = 1;
  private live = 0;
  private referencedLive = 0;
  private wallTimer: ReturnType<typeof setTimeout> | undefined;
  private wallTimerDue: number | undefined;
  private firing = false;
  private stopped = false;
  private turnNow: number | undefined;

  constructor(options: SimClockOptions) {
    if (!Number.isFinite(options.speed) || options.speed < 0) {
      throw new Error(`SimClock speed must be a finite number >= 0 (0 freezes time), got ${options.speed}`);
    }
    if (options.startMs !== undefined && !Number.isFinite(options.startMs)) {
      throw new Error(
        `SimClock startMs must be a finite number of ms since the epoch, got ${options.startMs}`,
      );
    }
    this.speed = options.speed;
    this.simBase = options.startMs ?? Date.now();
    this.wallBase = wallNow();
  }

  /** Simulated time in whole ms since the epoch; never goes backwards. */
  now(): number {
    return Math.floor(this.exactNow());
  }

  /** Resolves once `simMs` of simulated time have passed. */
  sleep(simMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimeout(() => resolve(), simMs);
    });
  }

  /**
   * Calls `callback` once `delayMs` simulated ms from now. A delay under 1 ms means "as soon as possible": it
   * fires on a later turn of the event loop without moving time, even while time is frozen.
   */
  setTimeout(callback: (...args: unknown[]) => void, delayMs?: number, ...args: unknown[]): SimTimer {
    return this.schedule(() => callback(...args), delayMs, undefined);
  }

  /** Calls `callback` every `delayMs` simulated ms (a late interval skips the periods it missed). */
  setInterval(callback: (...args: unknown[]) => void, delayMs?: number, ...args: unknown[]): SimTimer {
    return this.schedule(() => callback(...args), delayMs, Math.max(normalizeDelay(delayMs), 1));
  }

  clearTimeout(timer: SimTimer | undefined | null): void {
    if (!timer || timer.cancelled || !(timer instanceof SimTimer)) return;
    timer.cancelled = true;
    this.live -= 1;
    if (timer.referenced) this.referencedLive -= 1;
    this.arm();
  }

  clearInterval(timer: SimTimer | undefined | null): void {
    this.clearTimeout(timer);
  }

  /** Simulated time of the earliest pending timer, or undefined when none is pending. */
  nextTimerAt(): number | undefined {
    return this.peekLive()?.dueAt;
  }

  /** How many timers are pending. */
  pendingTimers(): number {
    return this.live;
  }

  /** Jumps `simMs` forward at once, firing every timer due on the way in order. */
  advance(simMs: number): void {
    if (!Number.isFinite(simMs) || simMs < 0) {
      throw new Error(`advance takes a finite number of simulated ms >= 0, got ${simMs}`);
    }
    this.advanceTo(this.exactNow() + simMs);
  }

  /**
   * Jumps to simulated time `targetMs` at once. Timers due on the way fire in order, each seeing `now()` at
   * its own due time, so the outcome does not depend on wall time. Promise continuations run afterwards.
   */
  advanceTo(targetMs: number): void {
    if (!Number.isFinite(targetMs)) throw new Error(`advanceTo takes a finite time in ms, got ${targetMs}`);
    if (this.firing) throw new Error("SimClock cannot be advanced from inside a timer callback");
    this.disarm();
    this.firing = true;
    try {
      let firedAtInstant = 0;
      for (;;) {
        const timer = this.peekLive();
        if (!timer || timer.dueAt > targetMs) break;
        if (timer.dueAt > this.exactNow()) {
          this.rebase(timer.dueAt);
          firedAtInstant = 0;
        }
        if (++firedAtInstant > maxTimersPerInstant) {
          throw new Error(
            `SimClock: over ${maxTimersPerInstant} timers fired at one instant (a zero-delay loop?)`,
          );
        }
        this.fire(timer, true);
      }
      if (targetMs > this.exactNow()) this.rebase(targetMs);
    } finally {
      this.firing = false;
    }
    this.arm();
  }

  /**
   * Jumps to the earliest pending timer and fires every timer due then (at most up to `limitMs`). Returns the
   * new time, or undefined when nothing is pending before the limit. A driver that calls it only once its
   * own work has settled (no request in flight) runs a scenario deterministically.
   */
  advanceToNextTimer(limitMs?: number): number | undefined {
    const next = this.nextTimerAt();
    if (next === undefined || (limitMs !== undefined && next > limitMs)) return undefined;
    const target = Math.max(next, this.exactNow());
    this.advanceTo(target);
    return Math.floor(target);
  }

  /**
   * Fires, right now, every timer already due (zero delays included) instead of on the next turn: a server
   * calls it before answering so that what was due before a request is visible to it.
   */
  fireDueTimers(): void {
    if (this.firing) return;
    this.fireDue();
  }

  /** Wall ms that `simMs` of simulated time take while time flows (Infinity when frozen). */
  wallMsFor(simMs: number): number {
    return this.speed === 0 ? Infinity : simMs / this.speed;
  }

  /** `setTimeout`, `setInterval`, their `clear*` and `Date`, bound to this clock. */
  globals(): ClockGlobals {
    const now = (): number => this.now();
    class SimDate extends Date {
      constructor(...args: unknown[]) {
        super(...((args.length === 0 ? [now()] : args) as [number]));
      }
      static now(): number {
        return now();
      }
    }
    return {
      setTimeout: (callback, delayMs, ...args) => this.setTimeout(callback, delayMs, ...args),
      clearTimeout: (timer) => this.clearTimeout(timer),
      setInterval: (callback, delayMs, ...args) => this.setInterval(callback, delayMs, ...args),
      clearInterval: (timer) => this.clearInterval(timer),
      Date: SimDate as DateConstructor,
    };
  }

  /** Cancels every pending timer and stops the wall timer; the clock still reads time afterwards. */
  stop(): void {
    this.stopped = true;
    this.disarm();
    for (let timer = this.queue.pop(); timer; timer = this.queue.pop()) timer.cancelled = true;
    this.live = 0;
    this.referencedLive = 0;
  }

  /** @internal Used by `SimTimer.ref/unref`. */
  setReferenced(timer: SimTimer, referenced: boolean): void {
    if (timer.referenced === referenced) return;
    timer.referenced = referenced;
    if (!timer.cancelled) this.referencedLive += referenced ? 1 : -1;
    this.arm();
  }

  /**
   * The time, read once per synchronous run: code that runs without yielding sees one instant, as if it took
   * no time. Without this, at high speed the microseconds between two statements become whole simulated
   * milliseconds, and timers set together (a 10 ms poll and a 40 ms deadline) could fire out of order.
   */
  private exactNow(): number {
    if (this.turnNow === undefined) {
      this.turnNow = this.simBase + (wallNow() - this.wallBase) * this.speed;
      queueMicrotask(this.endTurn);
    }
    return this.turnNow;
  }

  private readonly endTurn = (): void => {
    this.turnNow = undefined;
  };

  private rebase(simMs: number): void {
    this.simBase = simMs;
    this.wallBase = wallNow();
    if (this.turnNow === undefined) queueMicrotask(this.endTurn);
    this.turnNow = simMs;
  }

  private schedule(
    callback: () => void,
    delayMs: number | undefined,
    periodMs: number | undefined,
  ): SimTimer {
    if (typeof callback !== "function") throw new TypeError("SimClock timers need a callback function");
    const timer = new SimTimer(
      this.nextId++,
      Math.floor(this.exactNow()) + normalizeDelay(delayMs),
      // A timer runs in the async context that set it, as Node's timers do (AsyncLocalStorage follows it).
      inAsyncContextOfCaller(callback),
      periodMs,
      this,
    );
    if (this.stopped) {
      timer.cancelled = true;
      return timer;
    }
    this.queue.push(timer);
    this.live += 1;
    this.referencedLive += 1;
    if (this.wallTimerDue === undefined || timer.dueAt < this.wallTimerDue) this.arm();
    return timer;
  }

  private peekLive(): SimTimer | undefined {
    let timer = this.queue.peek();
    while (timer?.cancelled) {
      this.queue.pop();
      timer = this.queue.peek();
    }
    return timer;
  }

  /** Fires one due timer: removes it, re-queues it if it repeats, and runs its callback. */
  private fire(timer: SimTimer, jumping: boolean): void {
    this.queue.pop();
    if (timer.periodMs !== undefined) {
      // A late interval fires once and continues from now, as Node's intervals do.
      timer.dueAt = (jumping ? timer.dueAt : Math.floor(this.exactNow())) + timer.periodMs;
      this.queue.push(timer);
    } else {
      timer.cancelled = true;
      this.live -= 1;
      if (timer.referenced) this.referencedLive -= 1;
    }
    timer.callback();
  }

  /** Fires every timer due by now (wall-driven). */
  private fireDue(): void {
    this.disarm();
    if (this.firing) return;
    this.firing = true;
    try {
      const limit = this.exactNow();
      // Timers set while these fire wait for the next turn, as Node's do: no zero-delay loop can spin here.
      const newestId = this.nextId - 1;
      for (;;) {
        const timer = this.peekLive();
        if (!timer || timer.dueAt > limit || timer.id > newestId) break;
        this.fire(timer, false);
      }
    } finally {
      this.firing = false;
    }
    this.arm();
  }

  /** Sets the one wall timer for the earliest pending timer (none while time is frozen). */
  private arm(): void {
    if (this.firing) return;
    const next = this.peekLive();
    // Frozen time still fires what is already due (zero delays), on the next turn.
    if (!next || this.stopped || (this.speed === 0 && next.dueAt > this.exactNow())) {
      this.disarm();
      return;
    }
    if (this.wallTimer !== undefined && this.wallTimerDue === next.dueAt) {
      this.syncWallRef();
      return;
    }
    this.disarm();
    const wallDelay =
      this.speed === 0
        ? 0
        : Math.min(Math.max((next.dueAt - this.exactNow()) / this.speed, 0), maxWallDelayMs);
    this.wallTimerDue = next.dueAt;
    this.wallTimer = wallSetTimeout(() => this.fireDue(), Math.ceil(wallDelay));
    this.syncWallRef();
  }

  /** The wall timer keeps the process alive only while a referenced timer is pending. */
  private syncWallRef(): void {
    if (!this.wallTimer) return;
    if (this.referencedLive > 0) this.wallTimer.ref();
    else this.wallTimer.unref();
  }

  private disarm(): void {
    if (this.wallTimer !== undefined) wallClearTimeout(this.wallTimer);
    this.wallTimer = undefined;
    this.wallTimerDue = undefined;
  }
}

/** Whole simulated ms; anything that is not a number >= 1 is 0 (as soon as possible). */
function normalizeDelay(delayMs: number | undefined): number {
  const delay = Number(delayMs);
  return delay >= 1 && Number.isFinite(delay) ? Math.floor(delay) : 0;
}
