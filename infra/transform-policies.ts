/**
 * The transform engine's IAM: the role of the model the stack creates, and what a pipeline's role needs to
 * run the stack's Transform steps. Pure, as iam-policies.ts: resolved ARNs in, plain documents out.
 */
import {
  jobDataStatements,
  policy,
  privateEcrRepositoryArn,
  type AwsScope,
  type PolicyStatement,
  type RolePolicy,
} from "./iam-policies";

/**
 * The transform jobs a pipeline starts: SageMaker Pipelines names a step's job
 * `pipelines-<execution id>-<step name>-<random suffix>`, e.g. `pipelines-kytlemm1lvpq-PreprocessingStep-cIpzShs3Qp`
 * (a job of a pipeline step, https://github.com/aws/amazon-sagemaker-examples/issues/3106), so the pipeline's
 * role reaches these and no other transform job. Only a definition that names its job (TransformJobName,
 * with the Python SDK's `PipelineDefinitionConfig(use_custom_job_prefix=True)`; SageMaker developer guide,
 * "Access management", build-and-manage-step-permissions-prefix, and aws/sagemaker-python-sdk#3946) gets
 * `<its prefix>-<execution id>-...` instead: the stack's Transform steps name none.
 */
export function pipelineTransformJobsArn(scope: AwsScope): string {
  return `arn:${scope.partition}:sagemaker:${scope.region}:${scope.accountId}:transform-job/pipelines-*`;
}

/** A model's ARN: SageMaker writes model names lowercased in ARNs. */
export function modelArn(scope: AwsScope, modelName: string): string {
  return `arn:${scope.partition}:sagemaker:${scope.region}:${scope.accountId}:model/${modelName.toLowerCase()}`;
}

/** The log group SageMaker writes every transform job's logs to ("Log Amazon SageMaker Events with CloudWatch"). */
export function transformLogGroupArn(scope: AwsScope): string {
  return `arn:${scope.partition}:logs:${scope.region}:${scope.accountId}:log-group:/aws/sagemaker/TransformJobs`;
}

export interface TransformPipelineStatementsArgs {
  scope: AwsScope;
  /** The stack's model: the only one a Transform step may run. */
  modelArn: string;
  /** The stack's transformInstanceType: the only type its jobs may ask for. */
  instanceType: string;
}

/**
 * What a pipeline's role needs for the stack's Transform steps: create its transform jobs with the stack's
 * model on the stack's instance type (`sagemaker:ModelArn`, `sagemaker:InstanceTypes`, the condition keys
 * CreateTransformJob supports), follow them and stop them when the execution stops. No `iam:PassRole`:
 * CreateTransformJob takes no role, the job runs with the model's own.
 */
export function transformPipelineStatements(args: TransformPipelineStatementsArgs): PolicyStatement[] {
  const jobs = pipelineTransformJobsArn(args.scope);
  return [
    {
      Sid: "CreateTransformJobsWithTheStacksModel",
      Effect: "Allow",
      Action: ["sagemaker:CreateTransformJob"],
      Resource: jobs,
      Condition: {
        ArnEquals: { "sagemaker:ModelArn": args.modelArn },
        "ForAllValues:StringEquals": { "sagemaker:InstanceTypes": [args.instanceType] },
      },
    },
    {
      Sid: "FollowAndStopTransformJobs",
      Effect: "Allow",
      Action: ["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
      Resource: jobs,
    },
  ];
}

export interface TransformModelPolicyArgs {
  scope: AwsScope;
  bucketName: string;
  inputPrefix: string;
  outputPrefix: string;
  /** The model's artifacts, `s3://bucket/key`, already checked. */
  modelData: { bucket: string; key: string };
  image: string;
}

/**
 * The role of the model the stack creates, which its transform jobs run with: read the model's artifacts,
 * read the input (and output, which an earlier step may have written) prefixes, write the output prefix,
 * pull a private ECR image, write the transform jobs' log group. Nothing else.
 */
export function transformModelPolicy(args: TransformModelPolicyArgs): RolePolicy {
  const { partition } = args.scope;
  const bucketArn = `arn:${partition}:s3:::${args.bucketName}`;
  const repository = privateEcrRepositoryArn(args.image, partition);
  const logGroup = transformLogGroupArn(args.scope);
  return policy(
    {
      Sid: "ReadModelData",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: `arn:${partition}:s3:::${args.modelData.bucket}/${args.modelData.key}`,
    },
    ...jobDataStatements(bucketArn, args),
    repository === undefined
      ? undefined
      : {
          Sid: "PullModelImage",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
          Resource: repository,
        },
    repository === undefined
      ? undefined
      : {
          Sid: "LogInToEcr",
          Effect: "Allow",
          Action: ["ecr:GetAuthorizationToken"],
          Resource: "*",
        },
    {
      Sid: "CreateTransformLogGroup",
      Effect: "Allow",
      Action: ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
      Resource: `${logGroup}:*`,
    },
    {
      Sid: "WriteTransformLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${logGroup}:log-stream:*`,
    },
  );
}
