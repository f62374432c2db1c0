/**
 * The policy documents of the records API's function roles, built as iam-policies.ts builds the bridge's:
 * one pure function per role, one statement per purpose, each on the exact ARNs it needs.
 */
import { recordsFolder } from "../functions/records/contract";
import { pipelineArn, policy, writeLogs, type AwsScope, type RolePolicy } from "./iam-policies";

/** The data bucket's folders of record batches: `<inputPrefix>records/` and `<outputPrefix>records/`. */
export interface RecordFolders {
  partition: string;
  bucketName: string;
  inputPrefix: string;
  outputPrefix: string;
}

function bucketArn(folders: RecordFolders): string {
  return `arn:${folders.partition}:s3:::${folders.bucketName}`;
}
function inputFolder(folders: RecordFolders): string {
  return `${folders.inputPrefix}${recordsFolder}`;
}
function outputFolder(folders: RecordFolders): string {
  return `${folders.outputPrefix}${recordsFolder}`;
}

export interface RecordApiPolicyArgs {
  recordTableArn: string;
  bufferQueueArn: string;
  logGroupArn: string;
}

/** API function: write and read record statuses, put accepted records on the buffer queue. */
export function recordApiPolicy(args: RecordApiPolicyArgs): RolePolicy {
  return policy(
    {
      // PutItem/BatchWriteItem accept, GetItem answers and checks a repeated Idempotency-Key, BatchGetItem
      // reads a repeat's statuses, DeleteItem takes back an item whose record could not be queued.
      Sid: "AcceptAndReadRecords",
      Effect: "Allow",
      Action: [
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",
      ],
      Resource: args.recordTableArn,
    },
    { Sid: "BufferRecords", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: args.bufferQueueArn },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface FlushPolicyArgs {
  scope: AwsScope;
  pipelineName: string;
  recordTableArn: string;
  bufferQueueArn: string;
  bufferDeadLetterQueueArn: string;
  folders: RecordFolders;
  logGroupArn: string;
}

/** Flush function: take batches off the buffer, write their shard files, start their executions. */
export function flushPolicy(args: FlushPolicyArgs): RolePolicy {
  return policy(
    {
      // The event source mapping polls with the function's role; the scheduled flush receives itself.
      Sid: "ConsumeBufferedRecords",
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
      Resource: args.bufferQueueArn,
    },
    {
      Sid: "SetAsideUnstartableBatches",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.bufferDeadLetterQueueArn,
    },
    {
      Sid: "MoveRecordsToProcessing",
      Effect: "Allow",
      Action: ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
      Resource: args.recordTableArn,
    },
    {
      Sid: "WriteShardFiles",
      Effect: "Allow",
      Action: ["s3:PutObject"],
      Resource: `${bucketArn(args.folders)}/${inputFolder(args.folders)}*`,
    },
    {
      Sid: "StartBatchExecutions",
      Effect: "Allow",
      Action: ["sagemaker:StartPipelineExecution"],
      Resource: pipelineArn(args.scope, args.pipelineName),
    },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface RecordStatusPolicyArgs {
  scope: AwsScope;
  pipelineName: string;
  recordTableArn: string;
  /** Where events whose handling failed every retry are kept. */
  failedEventQueueArn: string;
  folders: RecordFolders;
  logGroupArn: string;
}

/**
 * Status function: read an ended batch execution's parameters and failed step, its shard files and its
 * worker's output, write results too large to keep inline, and settle the records.
 */
export function recordStatusPolicy(args: RecordStatusPolicyArgs): RolePolicy {
  const bucket = bucketArn(args.folders);
  const input = inputFolder(args.folders);
  const output = outputFolder(args.folders);
  return policy(
    {
      Sid: "ReadBatchExecutions",
      Effect: "Allow",
      Action: [
        "sagemaker:ListPipelineParametersForExecution",
        "sagemaker:ListPipelineExecutionSteps",
        "sagemaker:DescribePipelineExecution",
      ],
      Resource: `${pipelineArn(args.scope, args.pipelineName)}/execution/*`,
    },
    {
      Sid: "ListBatchFiles",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: bucket,
      Condition: { StringLike: { "s3:prefix": [`${input}*`, `${output}*`] } },
    },
    {
      Sid: "ReadBatchFiles",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: [`${bucket}/${input}*`, `${bucket}/${output}*`],
    },
    {
      Sid: "WriteLargeResults",
      Effect: "Allow",
      Action: ["s3:PutObject"],
      Resource: `${bucket}/${output}*`,
    },
    { Sid: "SettleRecords", Effect: "Allow", Action: ["dynamodb:UpdateItem"], Resource: args.recordTableArn },
    {
      // Lambda's on-failure destination sends with the function's role.
      Sid: "KeepFailedEvents",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.failedEventQueueArn,
    },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}
