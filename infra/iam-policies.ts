/**
 * The policy documents of the stack's roles: one pure function per role, one statement per purpose, each on
 * the exact ARNs it needs. `*` only for actions that support no resource type (AWS Service Authorization
 * Reference). They take resolved ARNs as strings so they read, and test, like the JSON AWS will hold.
 */
import type * as iam from "@pulumi/aws/iam";
import { executionTagPatterns } from "../functions/job-names";
import { executionTagKey } from "../functions/step-contract";

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** A policy document whose statements are plain data. */
export interface RolePolicy extends iam.PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

export interface TrustPolicy extends iam.PolicyDocument {
  Version: "2012-10-17";
  Statement: { Effect: "Allow"; Principal: { Service: string }; Action: "sts:AssumeRole" }[];
}

/** Where the stack runs, to build ARNs of resources that exist only at run time (jobs, executions). */
export interface AwsScope {
  partition: string;
  region: string;
  accountId: string;
}

/** Services that assume the stack's roles. */
export const servicePrincipals = {
  ecsTasks: "ecs-tasks.amazonaws.com",
  lambda: "lambda.amazonaws.com",
  sagemaker: "sagemaker.amazonaws.com",
} as const;

/** Lets one AWS service assume the role. */
export function trustPolicy(service: string): TrustPolicy {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  };
}

function policy(...statements: (PolicyStatement | undefined)[]): RolePolicy {
  return {
    Version: "2012-10-17",
    Statement: statements.filter((s): s is PolicyStatement => s !== undefined),
  };
}

/** Every Batch job this account runs in the region: job ARNs hold a random ID known only after submission. */
export function batchJobsArn(scope: AwsScope): string {
  return `arn:${scope.partition}:batch:${scope.region}:${scope.accountId}:job/*`;
}

/** `logs:CreateLogStream` and `logs:PutLogEvents` act on the streams of a log group. */
function logStreamsArn(logGroupArn: string): string {
  return `${logGroupArn}:log-stream:*`;
}

function writeLogs(sid: string, logGroupArn: string): PolicyStatement {
  return {
    Sid: sid,
    Effect: "Allow",
    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
    Resource: logStreamsArn(logGroupArn),
  };
}

/** The pipeline the stack deploys; its executions are the only ones the functions act for. */
function pipelineArn(scope: AwsScope, pipelineName: string): string {
  return `arn:${scope.partition}:sagemaker:${scope.region}:${scope.accountId}:pipeline/${pipelineName}`;
}

/**
 * The execution tag names one of this pipeline's executions, on the job (`ResourceTag`) or in the request
 * that creates it (`RequestTag`): jobs of other workloads, and of other stacks, are out of reach.
 */
function taggedForPipeline(where: "ResourceTag" | "RequestTag", scope: AwsScope, pipelineName: string) {
  return {
    StringLike: {
      [`aws:${where}/${executionTagKey}`]: executionTagPatterns(pipelineArn(scope, pipelineName)),
    },
  };
}

/**
 * The repository ARN of a private ECR image URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag]`),
 * or undefined for any other registry, whose images need no IAM permission to pull.
 */
export function privateEcrRepositoryArn(image: string, partition: string): string | undefined {
  const match = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)/.exec(image);
  if (!match) return undefined;
  const [, accountId, region, repository] = match;
  return `arn:${partition}:ecr:${region}:${accountId}:repository/${repository}`;
}

export interface BatchExecutionPolicyArgs {
  jobLogGroupArn: string;
  /** Set when the job image is in a private ECR repository. */
  ecrRepositoryArn?: string;
}

/** Batch execution role (ECS agent): write the job's logs and, for a private ECR image, pull it. */
export function batchExecutionPolicy(args: BatchExecutionPolicyArgs): RolePolicy {
  return policy(
    writeLogs("WriteJobLogs", args.jobLogGroupArn),
    args.ecrRepositoryArn === undefined
      ? undefined
      : {
          Sid: "PullJobImage",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
          Resource: args.ecrRepositoryArn,
        },
    args.ecrRepositoryArn === undefined
      ? undefined
      : {
          Sid: "LogInToEcr",
          Effect: "Allow",
          Action: ["ecr:GetAuthorizationToken"],
          Resource: "*",
        },
  );
}

export interface BatchJobPolicyArgs {
  partition: string;
  bucketName: string;
  inputPrefix: string;
  outputPrefix: string;
}

/** Batch job role (the container): read the input prefix, write the output prefix, nothing else. */
export function batchJobPolicy(args: BatchJobPolicyArgs): RolePolicy {
  const bucketArn = `arn:${args.partition}:s3:::${args.bucketName}`;
  return policy(
    {
      Sid: "ReadInput",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: `${bucketArn}/${args.inputPrefix}*`,
    },
    {
      // Without ListBucket a missing input object reads as 403 instead of 404.
      Sid: "ListInput",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": `${args.inputPrefix}*` } },
    },
    {
      Sid: "WriteOutput",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: `${bucketArn}/${args.outputPrefix}*`,
    },
  );
}

export interface SubmitFunctionPolicyArgs {
  scope: AwsScope;
  pipelineName: string;
  jobQueueArn: string;
  /** The job definition's ARN without revision (`...:job-definition/<name>`). */
  jobDefinitionArnPrefix: string;
  logGroupArn: string;
}

/** Submit function: submit tagged jobs on our queue and definition, find them again, clean up a partial submission. */
export function submitFunctionPolicy(args: SubmitFunctionPolicyArgs): RolePolicy {
  const jobs = batchJobsArn(args.scope);
  const requestCarriesExecutionTag = taggedForPipeline("RequestTag", args.scope, args.pipelineName);
  return policy(
    {
      // SubmitJob authorizes the queue, the definition (any revision) and the new job.
      Sid: "SubmitTaggedJobs",
      Effect: "Allow",
      Action: ["batch:SubmitJob"],
      Resource: [args.jobQueueArn, args.jobDefinitionArnPrefix, `${args.jobDefinitionArnPrefix}:*`, jobs],
      Condition: requestCarriesExecutionTag,
    },
    {
      // Tags given to SubmitJob are authorized as TagResource on the new job: only the execution tag.
      Sid: "TagJobsOnSubmit",
      Effect: "Allow",
      Action: ["batch:TagResource"],
      Resource: jobs,
      Condition: {
        ...requestCarriesExecutionTag,
        "ForAllValues:StringEquals": { "aws:TagKeys": [executionTagKey] },
      },
    },
    {
      // ListJobs supports no resource type; it finds an execution's jobs when a submission is retried.
      Sid: "FindJobsOfExecution",
      Effect: "Allow",
      Action: ["batch:ListJobs"],
      Resource: "*",
    },
    {
      Sid: "CleanUpPartialSubmission",
      Effect: "Allow",
      Action: ["batch:TerminateJob"],
      Resource: jobs,
      Condition: taggedForPipeline("ResourceTag", args.scope, args.pipelineName),
    },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

/** DescribeJobs and ListJobs support no resource type. */
const checkJobs: PolicyStatement = {
  Sid: "CheckJobs",
  Effect: "Allow",
  Action: ["batch:DescribeJobs", "batch:ListJobs"],
  Resource: "*",
};

/** Terminate the jobs of an execution (fail fast, or a stopped execution); only this pipeline's jobs. */
function stopJobsOfExecution(scope: AwsScope, pipelineName: string): PolicyStatement {
  return {
    Sid: "StopJobsOfExecution",
    Effect: "Allow",
    Action: ["batch:TerminateJob"],
    Resource: batchJobsArn(scope),
    Condition: taggedForPipeline("ResourceTag", scope, pipelineName),
  };
}

/** The step callbacks of this pipeline's executions, and no other pipeline's. */
function answerCallbackSteps(scope: AwsScope, pipelineName: string): PolicyStatement {
  return {
    Sid: "AnswerCallbackSteps",
    Effect: "Allow",
    Action: ["sagemaker:SendPipelineExecutionStepSuccess", "sagemaker:SendPipelineExecutionStepFailure"],
    Resource: `${pipelineArn(scope, pipelineName)}/execution/*`,
  };
}

/** Record waiting steps, claim and mark them answered (conditional updates), read them and the shard sets. */
function useStatusTable(statusTableArn: string): PolicyStatement {
  return {
    Sid: "TrackWaitingSteps",
    Effect: "Allow",
    Action: ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
    Resource: statusTableArn,
  };
}

export interface MonitorFunctionPolicyArgs {
  scope: AwsScope;
  pipelineName: string;
  callbackQueueArn: string;
  deadLetterQueueArn: string;
  logGroupArn: string;
  /** Set when steps are also answered from job state-change events (completionEvents). */
  statusTableArn?: string;
}

/** Monitor function: check and stop the executions' jobs, answer the callback steps, consume the queue. */
export function monitorFunctionPolicy(args: MonitorFunctionPolicyArgs): RolePolicy {
  return policy(
    checkJobs,
    stopJobsOfExecution(args.scope, args.pipelineName),
    answerCallbackSteps(args.scope, args.pipelineName),
    {
      Sid: "ConsumeCallbackMessages",
      Effect: "Allow",
      Action: [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
      ],
      Resource: args.callbackQueueArn,
    },
    {
      Sid: "SetAsideMalformedMessages",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.deadLetterQueueArn,
    },
    args.statusTableArn === undefined ? undefined : useStatusTable(args.statusTableArn),
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface JobEventFunctionPolicyArgs {
  scope: AwsScope;
  pipelineName: string;
  statusTableArn: string;
  callbackQueueArn: string;
  logGroupArn: string;
}

/**
 * Job-event function: track steps in the status table, check and stop their jobs, answer the callback
 * steps, and delete a callback message once its step is answered. It never receives from the queue.
 */
export function jobEventFunctionPolicy(args: JobEventFunctionPolicyArgs): RolePolicy {
  return policy(
    useStatusTable(args.statusTableArn),
    checkJobs,
    // A failed job's siblings are terminated before the step is failed, as the monitor does.
    stopJobsOfExecution(args.scope, args.pipelineName),
    answerCallbackSteps(args.scope, args.pipelineName),
    {
      Sid: "DeleteAnsweredCallbackMessages",
      Effect: "Allow",
      Action: ["sqs:DeleteMessage"],
      Resource: args.callbackQueueArn,
    },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface PipelinePolicyArgs {
  submitFunctionArn: string;
  callbackQueueArn: string;
}

/** Pipeline execution role: run the Lambda step and send the Callback step's token. Nothing else. */
export function pipelinePolicy(args: PipelinePolicyArgs): RolePolicy {
  return policy(
    {
      Sid: "InvokeSubmitFunction",
      Effect: "Allow",
      Action: ["lambda:InvokeFunction"],
      Resource: args.submitFunctionArn,
    },
    {
      Sid: "SendCallbackTokens",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.callbackQueueArn,
    },
  );
}
