/**
 * When the monitor looks at running jobs again. The first checks come soon after submission and the gap
 * doubles up to the queue's visibility timeout, so short jobs resume quickly and long jobs cost few calls.
 *
 * Every check is one SQS receive, and SQS moves a message to the dead-letter queue after the redrive
 * maxReceiveCount (at most 1,000) receives: the schedule decides that count, so a token is never moved
 * there merely for waiting.
 */

export interface PollSchedule {
  /** Delay after the first check. */
  initialDelaySeconds: number;
  /** The longest delay between checks (the queue's visibility timeout). */
  maxDelaySeconds: number;
  /** How long a step may wait before it is failed. */
  maxWaitSeconds: number;
}

/** Receives beyond the schedule, for checks that end in an error and are retried. */
export const receiveCountMargin = 20;

/** The delay after the `receiveCount`-th check (1 for the first delivery). */
export function nextCheckDelaySeconds(schedule: PollSchedule, receiveCount: number): number {
  const doublings = Math.min(Math.max(receiveCount - 1, 0), 30);
  return Math.min(schedule.initialDelaySeconds * 2 ** doublings, schedule.maxDelaySeconds);
}

/** How long after a claim's lease ends the monitor looks again, so that the claim has surely run out. */
export const claimRecheckMarginSeconds = 30;

/**
 * The delay before looking again at a step another function is answering: just after its claim's lease
 * ends, in case the claimant died (Lambda ends an invocation at its timeout, leaving its claim behind),
 * and never later than the schedule's next check. Each such look costs a receive, taken from the
 * `receiveCountMargin`: there is one per claim found live, and a claim is only taken to answer.
 */
export function claimRecheckDelaySeconds(
  schedule: PollSchedule,
  receiveCount: number,
  leaseLeftMilliseconds: number,
): number {
  return Math.min(
    nextCheckDelaySeconds(schedule, receiveCount),
    Math.ceil(leaseLeftMilliseconds / 1000) + claimRecheckMarginSeconds,
  );
}

/** Checks needed to wait `maxWaitSeconds` with the given schedule. */
export function checksToWait(schedule: PollSchedule): number {
  let waited = 0;
  let checks = 0;
  while (waited < schedule.maxWaitSeconds) {
    checks += 1;
    waited += nextCheckDelaySeconds(schedule, checks);
  }
  return checks + 1;
}

/**
 * The redrive maxReceiveCount the schedule needs, and the smallest max delay that would keep it within
 * the SQS limit of 1,000 (for the error message when it does not).
 */
export function checkPollSchedule(schedule: PollSchedule): {
  checks: number;
  maxReceiveCount: number;
  minimumMaxDelaySeconds: number;
} {
  const checks = checksToWait(schedule);
  const maxReceiveCount = checks + receiveCountMargin;
  let minimumMaxDelaySeconds = schedule.maxDelaySeconds;
  while (
    minimumMaxDelaySeconds < 43200 &&
    checksToWait({ ...schedule, maxDelaySeconds: minimumMaxDelaySeconds }) + receiveCountMargin > 1000
  ) {
    minimumMaxDelaySeconds += 60;
  }
  return { checks, maxReceiveCount, minimumMaxDelaySeconds };
}
