import { expect } from "chai";
import { parseConfig } from "../../infra/config";
import { jobRetryConditions } from "../../infra/batch";
import { jobStateChangePattern } from "../../functions/batch-job-state-event";
import { statusTableKey, statusTableTtlAttribute } from "../../functions/status-table-items";
import {
  batchExecutionPolicy,
  batchJobPolicy,
  cleanupFunctionPolicy,
  jobEventFunctionPolicy,
  monitorFunctionPolicy,
  pipelinePolicy,
  ruleDeliveryQueuePolicy,
  submitFunctionPolicy,
} from "../../infra/iam-policies";
import { loadHandler } from "../../render/load-handler";
import { renderStack } from "../../render/render-stack";
import { pipelineDefinitionOf, type RenderedResource, type RenderedStack } from "../../render/rendered-stack";
import { iamReferenceProblems, type StatementLike } from "../support/iam-reference";

const account = "123456789012";
const region = "us-east-1";
const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;

/** The one resource of a type and name; fails the test when there is not exactly one. */
function resource(stack: RenderedStack, type: string, name?: string): RenderedResource {
  const found = stack.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  expect(found, `${type} ${name ?? ""}`).to.have.length(1);
  return found[0];
}

function ofType(stack: RenderedStack, type: string): RenderedResource[] {
  return stack.resources.filter((r) => r.type === type);
}

const types = {
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  queue: "aws:sqs/queue:Queue",
  computeEnvironment: "aws:batch/computeEnvironment:ComputeEnvironment",
  jobQueue: "aws:batch/jobQueue:JobQueue",
  jobDefinition: "aws:batch/jobDefinition:JobDefinition",
  function: "aws:lambda/function:Function",
  eventSourceMapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  permission: "aws:lambda/permission:Permission",
  eventInvokeConfig: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
  eventRule: "aws:cloudwatch/eventRule:EventRule",
  eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
  table: "aws:dynamodb/table:Table",
  pipeline: "aws:sagemaker/pipeline:Pipeline",
  bucket: "aws:s3/bucket:Bucket",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  defaultVpc: "awsx:ec2:DefaultVpc",
};

interface Statement extends StatementLike {
  Sid: string;
  Effect: string;
}

/** The statements of the inline policy of the role with this logical name. */
function statementsOf(stack: RenderedStack, roleName: string): Statement[] {
  const policy = resource(stack, types.rolePolicy, roleName);
  expect(policy.inputs.role).to.equal(resource(stack, types.role, roleName).state.name);
  return JSON.parse(policy.inputs.policy as string).Statement;
}

function trustedService(stack: RenderedStack, roleName: string): string {
  const trust = JSON.parse(resource(stack, types.role, roleName).inputs.assumeRolePolicy as string);
  expect(trust.Statement).to.have.length(1);
  expect(trust.Statement[0].Action).to.equal("sts:AssumeRole");
  return trust.Statement[0].Principal.Service;
}

describe("the stack under the mock engine", () => {
  let dev: RenderedStack;
  /** Pulumi.dev.yaml's values. */
  const devConfigRaw = {
    pipelineName: "batch-bridge-dev",
    jobNamePrefix: "bridge-dev",
    callbackQueueName: "batch-bridge-dev-callbacks",
    statusTableName: "batch-bridge-dev-executions",
    jobQueueName: "batch-bridge-dev-jobs",
    jobDefinitionName: "batch-bridge-dev-job",
    computeEnvironmentName: "batch-bridge-dev-fargate",
    capacityType: "FARGATE_SPOT",
    vcpu: "0.5",
    memoryMiB: "1024",
    maxVcpus: "64",
    jobTimeoutSeconds: "1800",
    defaultShardCount: "8",
    logRetentionDays: "14",
  };
  const devConfig = parseConfig(devConfigRaw);

  before(async () => {
    dev = await renderStack({ stack: "dev" });
  });

  describe("outputs", () => {
    it("exports what an operator needs, with the names and ARNs AWS will show", () => {
      const bucket = resource(dev, types.bucket).state.bucket;
      expect(dev.outputs).to.deep.equal({
        pipelineName: "batch-bridge-dev",
        pipelineArn: arn("sagemaker", "pipeline/batch-bridge-dev"),
        callbackQueueUrl: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-callbacks`,
        deadLetterQueueUrl: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-callbacks-dlq`,
        jobQueueArn: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        jobDefinitionArn: arn("batch", "job-definition/batch-bridge-dev-job:1"),
        submitFunctionName: resource(dev, types.function, "batch-bridge-submit").state.name,
        submitFunctionArn: resource(dev, types.function, "batch-bridge-submit").state.arn,
        pipelineRolePolicy: JSON.parse(
          resource(dev, types.rolePolicy, "batch-bridge-pipeline").inputs.policy as string,
        ),
        monitorFunctionName: resource(dev, types.function, "batch-bridge-monitor").state.name,
        cleanupFunctionName: resource(dev, types.function, "batch-bridge-cleanup").state.name,
        cleanupDeadLetterQueueUrl: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-cleanup-dlq`,
        dataBucketName: bucket,
        startExecutionCommand:
          "aws sagemaker start-pipeline-execution --region us-east-1 --pipeline-name batch-bridge-dev",
        statusTableName: "batch-bridge-dev-executions",
        dashboardName: "batch-bridge-dev",
        eventFunctionName: resource(dev, types.function, "batch-bridge-job-event").state.name,
      });
    });

    it("puts every resource under the BatchBridge component", () => {
      const roots = dev.resources.filter((r) => r.parent === undefined);
      expect(roots.map((r) => r.type)).to.deep.equal(["sagemaker-batch-bridge:index:BatchBridge"]);
    });
  });

  describe("IAM", () => {
    const scope = { partition: "aws", region, accountId: account };
    /** The rendered state (ARN, name, ...) of the one resource of a type and name. */
    const stateOf = (type: string, name?: string) =>
      resource(dev, type, name).state as Record<string, string>;
    /** The ARN of the log group of this name. */
    const logGroupArn = (name: string) =>
      ofType(dev, types.logGroup)
        .filter((group) => group.state.name === name)
        .map((group) => String(group.state.arn))[0];

    it("attaches no managed policy to any role", () => {
      expect(ofType(dev, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).to.deep.equal([]);
      for (const role of ofType(dev, types.role)) {
        expect(role.inputs.managedPolicyArns ?? [], role.name).to.deep.equal([]);
      }
      expect(ofType(dev, types.role)).to.have.length(8);
    });

    it("grants only actions that exist, on resources of the types they act on", async () => {
      for (const policy of ofType(dev, types.rolePolicy)) {
        const statements = JSON.parse(policy.inputs.policy as string).Statement;
        expect(await iamReferenceProblems(statements), policy.name).to.deep.equal([]);
      }
    });

    // The statements themselves are spelled out in iam-policies.test.ts: here each role holds its builder's
    // policy on the stack's own resources.
    it("Batch execution role: trusted by ECS tasks, writes the job log group only (public image)", () => {
      expect(trustedService(dev, "batch-bridge-batch-execution")).to.equal("ecs-tasks.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-batch-execution")).to.deep.equal(
        batchExecutionPolicy({
          jobLogGroupArn: logGroupArn("/aws/batch/batch-bridge-dev-job"),
          ecrRepositoryArns: [],
        }).Statement,
      );
    });

    it("Batch job role: reads the input and output prefixes and writes the output prefix of the data bucket", () => {
      expect(trustedService(dev, "batch-bridge-batch-job")).to.equal("ecs-tasks.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-batch-job")).to.deep.equal(
        batchJobPolicy({
          partition: "aws",
          bucketName: String(resource(dev, types.bucket).state.bucket),
          inputPrefix: "input/",
          outputPrefix: "output/",
        }).Statement,
      );
    });

    it("submit role: submits tagged jobs on the stack's queue and definition, stops only tagged jobs", () => {
      expect(trustedService(dev, "batch-bridge-submit")).to.equal("lambda.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-submit")).to.deep.equal(
        submitFunctionPolicy({
          scope,
          pipelineNames: ["batch-bridge-dev"],
          jobQueueArn: stateOf(types.jobQueue).arn,
          jobDefinitionArnPrefixes: [String(stateOf(types.jobDefinition).arnPrefix)],
          jobNamePrefix: "bridge-dev",
          statusTableArn: stateOf(types.table).arn,
          cleanupQueueArn: stateOf(types.queue, "batch-bridge-cleanup").arn,
          logGroupArn: logGroupArn("/aws/lambda/batch-bridge-dev-submit"),
        }).Statement,
      );
    });

    it("monitor role: checks jobs, stops tagged ones, answers this pipeline, consumes the callback queue", () => {
      expect(trustedService(dev, "batch-bridge-monitor")).to.equal("lambda.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-monitor")).to.deep.equal(
        monitorFunctionPolicy({
          scope,
          pipelineNames: ["batch-bridge-dev"],
          callbackQueueArn: stateOf(types.queue, "batch-bridge-callbacks").arn,
          deadLetterQueueArn: stateOf(types.queue, "batch-bridge-callbacks-dlq").arn,
          logGroupArn: logGroupArn("/aws/lambda/batch-bridge-dev-monitor"),
          statusTableArn: stateOf(types.table).arn,
          reports: { bucketName: String(resource(dev, types.bucket).state.bucket), outputPrefix: "output/" },
        }).Statement,
      );
    });

    it("job-event role: uses the status table, checks and stops tagged jobs, answers this pipeline, deletes answered messages", () => {
      expect(trustedService(dev, "batch-bridge-job-event")).to.equal("lambda.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-job-event")).to.deep.equal(
        jobEventFunctionPolicy({
          scope,
          pipelineNames: ["batch-bridge-dev"],
          statusTableArn: stateOf(types.table).arn,
          callbackQueueArn: stateOf(types.queue, "batch-bridge-callbacks").arn,
          logGroupArn: logGroupArn("/aws/lambda/batch-bridge-dev-job-event"),
          reports: { bucketName: String(resource(dev, types.bucket).state.bucket), outputPrefix: "output/" },
        }).Statement,
      );
    });

    it("clean-up role: checks jobs, stops tagged ones, consumes the clean-up queue and puts clean-ups back on it", () => {
      expect(trustedService(dev, "batch-bridge-cleanup")).to.equal("lambda.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-cleanup")).to.deep.equal(
        cleanupFunctionPolicy({
          scope,
          pipelineNames: ["batch-bridge-dev"],
          cleanupQueueArn: stateOf(types.queue, "batch-bridge-cleanup").arn,
          logGroupArn: logGroupArn("/aws/lambda/batch-bridge-dev-cleanup"),
        }).Statement,
      );
    });

    it("lets only EventBridge send to the clean-up queues, and only for the stack's clean-up rule", () => {
      const rule = resource(dev, types.eventRule, "batch-bridge-execution-ended");
      for (const [policyName, queueName] of [
        ["batch-bridge-execution-ended-target", "batch-bridge-cleanup"],
        ["batch-bridge-execution-ended-dlq", "batch-bridge-cleanup-dlq"],
      ]) {
        const queue = resource(dev, types.queue, queueName);
        const policy = resource(dev, "aws:sqs/queuePolicy:QueuePolicy", policyName).inputs;
        expect(policy.queueUrl).to.equal(queue.state.url);
        expect(JSON.parse(policy.policy as string)).to.deep.equal(
          ruleDeliveryQueuePolicy({ queueArn: String(queue.state.arn), ruleArn: String(rule.state.arn) }),
        );
      }
    });

    it("pipeline role: trusted by SageMaker, invokes the submit function and sends to the callback queue", () => {
      expect(trustedService(dev, "batch-bridge-pipeline")).to.equal("sagemaker.amazonaws.com");
      expect(statementsOf(dev, "batch-bridge-pipeline")).to.deep.equal(
        pipelinePolicy({
          submitFunctionArn: stateOf(types.function, "batch-bridge-submit").arn,
          callbackQueueArn: stateOf(types.queue, "batch-bridge-callbacks").arn,
        }).Statement,
      );
    });
  });

  describe("Batch", () => {
    it("runs a managed Fargate compute environment in the default VPC's subnets behind an egress-only group", () => {
      const vpc = resource(dev, types.defaultVpc).state;
      const group = resource(dev, types.securityGroup);
      expect(group.inputs.vpcId).to.equal(vpc.vpcId);
      expect(group.inputs.ingress ?? []).to.deep.equal([]);
      expect(group.inputs.egress).to.have.length(1);
      const environment = resource(dev, types.computeEnvironment).inputs;
      expect(environment).to.deep.include({
        name: "batch-bridge-dev-fargate",
        type: "MANAGED",
        state: "ENABLED",
      });
      expect(environment.serviceRole).to.equal(undefined);
      expect(environment.computeResources).to.deep.equal({
        type: "FARGATE_SPOT",
        maxVcpus: 64,
        subnets: vpc.publicSubnetIds,
        securityGroupIds: [group.id],
      });
    });

    it("queues jobs on that compute environment", () => {
      expect(resource(dev, types.jobQueue).inputs).to.deep.include({
        name: "batch-bridge-dev-jobs",
        state: "ENABLED",
        priority: 1,
        computeEnvironmentOrders: [
          { order: 1, computeEnvironment: arn("batch", "compute-environment/batch-bridge-dev-fargate") },
        ],
      });
    });

    it("defines the job: image, command, size, roles, logs, network, timeout, retries, tags", () => {
      const definition = resource(dev, types.jobDefinition).inputs;
      const bucket = dev.outputs.dataBucketName;
      expect(definition).to.deep.include({
        name: "batch-bridge-dev-job",
        type: "container",
        platformCapabilities: ["FARGATE"],
        propagateTags: true,
        timeout: { attemptDurationSeconds: 1800 },
        parameters: {
          inputUri: `s3://${bucket}/input/`,
          outputUri: `s3://${bucket}/output/`,
          shardIndex: "0",
          shardCount: "1",
        },
      });
      expect(JSON.parse(definition.containerProperties as string)).to.deep.equal({
        image: "public.ecr.aws/aws-cli/aws-cli:latest",
        command: ["s3", "cp", "--recursive", "Ref::inputUri", "Ref::outputUri"],
        resourceRequirements: [
          { type: "VCPU", value: "0.5" },
          { type: "MEMORY", value: "1024" },
        ],
        executionRoleArn: resource(dev, types.role, "batch-bridge-batch-execution").state.arn,
        jobRoleArn: resource(dev, types.role, "batch-bridge-batch-job").state.arn,
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/aws/batch/batch-bridge-dev-job",
            "awslogs-region": region,
            "awslogs-stream-prefix": "job",
          },
        },
        networkConfiguration: { assignPublicIp: "ENABLED" },
        fargatePlatformConfiguration: { platformVersion: "LATEST" },
      });
    });

    it("retries infrastructure failures and exits on everything else, within Batch's 5 conditions", () => {
      const retry = resource(dev, types.jobDefinition).inputs.retryStrategy as {
        attempts: number;
        evaluateOnExits: { action: string; onReason?: string; onStatusReason?: string }[];
      };
      expect(retry.attempts).to.equal(3);
      expect(retry.evaluateOnExits).to.deep.equal(jobRetryConditions);
      expect(retry.evaluateOnExits.length).to.be.at.most(5);
      expect(retry.evaluateOnExits.at(-1)).to.deep.equal({ onReason: "*", action: "EXIT" });
      expect(retry.evaluateOnExits.slice(0, -1).every((c) => c.action === "RETRY")).to.equal(true);
      // Batch accepts letters, digits, periods, colons and white space, and one trailing asterisk.
      for (const condition of retry.evaluateOnExits) {
        for (const pattern of [condition.onReason, condition.onStatusReason].filter(Boolean)) {
          expect(pattern).to.match(/^[A-Za-z0-9.: \t]*\*?$/);
        }
      }
    });

    it("keeps every log group for the configured retention", () => {
      const groups = ofType(dev, types.logGroup).map((g) => g.inputs);
      expect(groups.map((g) => g.name).sort()).to.deep.equal([
        "/aws/batch/batch-bridge-dev-job",
        "/aws/lambda/batch-bridge-dev-cleanup",
        "/aws/lambda/batch-bridge-dev-job-event",
        "/aws/lambda/batch-bridge-dev-monitor",
        "/aws/lambda/batch-bridge-dev-queue-jobs",
        "/aws/lambda/batch-bridge-dev-submit",
      ]);
      expect(groups.every((g) => g.retentionInDays === 14)).to.equal(true);
    });
  });

  describe("data bucket", () => {
    it("is encrypted, closed to the public and reachable over TLS only", () => {
      const bucket = resource(dev, types.bucket);
      expect(bucket.inputs.forceDestroy ?? false).to.equal(false);
      const encryption = resource(
        dev,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      );
      expect(encryption.inputs).to.deep.include({
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      });
      expect(resource(dev, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs).to.deep.include({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      });
      const policy = JSON.parse(resource(dev, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy as string);
      expect(policy.Statement).to.deep.equal([
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [bucket.state.arn, `${bucket.state.arn}/*`],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ]);
    });
  });

  describe("callback queues", () => {
    it("keeps callback messages 14 days, encrypted, and moves them to the DLQ only after the longest wait", () => {
      const callbacks = resource(dev, types.queue, "batch-bridge-callbacks").inputs;
      expect(callbacks).to.deep.include({
        name: "batch-bridge-dev-callbacks",
        visibilityTimeoutSeconds: 1800,
        messageRetentionSeconds: 14 * 24 * 3600,
        sqsManagedSseEnabled: true,
      });
      expect(JSON.parse(callbacks.redrivePolicy as string)).to.deep.equal({
        deadLetterTargetArn: arn("sqs", "batch-bridge-dev-callbacks-dlq"),
        maxReceiveCount: devConfig.callbackMaxReceiveCount,
      });
      expect(devConfig.callbackMaxReceiveCount).to.be.within(2, 1000);
      expect(resource(dev, types.queue, "batch-bridge-callbacks-dlq").inputs).to.deep.include({
        name: "batch-bridge-dev-callbacks-dlq",
        messageRetentionSeconds: 14 * 24 * 3600,
        sqsManagedSseEnabled: true,
      });
    });
  });

  describe("functions", () => {
    it("run on Node.js 22 with their own role, explicit timeout and memory, and JSON logs to their group", () => {
      for (const [name, part, timeout] of [
        ["batch-bridge-submit", "submit", 300],
        ["batch-bridge-monitor", "monitor", 300],
        ["batch-bridge-job-event", "job-event", 300],
      ] as const) {
        const fn = resource(dev, types.function, name).inputs;
        expect(fn).to.deep.include({
          runtime: "nodejs22.x",
          handler: "__index.handler",
          role: resource(dev, types.role, name).state.arn,
          timeout,
          memorySize: 512,
        });
        expect(fn.loggingConfig).to.deep.equal({
          logFormat: "JSON",
          logGroup: `/aws/lambda/batch-bridge-dev-${part}`,
        });
      }
    });

    it("hand the submit function its settings as environment variables", () => {
      const bucket = dev.outputs.dataBucketName;
      expect(dev.functions.find((f) => f.name === "batch-bridge-submit")?.environment).to.deep.equal({
        BRIDGE_JOB_QUEUE: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        BRIDGE_JOB_DEFINITION: arn("batch", "job-definition/batch-bridge-dev-job:1"),
        BRIDGE_JOB_NAME_PREFIX: "bridge-dev",
        BRIDGE_SUBMIT_MODE: "array",
        BRIDGE_INPUT_URI_PREFIX: `s3://${bucket}/input/`,
        BRIDGE_OUTPUT_URI_PREFIX: `s3://${bucket}/output/`,
        BRIDGE_STATUS_TABLE: "batch-bridge-dev-executions",
        BRIDGE_CLEANUP_QUEUE_URL: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-cleanup`,
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-submit",
      });
    });

    it("hand the monitor its safety-net schedule, queues, receive limit and status table as environment variables", () => {
      expect(dev.functions.find((f) => f.name === "batch-bridge-monitor")?.environment).to.deep.equal({
        BRIDGE_JOB_QUEUE: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        BRIDGE_JOB_NAME_PREFIX: "bridge-dev",
        BRIDGE_CALLBACK_QUEUE_URL: dev.outputs.callbackQueueUrl,
        BRIDGE_DEAD_LETTER_QUEUE_URL: dev.outputs.deadLetterQueueUrl,
        // With completion events the monitor only checks every safetyNetCheckSeconds (default 6 hours).
        BRIDGE_POLL_INITIAL_DELAY_SECONDS: "21600",
        BRIDGE_POLL_MAX_DELAY_SECONDS: "21600",
        BRIDGE_MAX_WAIT_SECONDS: String(7 * 24 * 3600),
        BRIDGE_MAX_RECEIVE_COUNT: "49",
        BRIDGE_STATUS_TABLE: "batch-bridge-dev-executions",
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-monitor",
      });
      expect(devConfig.callbackMaxReceiveCount).to.equal(49);
    });

    it("hand the job-event function its job queue, name prefix, status table and callback queue", () => {
      expect(dev.functions.find((f) => f.name === "batch-bridge-job-event")?.environment).to.deep.equal({
        BRIDGE_JOB_QUEUE: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        BRIDGE_JOB_NAME_PREFIX: "bridge-dev",
        BRIDGE_STATUS_TABLE: "batch-bridge-dev-executions",
        BRIDGE_CALLBACK_QUEUE_URL: dev.outputs.callbackQueueUrl,
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-job-event",
      });
    });

    it("upload no AWS SDK package (the runtime has it) and stay small", () => {
      expect(dev.functions.map((f) => f.name).sort()).to.deep.equal([
        "batch-bridge-cleanup",
        "batch-bridge-job-event",
        "batch-bridge-monitor",
        "batch-bridge-queue-jobs",
        "batch-bridge-submit",
      ]);
      for (const fn of dev.functions) {
        expect(fn.files).to.include("__index.js");
        expect(
          fn.files.filter((f) => /node_modules\/@(aws-sdk|smithy)\//.test(f)),
          fn.name,
        ).to.deep.equal([]);
        expect(fn.files.some((f) => f.startsWith("node_modules/@aws-lambda-powertools/logger/"))).to.equal(
          true,
        );
        expect(fn.archiveBytes, fn.name).to.be.below(1024 * 1024);
      }
    });

    it("serialize closures that load into a handler with the environment the stack sets", () => {
      for (const fn of dev.functions) {
        expect(fn.indexJs).to.match(/exports\.handler = __f0\(\);\s*$/);
        expect(typeof loadHandler(fn, { AWS_REGION: region }), fn.name).to.equal("function");
      }
    });

    it("subscribe the monitor to the callback queue, reporting failures per message, with capped concurrency", () => {
      const mapping = resource(dev, types.eventSourceMapping, "batch-bridge-monitor").inputs;
      expect(mapping).to.deep.include({
        eventSourceArn: arn("sqs", "batch-bridge-dev-callbacks"),
        functionName: dev.outputs.monitorFunctionName,
        batchSize: 10,
        enabled: true,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency: 5 },
      });
      expect(resource(dev, types.permission, "batch-bridge-monitor").inputs).to.deep.include({
        action: "lambda:InvokeFunction",
        principal: "sqs.amazonaws.com",
        sourceArn: arn("sqs", "batch-bridge-dev-callbacks"),
      });
    });
  });

  describe("clean-up of executions that ended", () => {
    it("routes the stack's pipeline's executions that ended Stopped or Failed to the clean-up queue", () => {
      const rule = resource(dev, types.eventRule, "batch-bridge-execution-ended");
      expect(rule.inputs.eventBusName ?? "default").to.equal("default");
      expect(rule.inputs.state).to.equal("ENABLED");
      expect(JSON.parse(rule.inputs.eventPattern as string)).to.deep.equal({
        source: ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        detail: {
          pipelineArn: [arn("sagemaker", "pipeline/batch-bridge-dev")],
          currentPipelineExecutionStatus: ["Stopped", "Failed"],
        },
      });
      expect(resource(dev, types.eventTarget, "batch-bridge-execution-ended").inputs).to.deep.include({
        rule: rule.state.name,
        arn: arn("sqs", "batch-bridge-dev-cleanup"),
        retryPolicy: { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 },
        deadLetterConfig: { arn: arn("sqs", "batch-bridge-dev-cleanup-dlq") },
      });
    });

    it("keeps clean-ups 14 days, encrypted, for six function timeouts a receive, and sets aside what fails five times", () => {
      const dlq = resource(dev, types.queue, "batch-bridge-cleanup-dlq").inputs;
      expect(dlq).to.deep.include({
        name: "batch-bridge-dev-cleanup-dlq",
        messageRetentionSeconds: 14 * 24 * 3600,
        sqsManagedSseEnabled: true,
      });
      const queue = resource(dev, types.queue, "batch-bridge-cleanup").inputs;
      expect(queue).to.deep.include({
        name: "batch-bridge-dev-cleanup",
        visibilityTimeoutSeconds: 6 * 300,
        messageRetentionSeconds: 14 * 24 * 3600,
        sqsManagedSseEnabled: true,
      });
      expect(JSON.parse(queue.redrivePolicy as string)).to.deep.equal({
        deadLetterTargetArn: arn("sqs", "batch-bridge-dev-cleanup-dlq"),
        maxReceiveCount: 5,
      });
    });

    it("subscribes the clean-up function to its queue, reporting failures per message, two invocations at most", () => {
      expect(resource(dev, types.eventSourceMapping, "batch-bridge-cleanup").inputs).to.deep.include({
        eventSourceArn: arn("sqs", "batch-bridge-dev-cleanup"),
        functionName: dev.outputs.cleanupFunctionName,
        batchSize: 5,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency: 2 },
      });
      expect(resource(dev, types.function, "batch-bridge-cleanup").inputs).to.deep.include({ timeout: 300 });
      expect(dev.functions.find((f) => f.name === "batch-bridge-cleanup")?.environment).to.deep.equal({
        BRIDGE_JOB_QUEUE: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        BRIDGE_JOB_NAME_PREFIX: "bridge-dev",
        BRIDGE_CLEANUP_QUEUE_URL: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-cleanup`,
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-cleanup",
      });
    });

    it("loads a clean-up handler that leaves an execution that succeeded alone", async () => {
      const fn = dev.functions.find((f) => f.name === "batch-bridge-cleanup")!;
      const handler = loadHandler(fn, { AWS_REGION: region, POWERTOOLS_LOG_LEVEL: "SILENT" }) as (event: {
        Records: { messageId: string; body: string }[];
      }) => Promise<unknown>;
      const succeeded = {
        source: "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        detail: {
          currentPipelineExecutionStatus: "Succeeded",
          pipelineExecutionArn: arn("sagemaker", "pipeline/batch-bridge-dev/execution/abcdef123456"),
        },
      };
      expect(
        await handler({ Records: [{ messageId: "m-1", body: JSON.stringify(succeeded) }] }),
      ).to.deep.equal({
        batchItemFailures: [],
      });
    });
  });

  describe("completion events", () => {
    const jobQueueArn = arn("batch", "job-queue/batch-bridge-dev-jobs");

    it("keeps waiting steps in an on-demand, KMS-encrypted table keyed by the execution's job name, with TTL", () => {
      const table = resource(dev, types.table);
      expect(table.parent).to.equal("batch-bridge");
      expect(table.inputs).to.deep.include({
        name: "batch-bridge-dev-executions",
        billingMode: "PAY_PER_REQUEST",
        hashKey: statusTableKey,
        attributes: [{ name: statusTableKey, type: "S" }],
        ttl: { attributeName: statusTableTtlAttribute, enabled: true },
        serverSideEncryption: { enabled: true },
        pointInTimeRecovery: { enabled: false },
      });
      expect(table.inputs.readCapacity ?? 0).to.equal(0);
      expect(table.inputs.rangeKey).to.equal(undefined);
    });

    it("routes the final states of the stack's jobs on the default bus with the functions' pattern", () => {
      const rule = resource(dev, types.eventRule, "batch-bridge-job-event");
      expect(rule.inputs.eventBusName ?? "default").to.equal("default");
      expect(rule.inputs.state).to.equal("ENABLED");
      expect(JSON.parse(rule.inputs.eventPattern as string)).to.deep.equal(
        jobStateChangePattern(jobQueueArn, "bridge-dev"),
      );
    });

    it("targets the job-event function, which EventBridge may invoke for that rule only, with bounded retries", () => {
      const rule = resource(dev, types.eventRule, "batch-bridge-job-event");
      const eventFunction = resource(dev, types.function, "batch-bridge-job-event");
      expect(resource(dev, types.eventTarget, "batch-bridge-job-event").inputs).to.deep.include({
        rule: rule.state.name,
        arn: eventFunction.state.arn,
        retryPolicy: { maximumEventAgeInSeconds: 21600, maximumRetryAttempts: 185 },
      });
      expect(resource(dev, types.permission, "batch-bridge-job-event").inputs).to.deep.include({
        action: "lambda:InvokeFunction",
        function: eventFunction.state.name,
        principal: "events.amazonaws.com",
        sourceArn: rule.state.arn,
      });
      expect(resource(dev, types.eventInvokeConfig).inputs).to.deep.include({
        functionName: eventFunction.state.name,
        maximumRetryAttempts: 2,
        maximumEventAgeInSeconds: 21600,
      });
    });

    it("loads a job-event handler that drops what is not a Batch event and ignores other queues' jobs", async () => {
      const fn = dev.functions.find((f) => f.name === "batch-bridge-job-event")!;
      const handler = loadHandler(fn, { AWS_REGION: region, POWERTOOLS_LOG_LEVEL: "SILENT" }) as (
        event: unknown,
      ) => Promise<{ decision: string }>;
      expect(await handler({ source: "aws.s3" })).to.deep.equal({ decision: "dropped" });
      const otherQueue = {
        source: "aws.batch",
        "detail-type": "Batch Job State Change",
        detail: {
          jobId: "0c8e2f4a-1b2c-4d5e-8f90-123456789abc",
          jobName: "bridge-dev-0123456789ab",
          jobQueue: arn("batch", "job-queue/someone-elses-jobs"),
          status: "SUCCEEDED",
        },
      };
      expect(await handler(otherQueue)).to.deep.equal({ decision: "ignored" });
    });
  });

  describe("with completionEvents off", () => {
    let polling: RenderedStack;
    const pollingConfig = parseConfig({ ...devConfigRaw, completionEvents: "false" });

    before(async () => {
      polling = await renderStack({ stack: "dev", config: { completionEvents: false } });
    });

    it("creates no job-event rule, target, invoke config or function, and keeps the table for submission claims", () => {
      for (const type of [types.eventRule, types.eventTarget, types.eventInvokeConfig]) {
        expect(
          ofType(polling, type).map((r) => r.name),
          type,
        ).to.deep.equal(
          type === types.eventInvokeConfig ? [] : ["batch-bridge-execution-ended", "batch-bridge-queue-jobs"],
        );
      }
      expect(ofType(polling, types.table).map((t) => t.inputs.name)).to.deep.equal([
        "batch-bridge-dev-executions",
      ]);
      expect(polling.functions.find((f) => f.name === "batch-bridge-submit")?.environment).to.include({
        BRIDGE_STATUS_TABLE: "batch-bridge-dev-executions",
      });
      expect(polling.functions.map((f) => f.name).sort()).to.deep.equal([
        "batch-bridge-cleanup",
        "batch-bridge-monitor",
        "batch-bridge-queue-jobs",
        "batch-bridge-submit",
      ]);
      expect(ofType(polling, types.role)).to.have.length(7);
      expect(ofType(polling, types.permission).map((p) => p.name)).to.deep.equal([
        "batch-bridge-cleanup",
        "batch-bridge-monitor",
        "batch-bridge-queue-jobs",
      ]);
      expect(polling.outputs).to.not.have.any.keys("eventFunctionName");
      expect(Object.keys(polling.outputs)).to.deep.equal(
        Object.keys(dev.outputs).filter((key) => key !== "eventFunctionName"),
      );
    });

    it("has the monitor poll from 10 s doubling to the visibility timeout, without the table", () => {
      expect(pollingConfig.callbackMaxReceiveCount).to.equal(364);
      expect(polling.functions.find((f) => f.name === "batch-bridge-monitor")?.environment).to.deep.equal({
        BRIDGE_JOB_QUEUE: arn("batch", "job-queue/batch-bridge-dev-jobs"),
        BRIDGE_JOB_NAME_PREFIX: "bridge-dev",
        BRIDGE_CALLBACK_QUEUE_URL: polling.outputs.callbackQueueUrl,
        BRIDGE_DEAD_LETTER_QUEUE_URL: polling.outputs.deadLetterQueueUrl,
        BRIDGE_POLL_INITIAL_DELAY_SECONDS: "10",
        BRIDGE_POLL_MAX_DELAY_SECONDS: "1800",
        BRIDGE_MAX_WAIT_SECONDS: String(7 * 24 * 3600),
        BRIDGE_MAX_RECEIVE_COUNT: "364",
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-monitor",
      });
      const redrive = JSON.parse(
        resource(polling, types.queue, "batch-bridge-callbacks").inputs.redrivePolicy as string,
      );
      expect(redrive.maxReceiveCount).to.equal(364);
      const monitorActions = statementsOf(polling, "batch-bridge-monitor").flatMap((s) => s.Action);
      expect(monitorActions.filter((a) => a.startsWith("dynamodb:"))).to.deep.equal([]);
      expect(statementsOf(polling, "batch-bridge-monitor").map((s) => s.Sid)).to.deep.equal([
        "CheckJobs",
        "StopJobsOfExecution",
        "AnswerCallbackSteps",
        "ConsumeCallbackMessages",
        "SetAsideMalformedMessages",
        "WriteStepReports",
        "WriteFunctionLogs",
      ]);
    });
  });

  describe("pipeline", () => {
    it("runs with its own role a definition that calls the submit function and waits on the callback queue", () => {
      const pipeline = resource(dev, types.pipeline).inputs;
      expect(pipeline).to.deep.include({
        pipelineName: "batch-bridge-dev",
        roleArn: resource(dev, types.role, "batch-bridge-pipeline").state.arn,
      });
      const definition = pipelineDefinitionOf(dev);
      const bucket = dev.outputs.dataBucketName;
      expect(definition.Parameters).to.deep.equal([
        { DefaultValue: `s3://${bucket}/input/`, Name: "InputUri", Type: "String" },
        { DefaultValue: `s3://${bucket}/output/`, Name: "OutputUri", Type: "String" },
        { DefaultValue: 8, Name: "ShardCount", Type: "Integer" },
      ]);
      const [submit, wait] = definition.Steps;
      expect(submit).to.deep.include({
        Type: "Lambda",
        FunctionArn: resource(dev, types.function, "batch-bridge-submit").state.arn,
      });
      expect(wait).to.deep.include({ Type: "Callback", SqsQueueUrl: dev.outputs.callbackQueueUrl });
      expect(definition.Steps).to.have.length(2);
    });
  });

  describe("with its own network, an existing bucket, a private image and one job per shard", () => {
    let custom: RenderedStack;
    const image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/team/model:2.1";

    before(async () => {
      custom = await renderStack({
        stack: "dev",
        config: {
          subnetIds: ["subnet-0aaa", "subnet-0bbb"],
          securityGroupIds: ["sg-0ccc"],
          assignPublicIp: false,
          dataBucketName: "team-ml-data",
          containerImage: image,
          submitMode: "jobs",
        },
      });
    });

    it("creates no VPC lookup, security group or bucket, and runs in the given subnets without public IP", () => {
      expect(ofType(custom, types.defaultVpc)).to.deep.equal([]);
      expect(ofType(custom, types.securityGroup)).to.deep.equal([]);
      expect(custom.resources.filter((r) => r.type.startsWith("aws:s3/"))).to.deep.equal([]);
      expect(resource(custom, types.computeEnvironment).inputs.computeResources as object).to.deep.include({
        subnets: ["subnet-0aaa", "subnet-0bbb"],
        securityGroupIds: ["sg-0ccc"],
      });
      const container = JSON.parse(
        resource(custom, types.jobDefinition).inputs.containerProperties as string,
      );
      expect(container.networkConfiguration).to.deep.equal({ assignPublicIp: "DISABLED" });
      expect(container.image).to.equal(image);
    });

    it("lets the execution role pull from the image's ECR repository only", () => {
      expect(statementsOf(custom, "batch-bridge-batch-execution").slice(1)).to.deep.equal([
        {
          Sid: "PullJobImage",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
          Resource: "arn:aws:ecr:us-east-1:210987654321:repository/team/model",
        },
        { Sid: "LogInToEcr", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
      ]);
    });

    it("scopes the job role and the functions to the named bucket and submits one job per shard", () => {
      const read = statementsOf(custom, "batch-bridge-batch-job")[0];
      expect(read.Resource).to.deep.equal([
        "arn:aws:s3:::team-ml-data/input/*",
        "arn:aws:s3:::team-ml-data/output/*",
      ]);
      expect(custom.outputs.dataBucketName).to.equal("team-ml-data");
      const submit = custom.functions.find((f) => f.name === "batch-bridge-submit");
      expect(submit?.environment).to.deep.include({
        BRIDGE_SUBMIT_MODE: "jobs",
        BRIDGE_INPUT_URI_PREFIX: "s3://team-ml-data/input/",
      });
    });
  });

  it("creates the security group in the configured VPC when only subnets are given", async () => {
    const stack = await renderStack({
      stack: "dev",
      config: { subnetIds: ["subnet-0aaa"], vpcId: "vpc-0ddd", dataBucketName: "team-ml-data" },
    });
    expect(ofType(stack, types.defaultVpc)).to.deep.equal([]);
    const group = resource(stack, types.securityGroup);
    expect(group.inputs.vpcId).to.equal("vpc-0ddd");
    expect(resource(stack, types.computeEnvironment).inputs.computeResources as object).to.deep.include({
      subnets: ["subnet-0aaa"],
      securityGroupIds: [group.id],
    });
  });
});
