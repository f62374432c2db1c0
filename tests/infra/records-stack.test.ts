import { expect } from "chai";
import { recordTableKey, recordTableTtlAttribute } from "../../functions/records/contract";
import { recordApiDocument } from "../../infra/record-api";
import { batchExecutionEndPattern } from "../../infra/record-triggers";
import { scheduleTargets } from "../../render/schedules";
import { loadHandler } from "../../render/load-handler";
import { renderStack } from "../../render/render-stack";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";
import { readablePlan } from "../../scripts/plan";
import { iamReferenceProblems } from "../support/iam-reference";

const account = "123456789012";
const region = "us-east-1";
const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;

const types = {
  restApi: "aws:apigateway/restApi:RestApi",
  deployment: "aws:apigateway/deployment:Deployment",
  stage: "aws:apigateway/stage:Stage",
  apiKey: "aws:apigateway/apiKey:ApiKey",
  usagePlan: "aws:apigateway/usagePlan:UsagePlan",
  usagePlanKey: "aws:apigateway/usagePlanKey:UsagePlanKey",
  queue: "aws:sqs/queue:Queue",
  table: "aws:dynamodb/table:Table",
  function: "aws:lambda/function:Function",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  permission: "aws:lambda/permission:Permission",
  eventSourceMapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  eventRule: "aws:cloudwatch/eventRule:EventRule",
  eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
  eventInvokeConfig: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
};

function resource(stack: RenderedStack, type: string, name: string): RenderedResource {
  const found = stack.resources.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).to.have.length(1);
  return found[0];
}

function named(stack: RenderedStack, pattern: RegExp): RenderedResource[] {
  return stack.resources.filter((r) => pattern.test(r.name));
}

function statementsOf(stack: RenderedStack, roleName: string): { Sid: string }[] {
  return JSON.parse(resource(stack, types.rolePolicy, roleName).inputs.policy as string).Statement;
}

describe("the records front door under the mock engine (recordApi)", () => {
  let stack: RenderedStack;
  let bucket: string;
  const recordFunctions = [
    "batch-bridge-records-api",
    "batch-bridge-records-flush",
    "batch-bridge-records-status",
  ];

  before(async () => {
    stack = await renderStack({ stack: "dev", config: { recordApi: true } });
    bucket = String(stack.outputs.dataBucketName);
  });

  it("exports the endpoint, the key's id with the command that reads its value, the table and the queues", () => {
    const restApiId = resource(stack, types.restApi, "batch-bridge-records-api").id;
    const keyId = resource(stack, types.apiKey, "batch-bridge-records-api").id;
    expect(stack.outputs).to.deep.include({
      recordApiEndpoint: `https://${restApiId}.execute-api.${region}.amazonaws.com/v1`,
      recordApiKeyId: keyId,
      recordApiKeyCommand: `aws apigateway get-api-key --region ${region} --api-key ${keyId} --include-value --query value --output text`,
      recordTableName: "batch-bridge-records",
      recordQueueUrl: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-records`,
      recordDeadLetterQueueUrl: `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-records-dlq`,
    });
    expect(keyId).to.not.equal(restApiId);
  });

  it("serves the three routes, each behind the API key and proxied to the API function", () => {
    const restApi = resource(stack, types.restApi, "batch-bridge-records-api");
    const apiFunction = resource(stack, types.function, "batch-bridge-records-api");
    expect(restApi.parent).to.equal("batch-bridge");
    expect(restApi.inputs.endpointConfiguration).to.deep.equal({ types: "REGIONAL" });
    const document = JSON.parse(restApi.inputs.body as string);
    expect(document).to.deep.equal(
      recordApiDocument("batch-bridge-dev-records", String(apiFunction.state.invokeArn)),
    );
    expect(Object.keys(document.paths).sort()).to.deep.equal(["/job", "/job/{job_id}", "/jobs"]);
    expect(Object.keys(document.paths["/job"])).to.deep.equal(["post"]);
    expect(Object.keys(document.paths["/job/{job_id}"])).to.deep.equal(["get"]);
    for (const operations of Object.values(document.paths) as Record<string, Record<string, unknown>>[]) {
      for (const operation of Object.values(operations)) {
        expect(operation.security).to.deep.equal([{ api_key: [] }]);
        expect(operation["x-amazon-apigateway-integration"]).to.deep.include({
          type: "aws_proxy",
          httpMethod: "POST",
          uri: apiFunction.state.invokeArn,
        });
      }
    }
    expect(document.components.securitySchemes.api_key).to.deep.equal({
      type: "apiKey",
      name: "x-api-key",
      in: "header",
    });
  });

  it("deploys the document to stage v1 and throttles and caps the key with the usage plan", () => {
    const restApi = resource(stack, types.restApi, "batch-bridge-records-api");
    const deployment = resource(stack, types.deployment, "batch-bridge-records-api");
    expect(deployment.inputs.restApi).to.equal(restApi.id);
    expect((deployment.inputs.triggers as Record<string, string>).document).to.match(/^[0-9a-f]{64}$/);
    expect(resource(stack, types.stage, "batch-bridge-records-api").inputs).to.deep.include({
      restApi: restApi.id,
      deployment: deployment.id,
      stageName: "v1",
    });
    const plan = resource(stack, types.usagePlan, "batch-bridge-records-api");
    expect(plan.inputs).to.deep.include({
      apiStages: [{ apiId: restApi.id, stage: "v1" }],
      throttleSettings: { rateLimit: 100, burstLimit: 200 },
      quotaSettings: { limit: 1000000, period: "DAY" },
    });
    expect(resource(stack, types.usagePlanKey, "batch-bridge-records-api").inputs).to.deep.include({
      keyId: resource(stack, types.apiKey, "batch-bridge-records-api").id,
      keyType: "API_KEY",
      usagePlanId: plan.id,
    });
    expect(resource(stack, types.apiKey, "batch-bridge-records-api").inputs.enabled).to.equal(true);
  });

  it("lets API Gateway invoke the API function for this API's three routes on stage v1 only", () => {
    const executionArn = resource(stack, types.restApi, "batch-bridge-records-api").state.executionArn;
    const permissions = named(stack, /^batch-bridge-records-api-/).filter((r) => r.type === types.permission);
    expect(permissions.map((p) => p.inputs.sourceArn).sort()).to.deep.equal(
      [`${executionArn}/v1/GET/job/*`, `${executionArn}/v1/POST/job`, `${executionArn}/v1/POST/jobs`].sort(),
    );
    for (const permission of permissions) {
      expect(permission.inputs).to.deep.include({
        action: "lambda:InvokeFunction",
        principal: "apigateway.amazonaws.com",
        function: resource(stack, types.function, "batch-bridge-records-api").state.name,
      });
    }
  });

  it("buffers records in an encrypted 1 MiB queue, hidden 6 x the flush timeout + window, redriven after the flush's own dead-lettering", () => {
    const buffer = resource(stack, types.queue, "batch-bridge-records").inputs;
    expect(buffer).to.deep.include({
      name: "batch-bridge-records",
      visibilityTimeoutSeconds: 6 * 300 + 60,
      messageRetentionSeconds: 14 * 24 * 3600,
      maxMessageSize: 1048576,
      sqsManagedSseEnabled: true,
    });
    expect(JSON.parse(buffer.redrivePolicy as string)).to.deep.equal({
      deadLetterTargetArn: arn("sqs", "batch-bridge-records-dlq"),
      maxReceiveCount: 7,
    });
    for (const name of ["batch-bridge-records-dlq", "batch-bridge-records-status-dlq"]) {
      expect(resource(stack, types.queue, name).inputs).to.deep.include({
        name,
        messageRetentionSeconds: 14 * 24 * 3600,
        sqsManagedSseEnabled: true,
      });
    }
  });

  it("keeps record statuses in an on-demand, KMS-encrypted table keyed by job_id, expiring by TTL", () => {
    const table = resource(stack, types.table, "batch-bridge-records").inputs;
    expect(table).to.deep.include({
      name: "batch-bridge-records",
      billingMode: "PAY_PER_REQUEST",
      hashKey: recordTableKey,
      attributes: [{ name: recordTableKey, type: "S" }],
      ttl: { attributeName: recordTableTtlAttribute, enabled: true },
      serverSideEncryption: { enabled: true },
    });
  });

  it("hands the flush function batches of recordBatchSize records or recordBatchWindowSeconds, failures per message", () => {
    const flush = resource(stack, types.function, "batch-bridge-records-flush");
    const mapping = resource(stack, types.eventSourceMapping, "batch-bridge-records-flush").inputs;
    expect(mapping).to.deep.include({
      eventSourceArn: arn("sqs", "batch-bridge-records"),
      functionName: flush.state.name,
      batchSize: 100,
      maximumBatchingWindowInSeconds: 60,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(named(stack, /^batch-bridge-records-flush$/).map((r) => r.type)).to.not.include(types.eventRule);
  });

  it("settles records on the end of the pipeline's batch executions, keeping events that failed every retry", () => {
    const status = resource(stack, types.function, "batch-bridge-records-status");
    const rule = resource(stack, types.eventRule, "batch-bridge-records-status");
    expect(JSON.parse(rule.inputs.eventPattern as string)).to.deep.equal(
      batchExecutionEndPattern(arn("sagemaker", "pipeline/batch-bridge-dev")),
    );
    expect(JSON.parse(rule.inputs.eventPattern as string)).to.deep.equal({
      source: ["aws.sagemaker"],
      "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
      detail: {
        pipelineArn: [arn("sagemaker", "pipeline/batch-bridge-dev")],
        currentPipelineExecutionStatus: ["Succeeded", "Failed", "Stopped"],
        pipelineExecutionDisplayName: [{ prefix: "records-" }],
      },
    });
    expect(resource(stack, types.eventTarget, "batch-bridge-records-status").inputs).to.deep.include({
      rule: rule.state.name,
      arn: status.state.arn,
    });
    expect(resource(stack, types.permission, "batch-bridge-records-status").inputs).to.deep.include({
      principal: "events.amazonaws.com",
      sourceArn: rule.state.arn,
      function: status.state.name,
    });
    expect(resource(stack, types.eventInvokeConfig, "batch-bridge-records-status").inputs).to.deep.include({
      functionName: status.state.name,
      maximumRetryAttempts: 2,
      destinationConfig: { onFailure: { destination: arn("sqs", "batch-bridge-records-status-dlq") } },
    });
  });

  it("shows in the plan the API's routes, the usage plan, the buffer's batching and the status rule", () => {
    const out = readablePlan(stack);
    expect(out).to.include(
      "        route: POST /job (API key)\n        route: POST /jobs (API key)\n        route: GET /job/{job_id} (API key)\n",
    );
    expect(out).to.include('throttleSettings: {"burstLimit":200,"rateLimit":100}');
    expect(out).to.include('quotaSettings: {"limit":1000000,"period":"DAY"}');
    expect(out).to.include("batchSize: 100\n        maximumBatchingWindowInSeconds: 60\n");
    expect(out).to.include('pipelineExecutionDisplayName":[{"prefix":"records-"}]');
    expect(out).to.include(`  recordApiEndpoint: ${String(stack.outputs.recordApiEndpoint)}\n`);
  });

  describe("IAM", () => {
    const table = arn("dynamodb", "table/batch-bridge-records");
    const logStreams = (group: string) => arn("logs", `log-group:${group}:log-stream:*`);

    it("grants only actions that exist, on resources of the types they act on, and no managed policy", async () => {
      for (const name of recordFunctions) {
        expect(await iamReferenceProblems(statementsOf(stack, name) as never), name).to.deep.equal([]);
        expect(resource(stack, types.role, name).inputs.managedPolicyArns ?? []).to.deep.equal([]);
      }
    });

    it("API role: writes and reads the record table, sends to the buffer queue, writes its logs", () => {
      expect(statementsOf(stack, "batch-bridge-records-api")).to.deep.equal([
        {
          Sid: "AcceptAndReadRecords",
          Effect: "Allow",
          Action: [
            "dynamodb:PutItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DeleteItem",
          ],
          Resource: table,
        },
        {
          Sid: "BufferRecords",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: arn("sqs", "batch-bridge-records"),
        },
        {
          Sid: "WriteFunctionLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: logStreams("/aws/lambda/batch-bridge-dev-records-api"),
        },
      ]);
    });

    it("flush role: consumes the buffer, writes shard files under input/records/, starts this pipeline only", () => {
      expect(statementsOf(stack, "batch-bridge-records-flush")).to.deep.equal([
        {
          Sid: "ConsumeBufferedRecords",
          Effect: "Allow",
          Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
          Resource: arn("sqs", "batch-bridge-records"),
        },
        {
          Sid: "SetAsideUnstartableBatches",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: arn("sqs", "batch-bridge-records-dlq"),
        },
        {
          Sid: "MoveRecordsToProcessing",
          Effect: "Allow",
          Action: ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
          Resource: table,
        },
        {
          Sid: "WriteShardFiles",
          Effect: "Allow",
          Action: ["s3:PutObject"],
          Resource: `arn:aws:s3:::${bucket}/input/records/*`,
        },
        {
          Sid: "StartBatchExecutions",
          Effect: "Allow",
          Action: ["sagemaker:StartPipelineExecution"],
          Resource: arn("sagemaker", "pipeline/batch-bridge-dev"),
        },
        {
          Sid: "WriteFunctionLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: logStreams("/aws/lambda/batch-bridge-dev-records-flush"),
        },
      ]);
    });

    it("status role: reads this pipeline's executions and the batches' files, writes large results, settles records", () => {
      expect(statementsOf(stack, "batch-bridge-records-status")).to.deep.equal([
        {
          Sid: "ReadBatchExecutions",
          Effect: "Allow",
          Action: [
            "sagemaker:ListPipelineParametersForExecution",
            "sagemaker:ListPipelineExecutionSteps",
            "sagemaker:DescribePipelineExecution",
          ],
          Resource: arn("sagemaker", "pipeline/batch-bridge-dev/execution/*"),
        },
        {
          Sid: "ListBatchFiles",
          Effect: "Allow",
          Action: ["s3:ListBucket"],
          Resource: `arn:aws:s3:::${bucket}`,
          Condition: { StringLike: { "s3:prefix": ["input/records/*", "output/records/*"] } },
        },
        {
          Sid: "ReadBatchFiles",
          Effect: "Allow",
          Action: ["s3:GetObject"],
          Resource: [`arn:aws:s3:::${bucket}/input/records/*`, `arn:aws:s3:::${bucket}/output/records/*`],
        },
        {
          Sid: "WriteLargeResults",
          Effect: "Allow",
          Action: ["s3:PutObject"],
          Resource: `arn:aws:s3:::${bucket}/output/records/*`,
        },
        { Sid: "SettleRecords", Effect: "Allow", Action: ["dynamodb:UpdateItem"], Resource: table },
        {
          Sid: "KeepFailedEvents",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: arn("sqs", "batch-bridge-records-status-dlq"),
        },
        {
          Sid: "WriteFunctionLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: logStreams("/aws/lambda/batch-bridge-dev-records-status"),
        },
      ]);
    });
  });

  describe("functions", () => {
    it("hand each function its table, queues, prefixes and batch settings as environment variables", () => {
      const env = (name: string) => stack.functions.find((f) => f.name === name)!.environment;
      expect(env("batch-bridge-records-api")).to.deep.equal({
        RECORDS_TABLE: "batch-bridge-records",
        RECORDS_QUEUE_URL: stack.outputs.recordQueueUrl,
        RECORDS_RETENTION_DAYS: "30",
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-records-api",
      });
      expect(env("batch-bridge-records-flush")).to.deep.equal({
        RECORDS_TABLE: "batch-bridge-records",
        RECORDS_QUEUE_URL: stack.outputs.recordQueueUrl,
        RECORDS_DEAD_LETTER_QUEUE_URL: stack.outputs.recordDeadLetterQueueUrl,
        RECORDS_RETENTION_DAYS: "30",
        RECORDS_PIPELINE_NAME: "batch-bridge-dev",
        RECORDS_PER_SHARD: "100",
        RECORDS_BATCH_SIZE: "100",
        RECORDS_INPUT_URI_PREFIX: `s3://${bucket}/input/records/`,
        RECORDS_OUTPUT_URI_PREFIX: `s3://${bucket}/output/records/`,
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-records-flush",
      });
      expect(env("batch-bridge-records-status")).to.deep.equal({
        RECORDS_TABLE: "batch-bridge-records",
        RECORDS_RETENTION_DAYS: "30",
        RECORDS_INPUT_URI_PREFIX: `s3://${bucket}/input/records/`,
        RECORDS_OUTPUT_URI_PREFIX: `s3://${bucket}/output/records/`,
        POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-records-status",
      });
    });

    it("time the API function to API Gateway's 29 s and the others to monitorTimeoutSeconds, with their own roles", () => {
      const timeouts = Object.fromEntries(
        recordFunctions.map((name) => [name, resource(stack, types.function, name).inputs.timeout]),
      );
      expect(timeouts).to.deep.equal({
        "batch-bridge-records-api": 29,
        "batch-bridge-records-flush": 300,
        "batch-bridge-records-status": 300,
      });
      for (const name of recordFunctions) {
        expect(resource(stack, types.function, name).inputs.role).to.equal(
          resource(stack, types.role, name).state.arn,
        );
      }
    });

    it("upload no AWS SDK package and stay small", () => {
      for (const fn of stack.functions.filter((f) => recordFunctions.includes(f.name))) {
        expect(
          fn.files.filter((f) => f.startsWith("node_modules/@aws-sdk/")),
          fn.name,
        ).to.deep.equal([]);
        expect(fn.archiveBytes, fn.name).to.be.below(400 * 1024);
      }
    });

    it("serialize an API closure that refuses a malformed job_id before any AWS call", async () => {
      const fn = stack.functions.find((f) => f.name === "batch-bridge-records-api")!;
      // Any AWS call would fail: nothing listens on this endpoint.
      const handler = loadHandler(fn, {
        AWS_REGION: region,
        AWS_ENDPOINT_URL: "http://127.0.0.1:9",
        POWERTOOLS_LOG_LEVEL: "SILENT",
      }) as (event: unknown) => Promise<{ statusCode: number; body: string }>;
      const answer = await handler({
        httpMethod: "GET",
        resource: "/job/{job_id}",
        pathParameters: { job_id: "not-a-job" },
        headers: {},
        body: null,
        isBase64Encoded: false,
        requestContext: { identity: { apiKeyId: "key" } },
      });
      expect(answer.statusCode).to.equal(400);
      expect(JSON.parse(answer.body).message).to.match(/^job_id must be a job_id this API returned/);
    });

    it("serialize flush and status closures that load into handlers", () => {
      for (const name of ["batch-bridge-records-flush", "batch-bridge-records-status"]) {
        const fn = stack.functions.find((f) => f.name === name)!;
        expect(typeof loadHandler(fn, { AWS_REGION: region }), name).to.equal("function");
      }
    });
  });

  describe("with recordTrigger schedule", () => {
    let scheduled: RenderedStack;

    before(async () => {
      scheduled = await renderStack({
        stack: "dev",
        config: { recordApi: true, recordTrigger: "schedule", recordScheduleExpression: "rate(15 minutes)" },
      });
    });

    it("invokes the flush function on the schedule instead of an event source mapping", () => {
      const flush = resource(scheduled, types.function, "batch-bridge-records-flush");
      const rule = resource(scheduled, types.eventRule, "batch-bridge-records-flush");
      expect(rule.inputs).to.deep.include({ scheduleExpression: "rate(15 minutes)", state: "ENABLED" });
      expect(rule.inputs.eventPattern).to.equal(undefined);
      expect(resource(scheduled, types.eventTarget, "batch-bridge-records-flush").inputs).to.deep.include({
        rule: rule.state.name,
        arn: flush.state.arn,
      });
      expect(resource(scheduled, types.permission, "batch-bridge-records-flush").inputs).to.deep.include({
        principal: "events.amazonaws.com",
        sourceArn: rule.state.arn,
      });
      const mappings = scheduled.resources
        .filter((r) => r.type === types.eventSourceMapping)
        .map((r) => r.name);
      expect(mappings.filter((name) => name.includes("records"))).to.deep.equal([]);
      // As local mode runs it: the flush function every 15 minutes (besides the queue-jobs count each minute).
      expect(
        scheduleTargets(scheduled).filter((target) => target.functionArn === flush.state.arn),
      ).to.deep.equal([
        {
          ruleName: rule.state.name,
          expression: "rate(15 minutes)",
          periodSeconds: 900,
          functionArn: flush.state.arn,
        },
      ]);
    });
  });

  it("refuses a pipeline definition of the user's that lacks a parameter each batch is started with", async () => {
    let message = "";
    try {
      await renderStack({ stack: "example-pipeline", config: { recordApi: true } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.equal(
      "Invalid stack configuration:\n" +
        "  - sagemaker-batch-bridge:recordApi starts an execution of the stack's pipeline for each batch of " +
        "records, with the parameters InputUri, OutputUri, ShardCount; the pipeline definition " +
        "(pipelineDefinitionFile) does not declare OutputUri.",
    );
  });

  describe("with recordApi off (the default)", () => {
    it("creates none of it and exports none of its outputs", async () => {
      const dev = await renderStack({ stack: "dev" });
      expect(dev.resources.filter((r) => r.name.includes("records"))).to.deep.equal([]);
      expect(dev.resources.filter((r) => r.type.startsWith("aws:apigateway/"))).to.deep.equal([]);
      expect(Object.keys(dev.outputs).filter((key) => key.startsWith("record"))).to.deep.equal([]);
      expect(
        Object.keys(stack.outputs)
          .filter((key) => !(key in dev.outputs))
          .sort(),
      ).to.deep.equal(
        [
          "recordApiEndpoint",
          "recordApiKeyCommand",
          "recordApiKeyId",
          "recordDeadLetterQueueUrl",
          "recordQueueUrl",
          "recordTableName",
        ].sort(),
      );
    });
  });
});
