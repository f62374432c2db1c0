/**
 * The bridge's design: the rendered stack read as the runner runs it. Its pipeline, queues, table, Batch
 * queue and definition, functions (the serialized closures Pulumi uploads), queue subscriptions and event
 * rules, exactly as `pulumi up` would deploy them.
 */
import type { LogConfiguration, RetryStrategy } from "@aws-sdk/client-batch";
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { qualifiedKey, type ConfigKey } from "../../infra/config/keys";
import { loadHandler } from "../../render/load-handler";
import { mockAccountId } from "../../render/aws-mocks";
import {
  pipelineDefinitionOf,
  resourcesOfType,
  type RenderedResource,
  type RenderedStack,
} from "../../render/rendered-stack";
import type { JobDefinitionSettings } from "../batch/server";
import type {
  DesignRequest,
  EventRuleTarget,
  EventTarget,
  Handler,
  LambdaFunctionSpec,
  PreparedDesign,
  QueueDeclaration,
  QueueSubscription,
} from "./design";
import { compileEventPattern } from "./event-pattern";
import { restApiDeclarations } from "./rest-api";
import { scheduleTargets } from "../../render/schedules";

/** The rendered stack as the runner runs it. */
export function bridgeDesign(
  rendered: RenderedStack,
  scenario: Pick<DesignRequest, "functionLogs">,
  configOverrides: PreparedDesign["configOverrides"] = {},
): PreparedDesign {
  const region = rendered.config["aws:region"] ?? "us-east-1";
  const pipeline = single(rendered, "aws:sagemaker/pipeline:Pipeline");
  const lambdas = resourcesOfType(rendered, "aws:lambda/function:Function");
  const functionArn = (functionName: unknown): string => {
    const found = lambdas.find((l) => l.state.name === functionName || l.state.arn === functionName);
    if (!found) throw new Error(`The ${rendered.stack} stack has no function ${String(functionName)}.`);
    return String(found.state.arn);
  };

  const queues = resourcesOfType(rendered, "aws:sqs/queue:Queue").map(queueDeclaration);
  const redriveTargets = queues
    .map((q) => q.attributes.RedrivePolicy)
    .filter((policy): policy is string => policy !== undefined)
    .map((policy) => String((JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn));
  const monitorDeadLetterUrls = rendered.functions
    .map((f) => f.environment.BRIDGE_DEAD_LETTER_QUEUE_URL)
    .filter((url): url is string => url !== undefined);

  const jobQueue = single(rendered, "aws:batch/jobQueue:JobQueue");
  // One job definition per job kind (the top-level keys are the kind `default`).
  const jobDefinitions = resourcesOfType(rendered, "aws:batch/jobDefinition:JobDefinition");
  if (jobDefinitions.length === 0) {
    throw new Error(`Local mode needs a job definition in the ${rendered.stack} stack, found none.`);
  }
  const computeEnvironment = single(rendered, "aws:batch/computeEnvironment:ComputeEnvironment");
  const setting = (key: ConfigKey): string => rendered.config[qualifiedKey(key)] ?? "";

  const subscriptions = resourcesOfType(rendered, "aws:lambda/eventSourceMapping:EventSourceMapping").map(
    (mapping): QueueSubscription => {
      const inputs = mapping.inputs as {
        eventSourceArn?: string;
        functionName?: string;
        batchSize?: number;
        functionResponseTypes?: string[];
        scalingConfig?: { maximumConcurrency?: number };
        maximumBatchingWindowInSeconds?: number;
        enabled?: boolean;
      };
      const queue = queues.find((q) => q.arn === inputs.eventSourceArn);
      if (!queue) {
        throw new Error(
          `Event source mapping ${mapping.name} reads ${inputs.eventSourceArn}, which is not a queue of the stack; ` +
            `local mode runs queue subscriptions only.`,
        );
      }
      return {
        queueUrl: queue.url,
        queueArn: queue.arn,
        functionArn: functionArn(inputs.functionName),
        // Lambda's default batch size for SQS.
        batchSize: inputs.batchSize ?? 10,
        reportBatchItemFailures: (inputs.functionResponseTypes ?? []).includes("ReportBatchItemFailures"),
        maximumConcurrency: inputs.scalingConfig?.maximumConcurrency,
        maximumBatchingWindowSeconds: inputs.maximumBatchingWindowInSeconds,
      };
    },
  );

  return {
    design: "bridge",
    region,
    accountId: mockAccountId,
    pipelineName: String(pipeline.inputs.pipelineName),
    definition: pipelineDefinitionOf(rendered),
    mode: setting("submitMode") === "jobs" ? "jobs" : "array",
    configOverrides,
    queues,
    deadLetterQueueNames: queues
      .filter((q) => redriveTargets.includes(q.arn) || monitorDeadLetterUrls.includes(q.url))
      .map((q) => q.name),
    tables: resourcesOfType(rendered, "aws:dynamodb/table:Table").map(tableDeclaration),
    batch: {
      jobQueues: [String(jobQueue.state.name)],
      jobDefinitions: Object.fromEntries(
        jobDefinitions.map((definition) => [
          String(definition.state.name),
          jobDefinitionSettings(definition),
        ]),
      ),
    },
    compute: {
      computeEnvironmentName: String(computeEnvironment.state.name),
      maxVcpus: Number((computeEnvironment.inputs.computeResources as { maxVcpus?: number }).maxVcpus),
      // Capacity is counted in jobs: with kinds of different sizes, the largest sets how many run at once.
      jobVcpu: Math.max(...jobDefinitions.map(jobVcpu)),
    },
    data: {
      bucket: String(rendered.outputs.dataBucketName),
      inputPrefix: setting("inputPrefix"),
      outputPrefix: setting("outputPrefix"),
    },
    subscriptions,
    rules: eventRuleTargets(rendered, functionArn, queues),
    restApis: restApiDeclarations(rendered),
    outputs: rendered.outputs,
    schedules: scheduleTargets(rendered),
    functions: (env, loadModule) =>
      rendered.functions.map((fn): LambdaFunctionSpec => {
        const resource = lambdas.find((l) => l.name === fn.name)!;
        return {
          name: fn.name,
          functionName: fn.functionName,
          arn: String(resource.state.arn),
          // Lambda's defaults when the stack sets none.
          timeoutSeconds: Number(resource.inputs.timeout ?? 3),
          memoryMiB: Number(resource.inputs.memorySize ?? 128),
          load: () =>
            loadHandler(
              fn,
              { ...env, ...functionLogLevel(scenario.functionLogs) },
              undefined,
              loadModule,
            ) as Handler,
        };
      }),
  };
}

function single(rendered: RenderedStack, type: string): RenderedResource {
  const found = resourcesOfType(rendered, type);
  if (found.length !== 1) {
    throw new Error(
      `Local mode needs exactly one ${type} in the ${rendered.stack} stack, found ${found.length}.`,
    );
  }
  return found[0];
}

function queueDeclaration(resource: RenderedResource): QueueDeclaration {
  const inputs = resource.inputs as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  const copy = (input: string, attribute: string) => {
    if (inputs[input] !== undefined && inputs[input] !== null) attributes[attribute] = String(inputs[input]);
  };
  copy("visibilityTimeoutSeconds", "VisibilityTimeout");
  copy("messageRetentionSeconds", "MessageRetentionPeriod");
  copy("delaySeconds", "DelaySeconds");
  copy("receiveWaitTimeSeconds", "ReceiveMessageWaitTimeSeconds");
  copy("maxMessageSize", "MaximumMessageSize");
  copy("redrivePolicy", "RedrivePolicy");
  return {
    name: String(resource.state.name),
    url: String(resource.state.url),
    arn: String(resource.state.arn),
    attributes,
  };
}

/** `containerProperties` as the job definition holds it (a JSON string). */
interface ContainerProperties {
  command?: string[];
  environment?: { name: string; value: string }[];
  resourceRequirements?: { type: string; value: string }[];
  logConfiguration?: LogConfiguration;
}

function containerProperties(resource: RenderedResource): ContainerProperties {
  const text = resource.inputs.containerProperties;
  return typeof text === "string" ? (JSON.parse(text) as ContainerProperties) : {};
}

/** The vCPUs one job asks for (its VCPU resource requirement). */
function jobVcpu(resource: RenderedResource): number {
  const vcpu = containerProperties(resource).resourceRequirements?.find((r) => r.type === "VCPU");
  return Number(vcpu?.value ?? 1);
}

function jobDefinitionSettings(resource: RenderedResource): JobDefinitionSettings {
  const inputs = resource.inputs as {
    retryStrategy?: { attempts?: number; evaluateOnExits?: Record<string, string>[] };
    timeout?: { attemptDurationSeconds?: number };
    parameters?: Record<string, string>;
  };
  const container = containerProperties(resource);
  const retryStrategy: RetryStrategy | undefined = inputs.retryStrategy && {
    attempts: inputs.retryStrategy.attempts,
    evaluateOnExit: inputs.retryStrategy.evaluateOnExits?.map((rule) => ({
      action: rule.action as "RETRY" | "EXIT",
      onStatusReason: rule.onStatusReason,
      onReason: rule.onReason,
      onExitCode: rule.onExitCode,
    })),
  };
  return {
    retryStrategy,
    timeout: inputs.timeout,
    parameters: inputs.parameters,
    container: {
      command: container.command,
      environment: Object.fromEntries((container.environment ?? []).map((v) => [v.name, v.value])),
      ...(container.logConfiguration ? { logConfiguration: container.logConfiguration } : {}),
    },
  };
}

function tableDeclaration(resource: RenderedResource): CreateTableCommandInput {
  const inputs = resource.inputs as {
    name?: string;
    hashKey?: string;
    rangeKey?: string;
    attributes?: { name: string; type: "S" | "N" | "B" }[];
    billingMode?: string;
    readCapacity?: number;
    writeCapacity?: number;
  };
  const name = inputs.name ?? resource.state.name;
  if (typeof name !== "string" || !inputs.hashKey) {
    throw new Error(
      `DynamoDB table ${resource.name} needs a name and a hashKey in the stack to run locally.`,
    );
  }
  const provisioned = inputs.billingMode === "PROVISIONED";
  return {
    TableName: name,
    KeySchema: [
      { AttributeName: inputs.hashKey, KeyType: "HASH" },
      ...(inputs.rangeKey ? [{ AttributeName: inputs.rangeKey, KeyType: "RANGE" as const }] : []),
    ],
    AttributeDefinitions: (inputs.attributes ?? []).map((a) => ({
      AttributeName: a.name,
      AttributeType: a.type,
    })),
    BillingMode: provisioned ? "PROVISIONED" : "PAY_PER_REQUEST",
    ...(provisioned
      ? {
          ProvisionedThroughput: {
            ReadCapacityUnits: inputs.readCapacity ?? 1,
            WriteCapacityUnits: inputs.writeCapacity ?? 1,
          },
        }
      : {}),
  };
}

/**
 * Every rule of the stack with its targets, as EventBridge routes AWS services' events: rules on the default
 * bus (services send their events there), enabled, with an event pattern; targets a Lambda function of the
 * stack (invoked asynchronously) or an SQS queue of the stack (sent the event as its message). A target of
 * another kind, or one that reshapes the event (input, inputPath, inputTransformer), is refused, naming it,
 * rather than run differently. A target names its rule by name: give the rule an explicit `name`.
 */
function eventRuleTargets(
  rendered: RenderedStack,
  functionArn: (name: unknown) => string,
  queues: readonly QueueDeclaration[],
): EventRuleTarget[] {
  const rules = resourcesOfType(rendered, "aws:cloudwatch/eventRule:EventRule");
  const invokeConfigs = resourcesOfType(
    rendered,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
  );
  const targets = resourcesOfType(rendered, "aws:cloudwatch/eventTarget:EventTarget");
  const result: EventRuleTarget[] = [];
  for (const target of targets) {
    const inputs = target.inputs as Record<string, unknown>;
    const rule = rules.find((r) =>
      [r.inputs.name, r.state.name, r.id].some((name) => name !== undefined && name === inputs.rule),
    );
    if (!rule) {
      throw new Error(
        `Event target ${target.name} names rule ${JSON.stringify(inputs.rule)}, which no rule of the ` +
          `${rendered.stack} stack has (give the rule an explicit name).`,
      );
    }
    for (const unsupported of ["input", "inputPath", "inputTransformer"]) {
      if (inputs[unsupported] !== undefined) {
        throw new Error(`Event target ${target.name} sets ${unsupported}, which local mode does not apply.`);
      }
    }
    const bus = rule.inputs.eventBusName ?? "default";
    const enabled = rule.inputs.state !== "DISABLED" && rule.inputs.isEnabled !== false;
    if (rule.inputs.eventPattern === undefined || bus !== "default" || !enabled) continue;
    result.push({
      ruleName: String(rule.inputs.name ?? rule.state.name ?? rule.name),
      matches: compileEventPattern(rule.inputs.eventPattern),
      target: eventTarget(target.name, inputs.arn, functionArn, queues, invokeConfigs),
    });
  }
  return result;
}

/** A target's ARN as local mode delivers to it: a function or a queue of the stack. */
function eventTarget(
  targetName: string,
  arn: unknown,
  functionArn: (name: unknown) => string,
  queues: readonly QueueDeclaration[],
  invokeConfigs: readonly RenderedResource[],
): EventTarget {
  if (typeof arn === "string" && arn.includes(":lambda:")) {
    const resolved = functionArn(arn);
    const invokeConfig = invokeConfigs.find((c) => {
      const name = c.inputs.functionName;
      return name === resolved || (typeof name === "string" && resolved.endsWith(`:function:${name}`));
    });
    return {
      kind: "lambda",
      functionArn: resolved,
      retryAttempts: Number(invokeConfig?.inputs.maximumRetryAttempts ?? 2),
    };
  }
  const queue = queues.find((q) => q.arn === arn);
  if (queue) return { kind: "sqs", queueUrl: queue.url, queueArn: queue.arn };
  throw new Error(
    `Event target ${targetName} sends to ${JSON.stringify(arn)}; local mode delivers events to the ` +
      `stack's Lambda functions and SQS queues only.`,
  );
}

/** Powertools log level: silent unless the scenario asks for the functions' logs. */
function functionLogLevel(functionLogs: boolean): Record<string, string> {
  return { POWERTOOLS_LOG_LEVEL: functionLogs ? "INFO" : "SILENT" };
}
