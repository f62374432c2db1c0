/**
 * The policy documents of the stack's roles: one pure function per role, one statement per purpose, each on
 * the exact ARNs it needs. `*` only for actions that support no resource type (AWS Service Authorization
 * Reference). They take resolved ARNs as strings so they read, and test, like the JSON AWS will hold.
 */
import type * as iam from "@pulumi/aws/iam";
import { executionTagPatterns } from "../functions/job-names";
import { executionTagKey } from "../functions/step-contract";
import { submissionKey } from "../functions/submission-claim";

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

/** Services that assume the stack's roles, or send to its queues. */
export const servicePrincipals = {
  ecsTasks: "ecs-tasks.amazonaws.com",
  lambda: "lambda.amazonaws.com",
  sagemaker: "sagemaker.amazonaws.com",
  events: "events.amazonaws.com",
} as const;

/** A queue's resource policy: one service may send to it, on behalf of one source ARN. */
export interface QueuePolicy extends iam.PolicyDocument {
  Version: "2012-10-17";
  Statement: {
    Sid: string;
    Effect: "Allow";
    Principal: { Service: string };
    Action: string[];
    Resource: string;
    Condition: { ArnEquals: { "aws:SourceArn": string } };
  }[];
}

/** Lets one AWS service assume the role. */
export function trustPolicy(service: string): TrustPolicy {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  };
}

/** A policy of the statements given (undefined ones left out). */
export function policy(...statements: (PolicyStatement | undefined)[]): RolePolicy {
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

/** Write a function's (or a job's) logs to its own log group. */
export function writeLogs(sid: string, logGroupArn: string): PolicyStatement {
  return {
    Sid: sid,
    Effect: "Allow",
    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
    Resource: logStreamsArn(logGroupArn),
  };
}

/** A pipeline's ARN (the stack's own: the records functions start and read its executions only). */
export function pipelineArn(scope: AwsScope, pipelineName: string): string {
  return `arn:${scope.partition}:sagemaker:${scope.region}:${scope.accountId}:pipeline/${pipelineName}`;
}

/**
 * The ARNs of the pipelines the functions act for (the stack's own and externalPipelineNames): each name as
 * given and, when it has capitals, lowercased too, as SageMaker writes pipeline names in some ARNs.
 */
export function pipelineArns(scope: AwsScope, pipelineNames: readonly string[]): string[] {
  const names = [...new Set(pipelineNames.flatMap((name) => [name, name.toLowerCase()]))];
  return names.map((name) => pipelineArn(scope, name));
}

/**
 * The execution tag names one of these pipelines' executions, on the job (`ResourceTag`) or in the request
 * that creates it (`RequestTag`): jobs of other workloads, and of other stacks, are out of reach.
 */
function taggedForPipelines(
  where: "ResourceTag" | "RequestTag",
  scope: AwsScope,
  pipelineNames: readonly string[],
) {
  return {
    StringLike: {
      [`aws:${where}/${executionTagKey}`]: [
        ...new Set(pipelineArns(scope, pipelineNames).flatMap(executionTagPatterns)),
      ],
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
  /** The private ECR repositories of the job kinds' images (images elsewhere need no permission). */
  ecrRepositoryArns: readonly string[];
}

/** Batch execution role (ECS agent): write the jobs' logs and pull the images in private ECR repositories. */
export function batchExecutionPolicy(args: BatchExecutionPolicyArgs): RolePolicy {
  const repositories = [...new Set(args.ecrRepositoryArns)].sort();
  return policy(
    writeLogs("WriteJobLogs", args.jobLogGroupArn),
    repositories.length === 0
      ? undefined
      : {
          Sid: "PullJobImage",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
          Resource: repositories.length === 1 ? repositories[0] : repositories,
        },
    repositories.length === 0
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

/**
 * Batch job role (the container): read the input and output prefixes (a bridge step may read what an
 * earlier one wrote), write the output prefix, nothing else.
 */
export function batchJobPolicy(args: BatchJobPolicyArgs): RolePolicy {
  return policy(...jobDataStatements(`arn:${args.partition}:s3:::${args.bucketName}`, args));
}

/**
 * What a job (a Batch container, a transform job) may do with the data bucket: read the input and output
 * prefixes (a step may read what an earlier one wrote), list them, write the output prefix.
 */
export function jobDataStatements(
  bucketArn: string,
  prefixes: { inputPrefix: string; outputPrefix: string },
): PolicyStatement[] {
  const readable = [prefixes.inputPrefix, prefixes.outputPrefix];
  return [
    {
      Sid: "ReadInput",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: readable.map((prefix) => `${bucketArn}/${prefix}*`),
    },
    {
      // Without ListBucket a missing input object reads as 403 instead of 404.
      Sid: "ListInput",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": readable.map((prefix) => `${prefix}*`) } },
    },
    {
      Sid: "WriteOutput",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: `${bucketArn}/${prefixes.outputPrefix}*`,
    },
  ];
}

export interface SubmitFunctionPolicyArgs {
  scope: AwsScope;
  /** The pipelines whose executions the function submits for: the stack's own and externalPipelineNames. */
  pipelineNames: readonly string[];
  jobQueueArn: string;
  /** Every job kind's job definition ARN without revision (`...:job-definition/<name>`). */
  jobDefinitionArnPrefixes: readonly string[];
  /** Names the executions' items in the status table (`<jobNamePrefix>-<execution id>...`). */
  jobNamePrefix: string;
  statusTableArn: string;
  cleanupQueueArn: string;
  logGroupArn: string;
}

/**
 * Submit function: claim each execution's submission, submit tagged jobs on our queue and definitions, find
 * them again, clean up a partial submission (handing what its time does not allow to the clean-up queue).
 */
export function submitFunctionPolicy(args: SubmitFunctionPolicyArgs): RolePolicy {
  const jobs = batchJobsArn(args.scope);
  const requestCarriesExecutionTag = taggedForPipelines("RequestTag", args.scope, args.pipelineNames);
  return policy(
    {
      // SubmitJob authorizes the queue, the definition (any revision) and the new job.
      Sid: "SubmitTaggedJobs",
      Effect: "Allow",
      Action: ["batch:SubmitJob"],
      Resource: [
        args.jobQueueArn,
        ...args.jobDefinitionArnPrefixes.flatMap((prefix) => [prefix, `${prefix}:*`]),
        jobs,
      ],
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
      Condition: taggedForPipelines("ResourceTag", args.scope, args.pipelineNames),
    },
    {
      Sid: "HandOverCleanup",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.cleanupQueueArn,
    },
    {
      // Conditional writes on the submission items only (`<execution job name>#submission`), not on the
      // steps' waits.
      Sid: "ClaimSubmissions",
      Effect: "Allow",
      Action: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
      Resource: args.statusTableArn,
      Condition: {
        "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [submissionKey(`${args.jobNamePrefix}-*`)] },
      },
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

/** Terminate the jobs of an execution (fail fast, or a stopped execution); only these pipelines' jobs. */
function stopJobsOfExecution(scope: AwsScope, pipelineNames: readonly string[]): PolicyStatement {
  return {
    Sid: "StopJobsOfExecution",
    Effect: "Allow",
    Action: ["batch:TerminateJob"],
    Resource: batchJobsArn(scope),
    Condition: taggedForPipelines("ResourceTag", scope, pipelineNames),
  };
}

/** The step callbacks of these pipelines' executions, and no other pipeline's. */
function answerCallbackSteps(scope: AwsScope, pipelineNames: readonly string[]): PolicyStatement {
  const executions = pipelineArns(scope, pipelineNames).map((arn) => `${arn}/execution/*`);
  return {
    Sid: "AnswerCallbackSteps",
    Effect: "Allow",
    Action: ["sagemaker:SendPipelineExecutionStepSuccess", "sagemaker:SendPipelineExecutionStepFailure"],
    Resource: executions.length === 1 ? executions[0] : executions,
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

/** Where step reports go: under the output prefix only (functions/step-report.ts names them). */
export interface StepReportPlace {
  bucketName: string;
  outputPrefix: string;
}

/** Write step reports, `<outputUri>/_bridge/report-*.json`, and nothing else, under the output prefix. */
function writeStepReports(scope: AwsScope, place: StepReportPlace): PolicyStatement {
  return {
    Sid: "WriteStepReports",
    Effect: "Allow",
    Action: ["s3:PutObject"],
    Resource: `arn:${scope.partition}:s3:::${place.bucketName}/${place.outputPrefix}*_bridge/report-*.json`,
  };
}

export interface MonitorFunctionPolicyArgs {
  scope: AwsScope;
  /** The pipelines whose steps the function answers: the stack's own and externalPipelineNames. */
  pipelineNames: readonly string[];
  callbackQueueArn: string;
  deadLetterQueueArn: string;
  logGroupArn: string;
  /** Set when steps are also answered from job state-change events (completionEvents). */
  statusTableArn?: string;
  reports: StepReportPlace;
}

/** Monitor function: check and stop the executions' jobs, answer the callback steps, consume the queue. */
export function monitorFunctionPolicy(args: MonitorFunctionPolicyArgs): RolePolicy {
  return policy(
    checkJobs,
    stopJobsOfExecution(args.scope, args.pipelineNames),
    answerCallbackSteps(args.scope, args.pipelineNames),
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
    writeStepReports(args.scope, args.reports),
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface JobEventFunctionPolicyArgs {
  scope: AwsScope;
  /** The pipelines whose steps the function answers: the stack's own and externalPipelineNames. */
  pipelineNames: readonly string[];
  statusTableArn: string;
  callbackQueueArn: string;
  logGroupArn: string;
  reports: StepReportPlace;
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
    stopJobsOfExecution(args.scope, args.pipelineNames),
    answerCallbackSteps(args.scope, args.pipelineNames),
    {
      Sid: "DeleteAnsweredCallbackMessages",
      Effect: "Allow",
      Action: ["sqs:DeleteMessage"],
      Resource: args.callbackQueueArn,
    },
    writeStepReports(args.scope, args.reports),
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

export interface CleanupFunctionPolicyArgs {
  scope: AwsScope;
  /** The pipelines whose executions' jobs it stops: the stack's own and externalPipelineNames. */
  pipelineNames: readonly string[];
  cleanupQueueArn: string;
  logGroupArn: string;
}

/**
 * Clean-up function: find an ended execution's jobs, terminate the tagged ones, consume the clean-up queue
 * and put a clean-up that must go on later back on it.
 */
export function cleanupFunctionPolicy(args: CleanupFunctionPolicyArgs): RolePolicy {
  return policy(
    checkJobs,
    stopJobsOfExecution(args.scope, args.pipelineNames),
    {
      Sid: "ConsumeCleanupRequests",
      Effect: "Allow",
      Action: [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
      ],
      Resource: args.cleanupQueueArn,
    },
    {
      Sid: "GoOnWithCleanupLater",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: args.cleanupQueueArn,
    },
    writeLogs("WriteFunctionLogs", args.logGroupArn),
  );
}

/** The queue-jobs function: list and describe jobs to count them by state, write its own logs. */
export function queueJobsFunctionPolicy(args: { logGroupArn: string }): RolePolicy {
  return policy(checkJobs, writeLogs("WriteFunctionLogs", args.logGroupArn));
}

/**
 * The policy of a queue an EventBridge rule sends to (its target, or its target's dead-letter queue): only
 * EventBridge, and only for that rule.
 */
export function ruleDeliveryQueuePolicy(args: { queueArn: string; ruleArn: string }): QueuePolicy {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DeliverRuleEvents",
        Effect: "Allow",
        Principal: { Service: servicePrincipals.events },
        Action: ["sqs:SendMessage"],
        Resource: args.queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": args.ruleArn } },
      },
    ],
  };
}

export interface PipelinePolicyArgs {
  submitFunctionArn: string;
  callbackQueueArn: string;
}

/**
 * Pipeline execution role: run the Lambda step and send the Callback step's token. Nothing else. The
 * stack's own pipeline's role holds it, and a pipeline managed elsewhere needs it for its bridge steps
 * (the `pipelineRolePolicy` output).
 */
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
