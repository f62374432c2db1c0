import { expect } from "chai";
import {
  batchExecutionPolicy,
  batchJobPolicy,
  cleanupFunctionPolicy,
  jobEventFunctionPolicy,
  monitorFunctionPolicy,
  pipelinePolicy,
  privateEcrRepositoryArn,
  ruleDeliveryQueuePolicy,
  submitFunctionPolicy,
  trustPolicy,
  type RolePolicy,
} from "../../infra/iam-policies";
import { executionTagValue } from "../../functions/job-names";
import { executionTagKey } from "../../functions/step-contract";
import { submissionKey } from "../../functions/submission-claim";
import { iamReferenceProblems } from "../support/iam-reference";

const scope = { partition: "aws", region: "eu-west-1", accountId: "123456789012" };
const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:123456789012:${resource}`;
const jobs = arn("batch", "job/*");
const thisPipelinesExecutions = [arn("sagemaker", "pipeline/batch-bridge/execution/*")];
const tagged = { StringLike: { [`aws:ResourceTag/${executionTagKey}`]: thisPipelinesExecutions } };

const executionPolicy = batchExecutionPolicy({
  jobLogGroupArn: arn("logs", "log-group:/aws/batch/bridge"),
  ecrRepositoryArns: [],
});
const ecrRepository = arn("ecr", "repository/team/model");
const executionPolicyWithEcr = batchExecutionPolicy({
  jobLogGroupArn: arn("logs", "log-group:/aws/batch/bridge"),
  ecrRepositoryArns: [ecrRepository],
});
const jobPolicy = batchJobPolicy({
  partition: "aws",
  bucketName: "data-bucket",
  inputPrefix: "input/",
  outputPrefix: "output/",
});
const submitArgs = {
  scope,
  pipelineNames: ["batch-bridge"],
  jobQueueArn: arn("batch", "job-queue/bridge-jobs"),
  jobDefinitionArnPrefixes: [arn("batch", "job-definition/bridge-job")],
  jobNamePrefix: "bridge",
  statusTableArn: arn("dynamodb", "table/bridge-executions"),
  cleanupQueueArn: arn("sqs", "bridge-cleanup"),
  logGroupArn: arn("logs", "log-group:/aws/lambda/bridge-submit"),
};
const submitPolicy = submitFunctionPolicy(submitArgs);
const monitorArgs = {
  scope,
  pipelineNames: ["batch-bridge"],
  callbackQueueArn: arn("sqs", "bridge-callbacks"),
  deadLetterQueueArn: arn("sqs", "bridge-callbacks-dlq"),
  logGroupArn: arn("logs", "log-group:/aws/lambda/bridge-monitor"),
  reports: { bucketName: "data-bucket", outputPrefix: "output/" },
};
const monitorPolicy = monitorFunctionPolicy(monitorArgs);
const statusTableArn = arn("dynamodb", "table/bridge-executions");
const monitorPolicyWithTable = monitorFunctionPolicy({ ...monitorArgs, statusTableArn });
const jobEventArgs = {
  scope,
  pipelineNames: ["batch-bridge"],
  statusTableArn,
  callbackQueueArn: arn("sqs", "bridge-callbacks"),
  logGroupArn: arn("logs", "log-group:/aws/lambda/bridge-job-event"),
  reports: { bucketName: "data-bucket", outputPrefix: "output/" },
};
const jobEventPolicy = jobEventFunctionPolicy(jobEventArgs);
/** The answering functions write step reports under the output prefix, and nothing else there. */
const writeStepReports = {
  Sid: "WriteStepReports",
  Effect: "Allow",
  Action: ["s3:PutObject"],
  Resource: "arn:aws:s3:::data-bucket/output/*_bridge/report-*.json",
};

/** IAM's StringLike: `*` matches any run of characters, `?` any one, everything else itself. */
function stringLike(pattern: string, value: string): boolean {
  const source = [...pattern]
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`, "s").test(value);
}
const trackWaitingSteps = {
  Sid: "TrackWaitingSteps",
  Effect: "Allow",
  Action: ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
  Resource: statusTableArn,
};
const executionRolePolicy = pipelinePolicy({
  submitFunctionArn: arn("lambda", "function:bridge-submit"),
  callbackQueueArn: arn("sqs", "bridge-callbacks"),
});

const cleanupArgs = {
  scope,
  pipelineNames: ["batch-bridge"],
  cleanupQueueArn: arn("sqs", "bridge-cleanup"),
  logGroupArn: arn("logs", "log-group:/aws/lambda/bridge-cleanup"),
};
const cleanupPolicy = cleanupFunctionPolicy(cleanupArgs);

const allPolicies: Record<string, RolePolicy> = {
  executionPolicy,
  executionPolicyWithEcr,
  jobPolicy,
  submitPolicy,
  monitorPolicy,
  monitorPolicyWithTable,
  jobEventPolicy,
  cleanupPolicy,
  executionRolePolicy,
};

describe("IAM policies", () => {
  it("grants only actions that exist, on resources of the types they act on", async () => {
    for (const [name, policy] of Object.entries(allPolicies)) {
      expect(await iamReferenceProblems(policy.Statement), name).to.deep.equal([]);
    }
  });

  it("the reference check catches a made-up action, a wrong resource type and a stray wildcard", async () => {
    const problems = await iamReferenceProblems([
      { Sid: "A", Action: ["batch:SubmitJobs"], Resource: "*" },
      { Sid: "B", Action: ["sqs:SendMessage"], Resource: arn("sns", "topic") },
      { Sid: "C", Action: ["batch:TerminateJob"], Resource: "*" },
      { Sid: "D", Action: ["batch:DescribeJobs"], Resource: jobs },
      { Sid: "E", Action: ["sqs:SendMessage"], Resource: "*", Condition: { Null: { "s3:prefix": "x" } } },
    ]);
    expect(problems.map((p) => p.split(":")[0])).to.deep.equal([
      "statement A",
      "statement B",
      "statement C",
      "statement D",
      "statement E",
      "statement E",
    ]);
  });

  it("lets only the one service assume each role", () => {
    expect(trustPolicy("lambda.amazonaws.com")).to.deep.equal({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    });
  });

  it("Batch execution role: writes the job log group's streams, pulls only from a private ECR repository", () => {
    expect(executionPolicy.Statement).to.deep.equal([
      {
        Sid: "WriteJobLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", "log-group:/aws/batch/bridge:log-stream:*"),
      },
    ]);
    expect(executionPolicyWithEcr.Statement.slice(1)).to.deep.equal([
      {
        Sid: "PullJobImage",
        Effect: "Allow",
        Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
        Resource: ecrRepository,
      },
      { Sid: "LogInToEcr", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
    ]);
  });

  it("derives the ECR repository ARN from a private image URI and nothing from public registries", () => {
    expect(
      privateEcrRepositoryArn("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:1.2", "aws"),
    ).to.equal(ecrRepository);
    expect(
      privateEcrRepositoryArn("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/model@sha256:ab", "aws-cn"),
    ).to.equal("arn:aws-cn:ecr:cn-north-1:210987654321:repository/model");
    expect(privateEcrRepositoryArn("public.ecr.aws/aws-cli/aws-cli:latest", "aws")).to.equal(undefined);
    expect(privateEcrRepositoryArn("python:3.12", "aws")).to.equal(undefined);
  });

  it("Batch execution role: pulls the private ECR images of every job kind, each repository once", () => {
    const other = arn("ecr", "repository/team/embedder");
    const policy = batchExecutionPolicy({
      jobLogGroupArn: arn("logs", "log-group:/aws/batch/bridge"),
      ecrRepositoryArns: [ecrRepository, other, ecrRepository],
    });
    expect(policy.Statement.find((s) => s.Sid === "PullJobImage")?.Resource).to.deep.equal([
      other,
      ecrRepository,
    ]);
  });

  it("Batch job role: reads the input and output prefixes (a later step reads an earlier one's output), writes only the output prefix", () => {
    expect(jobPolicy.Statement).to.deep.equal([
      {
        Sid: "ReadInput",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: ["arn:aws:s3:::data-bucket/input/*", "arn:aws:s3:::data-bucket/output/*"],
      },
      {
        Sid: "ListInput",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: "arn:aws:s3:::data-bucket",
        Condition: { StringLike: { "s3:prefix": ["input/*", "output/*"] } },
      },
      {
        Sid: "WriteOutput",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
        Resource: "arn:aws:s3:::data-bucket/output/*",
      },
    ]);
  });

  it("submit role: submits tagged jobs on its queue and definition, lists, terminates only tagged jobs, claims submissions only", () => {
    const requestTag = { StringLike: { [`aws:RequestTag/${executionTagKey}`]: thisPipelinesExecutions } };
    expect(submitPolicy.Statement).to.deep.equal([
      {
        Sid: "SubmitTaggedJobs",
        Effect: "Allow",
        Action: ["batch:SubmitJob"],
        Resource: [
          arn("batch", "job-queue/bridge-jobs"),
          arn("batch", "job-definition/bridge-job"),
          arn("batch", "job-definition/bridge-job:*"),
          jobs,
        ],
        Condition: requestTag,
      },
      {
        Sid: "TagJobsOnSubmit",
        Effect: "Allow",
        Action: ["batch:TagResource"],
        Resource: jobs,
        Condition: { ...requestTag, "ForAllValues:StringEquals": { "aws:TagKeys": [executionTagKey] } },
      },
      { Sid: "FindJobsOfExecution", Effect: "Allow", Action: ["batch:ListJobs"], Resource: "*" },
      {
        Sid: "CleanUpPartialSubmission",
        Effect: "Allow",
        Action: ["batch:TerminateJob"],
        Resource: jobs,
        Condition: tagged,
      },
      {
        Sid: "HandOverCleanup",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: arn("sqs", "bridge-cleanup"),
      },
      {
        Sid: "ClaimSubmissions",
        Effect: "Allow",
        Action: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
        Resource: arn("dynamodb", "table/bridge-executions"),
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["bridge-*#submission"] } },
      },
      {
        Sid: "WriteFunctionLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", "log-group:/aws/lambda/bridge-submit:log-stream:*"),
      },
    ]);
    // The claim items match the condition; the steps' waits and shard sets do not.
    const leadingKeys = (submitPolicy.Statement.find((s) => s.Sid === "ClaimSubmissions")?.Condition ?? {})[
      "ForAllValues:StringLike"
    ]["dynamodb:LeadingKeys"] as string[];
    const reachable = (key: string) => leadingKeys.some((pattern) => stringLike(pattern, key));
    expect(reachable(submissionKey("bridge-abcdef123456"))).to.equal(true);
    expect(reachable("bridge-abcdef123456")).to.equal(false);
    expect(reachable("bridge-abcdef123456#shards-0")).to.equal(false);
  });

  it("monitor role: checks jobs, stops tagged ones, answers this pipeline's steps, consumes its queue", () => {
    expect(monitorPolicy.Statement).to.deep.equal([
      {
        Sid: "CheckJobs",
        Effect: "Allow",
        Action: ["batch:DescribeJobs", "batch:ListJobs"],
        Resource: "*",
      },
      {
        Sid: "StopJobsOfExecution",
        Effect: "Allow",
        Action: ["batch:TerminateJob"],
        Resource: jobs,
        Condition: tagged,
      },
      {
        Sid: "AnswerCallbackSteps",
        Effect: "Allow",
        Action: ["sagemaker:SendPipelineExecutionStepSuccess", "sagemaker:SendPipelineExecutionStepFailure"],
        Resource: arn("sagemaker", "pipeline/batch-bridge/execution/*"),
      },
      {
        Sid: "ConsumeCallbackMessages",
        Effect: "Allow",
        Action: [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
          "sqs:ChangeMessageVisibility",
        ],
        Resource: arn("sqs", "bridge-callbacks"),
      },
      {
        Sid: "SetAsideMalformedMessages",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: arn("sqs", "bridge-callbacks-dlq"),
      },
      writeStepReports,
      {
        Sid: "WriteFunctionLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", "log-group:/aws/lambda/bridge-monitor:log-stream:*"),
      },
    ]);
  });

  it("monitor role with completion events: the same, plus the status table and nothing else", () => {
    expect(monitorPolicyWithTable.Statement).to.deep.equal([
      ...monitorPolicy.Statement.slice(0, -2),
      trackWaitingSteps,
      ...monitorPolicy.Statement.slice(-2),
    ]);
  });

  it("job-event role: the status table, checks and stops tagged jobs, answers this pipeline, deletes answered messages", () => {
    expect(jobEventPolicy.Statement).to.deep.equal([
      trackWaitingSteps,
      {
        Sid: "CheckJobs",
        Effect: "Allow",
        Action: ["batch:DescribeJobs", "batch:ListJobs"],
        Resource: "*",
      },
      {
        Sid: "StopJobsOfExecution",
        Effect: "Allow",
        Action: ["batch:TerminateJob"],
        Resource: jobs,
        Condition: tagged,
      },
      {
        Sid: "AnswerCallbackSteps",
        Effect: "Allow",
        Action: ["sagemaker:SendPipelineExecutionStepSuccess", "sagemaker:SendPipelineExecutionStepFailure"],
        Resource: arn("sagemaker", "pipeline/batch-bridge/execution/*"),
      },
      {
        Sid: "DeleteAnsweredCallbackMessages",
        Effect: "Allow",
        Action: ["sqs:DeleteMessage"],
        Resource: arn("sqs", "bridge-callbacks"),
      },
      writeStepReports,
      {
        Sid: "WriteFunctionLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", "log-group:/aws/lambda/bridge-job-event:log-stream:*"),
      },
    ]);
  });

  it("pipeline role: invokes the submit function and sends to the callback queue, nothing else", () => {
    expect(executionRolePolicy.Statement).to.deep.equal([
      {
        Sid: "InvokeSubmitFunction",
        Effect: "Allow",
        Action: ["lambda:InvokeFunction"],
        Resource: arn("lambda", "function:bridge-submit"),
      },
      {
        Sid: "SendCallbackTokens",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: arn("sqs", "bridge-callbacks"),
      },
    ]);
  });

  it("lets each role act on the jobs of its pipeline's executions, however long the name, and on no other's", () => {
    for (const length of [12, 139, 140, 200, 256]) {
      const pipelineName = "p".repeat(length);
      const otherPipeline = `${"p".repeat(length - 1)}q`;
      const tagConditions = [
        ...submitFunctionPolicy({ ...submitArgs, pipelineNames: [pipelineName] }).Statement,
        ...monitorFunctionPolicy({ ...monitorArgs, pipelineNames: [pipelineName] }).Statement,
        ...jobEventFunctionPolicy({ ...jobEventArgs, pipelineNames: [pipelineName] }).Statement,
      ].flatMap((statement) => Object.entries(statement.Condition?.StringLike ?? {}));
      expect(tagConditions.map(([key]) => key)).to.have.members([
        `aws:RequestTag/${executionTagKey}`,
        `aws:RequestTag/${executionTagKey}`,
        `aws:ResourceTag/${executionTagKey}`,
        `aws:ResourceTag/${executionTagKey}`,
        `aws:ResourceTag/${executionTagKey}`,
      ]);
      const allowed = (tagValue: string) =>
        tagConditions.every(([, patterns]) => [patterns].flat().some((p) => stringLike(p, tagValue)));

      // SageMaker execution ids are 12 characters; the ARN pattern allows up to 56.
      const tags = ["abcdef123456", "abcdef123457", "x".repeat(56)].map((id) =>
        executionTagValue(arn("sagemaker", `pipeline/${pipelineName}/execution/${id}`)),
      );
      for (const tag of tags) {
        expect(tag.length, tag).to.be.at.most(256);
        expect(allowed(tag), tag).to.equal(true);
      }
      expect(new Set(tags).size).to.equal(tags.length);
      const otherTag = executionTagValue(
        arn("sagemaker", `pipeline/${otherPipeline}/execution/abcdef123456`),
      );
      expect(allowed(otherTag), otherTag).to.equal(false);
      expect(tags).to.not.include(otherTag);
    }
  });

  it("submit role with job kinds: submits to every kind's job definition and to no other", () => {
    const kinds = [arn("batch", "job-definition/bridge-job"), arn("batch", "job-definition/bridge-job-gpu")];
    const policy = submitFunctionPolicy({ ...submitArgs, jobDefinitionArnPrefixes: kinds });
    expect(policy.Statement[0].Resource).to.deep.equal([
      arn("batch", "job-queue/bridge-jobs"),
      kinds[0],
      `${kinds[0]}:*`,
      kinds[1],
      `${kinds[1]}:*`,
      jobs,
    ]);
  });

  describe("with pipelines managed outside the stack", () => {
    const pipelineNames = ["batch-bridge", "team-training", "NightlyScoring"];
    const policies = [
      submitFunctionPolicy({ ...submitArgs, pipelineNames }),
      monitorFunctionPolicy({ ...monitorArgs, pipelineNames }),
      jobEventFunctionPolicy({ ...jobEventArgs, pipelineNames }),
    ];
    const tagConditions = policies
      .flatMap((policy) => policy.Statement)
      .flatMap((statement) => Object.values(statement.Condition?.StringLike ?? {}));
    const taggable = (pipeline: string) =>
      tagConditions.every((patterns) =>
        [patterns]
          .flat()
          .some((p) => stringLike(p, arn("sagemaker", `pipeline/${pipeline}/execution/abcdef123456`))),
      );
    const answerable = (pipeline: string) =>
      policies
        .slice(1)
        .every((policy) =>
          [policy.Statement.find((s) => s.Sid === "AnswerCallbackSteps")!.Resource]
            .flat()
            .some((r) => stringLike(r, arn("sagemaker", `pipeline/${pipeline}/execution/abcdef123456`))),
        );

    it("submits, stops and answers for those pipelines' executions too", () => {
      expect(tagConditions).to.have.length(5);
      for (const pipeline of ["batch-bridge", "team-training", "NightlyScoring"]) {
        expect(taggable(pipeline), pipeline).to.equal(true);
        expect(answerable(pipeline), pipeline).to.equal(true);
      }
    });

    it("covers a name with capitals as SageMaker writes it in ARNs, lowercased", () => {
      expect(taggable("nightlyscoring")).to.equal(true);
      expect(answerable("nightlyscoring")).to.equal(true);
    });

    it("and for no other pipeline", () => {
      for (const pipeline of ["team-training2", "other", "batch-bridge-x"]) {
        expect(taggable(pipeline), pipeline).to.equal(false);
        expect(answerable(pipeline), pipeline).to.equal(false);
      }
    });

    it("passes the reference check", async () => {
      for (const policy of policies) expect(await iamReferenceProblems(policy.Statement)).to.deep.equal([]);
    });

    it("the clean-up role stops those pipelines' jobs too, and no other pipeline's", () => {
      const stop = cleanupFunctionPolicy({ ...cleanupArgs, pipelineNames }).Statement.find(
        (s) => s.Sid === "StopJobsOfExecution",
      )!;
      const patterns = [Object.values(stop.Condition!.StringLike)].flat(2);
      const stoppable = (pipeline: string) =>
        patterns.some((p) => stringLike(p, arn("sagemaker", `pipeline/${pipeline}/execution/abcdef123456`)));
      for (const pipeline of [...pipelineNames, "nightlyscoring"])
        expect(stoppable(pipeline), pipeline).to.equal(true);
      for (const pipeline of ["team-training2", "other"])
        expect(stoppable(pipeline), pipeline).to.equal(false);
    });
  });

  it("clean-up role: checks jobs, stops tagged ones, consumes its queue and sends to it alone", () => {
    expect(cleanupPolicy.Statement).to.deep.equal([
      { Sid: "CheckJobs", Effect: "Allow", Action: ["batch:DescribeJobs", "batch:ListJobs"], Resource: "*" },
      {
        Sid: "StopJobsOfExecution",
        Effect: "Allow",
        Action: ["batch:TerminateJob"],
        Resource: jobs,
        Condition: tagged,
      },
      {
        Sid: "ConsumeCleanupRequests",
        Effect: "Allow",
        Action: [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
          "sqs:ChangeMessageVisibility",
        ],
        Resource: arn("sqs", "bridge-cleanup"),
      },
      {
        Sid: "GoOnWithCleanupLater",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: arn("sqs", "bridge-cleanup"),
      },
      {
        Sid: "WriteFunctionLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", "log-group:/aws/lambda/bridge-cleanup:log-stream:*"),
      },
    ]);
  });

  it("a rule's queue takes messages from EventBridge for that rule alone", async () => {
    const queuePolicy = ruleDeliveryQueuePolicy({
      queueArn: arn("sqs", "bridge-cleanup"),
      ruleArn: arn("events", "rule/bridge-execution-ended"),
    });
    expect(queuePolicy.Statement).to.deep.equal([
      {
        Sid: "DeliverRuleEvents",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: ["sqs:SendMessage"],
        Resource: arn("sqs", "bridge-cleanup"),
        Condition: { ArnEquals: { "aws:SourceArn": arn("events", "rule/bridge-execution-ended") } },
      },
    ]);
    expect(await iamReferenceProblems(queuePolicy.Statement)).to.deep.equal([]);
  });

  it("never grants a wildcard action or iam:PassRole", () => {
    for (const [name, policy] of Object.entries(allPolicies)) {
      for (const statement of policy.Statement) {
        for (const action of statement.Action) {
          expect(action, `${name} ${statement.Sid}`).to.match(/^[a-z0-9-]+:[A-Za-z]+$/);
          expect(action).to.not.equal("iam:PassRole");
        }
      }
    }
  });
});
