/**
 * The status table: one submission claim per execution, written by the submit function
 * (`functions/submission-claim.ts`), and with completionEvents one item per waiting Callback step, written
 * by the monitor and the job-event function (`functions/status-table-items.ts` describes the items).
 */
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as pulumi from "@pulumi/pulumi";
import { statusTableKey, statusTableTtlAttribute } from "../functions/status-table-items";
import type { BridgeConfig } from "./config";

/** An on-demand, encrypted table whose items expire by themselves once their step is long over. */
export function createStatusTable(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): dynamodb.Table {
  return new dynamodb.Table(
    `${name}-status`,
    {
      name: config.statusTableName,
      // Traffic follows pipeline runs: a few writes per step, then nothing for hours.
      billingMode: "PAY_PER_REQUEST",
      hashKey: statusTableKey,
      attributes: [{ name: statusTableKey, type: "S" }],
      // Every item carries its expiry (epoch seconds), set well past the longest wait.
      ttl: { attributeName: statusTableTtlAttribute, enabled: true },
      // The AWS managed key (aws/dynamodb) rather than the default AWS owned key: the items hold callback
      // tokens, and every use of this key is logged in CloudTrail.
      serverSideEncryption: { enabled: true },
      // Off: a restore makes a new table the functions do not use, and every waiting step is written again
      // from its callback message at the monitor's next check.
      pointInTimeRecovery: { enabled: false },
    },
    { parent },
  );
}
