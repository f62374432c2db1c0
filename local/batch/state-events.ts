/**
 * The events the local Batch announces: a "Batch Job State Change" for every change but the initial
 * SUBMITTED (as AWS sends them to EventBridge), carrying the job as DescribeJobs shows it at that moment.
 */
import type { JobDetail } from "@aws-sdk/client-batch";
import { randomUUID } from "node:crypto";

/** The EventBridge event AWS Batch sends on a job state change. */
export interface BatchJobStateChangeEvent {
  version: "0";
  id: string;
  "detail-type": "Batch Job State Change";
  source: "aws.batch";
  account: string;
  /** Simulated time of the change, ISO 8601. */
  time: string;
  region: string;
  resources: string[];
  /** The job as DescribeJobs returns it at that moment. */
  detail: JobDetail;
}

/** The event announcing that the job became `detail` at simulated time `at`. */
export function jobStateChangeEvent(
  detail: JobDetail,
  identity: { region: string; accountId: string },
  at: number,
): BatchJobStateChangeEvent {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Batch Job State Change",
    source: "aws.batch",
    account: identity.accountId,
    time: new Date(at).toISOString(),
    region: identity.region,
    resources: [detail.jobArn ?? ""],
    detail,
  };
}

/** Who hears the state changes. */
export class StateChangeListeners {
  private readonly listeners = new Set<(event: BatchJobStateChangeEvent) => void>();

  /** Subscribes; returns unsubscribe. */
  add(listener: (event: BatchJobStateChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True when anyone listens (so that no event is built for no one). */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  announce(event: BatchJobStateChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A listener's bug must not stall the scheduler; it still surfaces as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
