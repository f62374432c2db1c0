/**
 * The record status table (recordApi): one item per record, keyed by its job_id, written by the API, the
 * flush and the status functions (`functions/records/record-table.ts` describes the items).
 */
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as pulumi from "@pulumi/pulumi";
import { recordTableKey, recordTableTtlAttribute } from "../functions/records/contract";
import type { BridgeConfig } from "./config";

/** An on-demand, encrypted table whose items expire recordRetentionDays after their last change. */
export function createRecordTable(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): dynamodb.Table {
  return new dynamodb.Table(
    `${name}-records`,
    {
      name: config.recordTableName,
      // Traffic follows what clients send: a few writes per record, in bursts.
      billingMode: "PAY_PER_REQUEST",
      hashKey: recordTableKey,
      attributes: [{ name: recordTableKey, type: "S" }],
      ttl: { attributeName: recordTableTtlAttribute, enabled: true },
      // The AWS managed key (aws/dynamodb): records' results are the clients' data, and every use of the key
      // is logged in CloudTrail.
      serverSideEncryption: { enabled: true },
    },
    { parent },
  );
}
