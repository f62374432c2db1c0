/**
 * A design as the runner needs it: the pipeline definition, the queues, tables and Batch resources to
 * create in the local servers, the functions with how to load them, and what invokes them (queue
 * subscriptions, event rules). Built from the rendered stack (the bridge: exactly what `pulumi up` would
 * deploy, the functions being the serialized closures Pulumi uploads) or from the reference design's
 * module, which runs on the same Batch resources so that only the orchestration differs.
 */
import { BatchClient, type RetryStrategy } from "@aws-sdk/client-batch";
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import type { PipelineDefinition } from "../../infra/pipeline-definition";
import type { JobDefinitionSettings } from "../batch/server";
import { referenceDesign } from "./reference-design";
import { loadHandler } from "../../render/archives";
import { mockAccountId } from "../../render/aws-mocks";
import { renderStack } from "../../render/render-stack";
import {
  pipelineDefinitionOf,
  resourcesOfType,
  type RenderedResource,
  type RenderedStack,
} from "../../render/rendered-stack";
import { stackConfig, type ConfigValue } from "../../render/stack-files";
import { compileEventPattern } from "./event-pattern";
import type { EventRuleTarget, QueueSubscription } from "../runner/event-sources";
import type { Handler, LambdaFunctionSpec } from "../runner/lambda";
import type { ResolvedScenario } from "../runner/scenario";

/** A queue to create, named and addressed as the design's functions and pipeline know it. */
export interface QueueDeclaration {
  name: string;
  /** The URL the design uses (AWS's form; the local server resolves it by name). */
  url: string;
  arn: string;
  /** CreateQueue attributes: VisibilityTimeout, MessageRetentionPeriod, RedrivePolicy, ... */
  attributes: Record<string, string>;
}

/** Everything the runner sets up and runs for one design. */
export interface PreparedDesign {
  design: ResolvedScenario["design"];
  region: string;
  accountId: string;
  pipelineName: string;
  definition: PipelineDefinition;
  /** How jobs are submitted: one array job, or one job per shard. */
  mode: "array" | "jobs";
  /** Stack config this run set over the stack file, with why. */
  configOverrides: Record<string, { value: ConfigValue; why: string }>;
  queues: QueueDeclaration[];
  /** Queues whose messages are dead letters (a redrive target, or the monitor's dead-letter queue). */
  deadLetterQueueNames: string[];
  tables: CreateTableCommandInput[];
  batch: { jobQueues: string[]; jobDefinitions: Record<string, JobDefinitionSettings> };
  subscriptions: QueueSubscription[];
  rules: EventRuleTarget[];
  /** The functions; `env` is added to each function's environment (endpoints, credentials, log level). */
  functions(env: Record<string, string>): LambdaFunctionSpec[];
}

const renders = new Map<string, Promise<RenderedStack>>();

/**
 * The stack rendered under the mock engine with `config`, once per process for the same stack and config
 * (a render takes seconds; renders run one after another).
 */
export function renderedStack(stack: string, config: Record<string, ConfigValue>): Promise<RenderedStack> {
  const key = JSON.stringify([stack, Object.entries(config).sort(([a], [b]) => a.localeCompare(b))]);
  let rendered = renders.get(key);
  if (!rendered) {
    const previous = [...renders.values()].at(-1) ?? Promise.resolve(undefined);
    rendered = previous.catch(() => undefined).then(() => renderStack({ stack, config }));
    renders.set(key, rendered);
    rendered.catch(() => renders.delete(key));
  }
  return rendered;
}

/**
 * Stack config for this run: the scenario's own, its mode, and a job timeout long enough for its jobs (the
 * job duration is what the scenario is about; a timeout shorter than it would fail every job).
 */
export function runConfig(scenario: ResolvedScenario): Record<string, { value: ConfigValue; why: string }> {
  const overrides: Record<string, { value: ConfigValue; why: string }> = {};
  for (const [key, value] of Object.entries(scenario.config))
    overrides[key] = { value, why: "set by the scenario" };
  if (scenario.mode !== undefined && scenario.design === "bridge") {
    overrides.submitMode = { value: scenario.mode, why: "--mode" };
  }
  const current = stackConfig(
    scenario.stack,
    Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v.value])),
  );
  const setting = (key: string) => Number(current[`sagemaker-batch-bridge:${key}`]);
  const timeout = setting("jobTimeoutSeconds");
  if (scenario.jobDurationSeconds > timeout) {
    // A quarter more than the job needs, in whole minutes.
    const needed = Math.max(60, Math.ceil((scenario.jobDurationSeconds * 1.25) / 60) * 60);
    overrides.jobTimeoutSeconds = {
      value: needed,
      why: `the stack's ${timeout} s job timeout is shorter than the ${scenario.jobDurationSeconds} s jobs`,
    };
    const longestJob = needed * setting("jobAttempts");
    if (setting("maxWaitSeconds") < longestJob) {
      overrides.maxWaitSeconds = {
        value: longestJob,
        why: "the stack waits at least jobTimeoutSeconds x jobAttempts",
      };
    }
  }
  return overrides;
}

/** Renders (or reuses) the stack and prepares the scenario's design. */
export async function prepareDesign(scenario: ResolvedScenario): Promise<PreparedDesign> {
  const overrides = runConfig(scenario);
  const rendered = await renderedStack(
    scenario.stack,
    Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v.value])),
  );
  const bridge = bridgeDesign(rendered, scenario, overrides);
  return scenario.design === "reference" ? referenceDesignOn(bridge, scenario) : bridge;
}

/** The rendered stack as the runner runs it. */
export function bridgeDesign(
  rendered: RenderedStack,
  scenario: Pick<ResolvedScenario, "functionLogs">,
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
  const jobDefinition = single(rendered, "aws:batch/jobDefinition:JobDefinition");

  const subscriptions = resourcesOfType(rendered, "aws:lambda/eventSourceMapping:EventSourceMapping").map(
    (mapping): QueueSubscription => {
      const inputs = mapping.inputs as {
        eventSourceArn?: string;
        functionName?: string;
        batchSize?: number;
        functionResponseTypes?: string[];
        scalingConfig?: { maximumConcurrency?: number };
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
      };
    },
  );

  return {
    design: "bridge",
    region,
    accountId: mockAccountId,
    pipelineName: String(pipeline.inputs.pipelineName),
    definition: pipelineDefinitionOf(rendered),
    mode: rendered.config["sagemaker-batch-bridge:submitMode"] === "jobs" ? "jobs" : "array",
    configOverrides,
    queues,
    deadLetterQueueNames: queues
      .filter((q) => redriveTargets.includes(q.arn) || monitorDeadLetterUrls.includes(q.url))
      .map((q) => q.name),
    tables: resourcesOfType(rendered, "aws:dynamodb/table:Table").map(tableDeclaration),
    batch: {
      jobQueues: [String(jobQueue.state.name)],
      jobDefinitions: { [String(jobDefinition.state.name)]: jobDefinitionSettings(jobDefinition) },
    },
    subscriptions,
    rules: eventRuleTargets(rendered, functionArn),
    functions: (env) =>
      rendered.functions.map((fn): LambdaFunctionSpec => {
        const resource = lambdas.find((l) => l.name === fn.name)!;
        return {
          name: fn.name,
          functionName: fn.functionName,
          arn: String(resource.state.arn),
          // Lambda's defaults when the stack sets none.
          timeoutSeconds: Number(resource.inputs.timeout ?? 3),
          memoryMiB: Number(resource.inputs.memorySize ?? 128),
          load: () => loadHandler(fn, { ...env, ...functionLogLevel(scenario.functionLogs) }) as Handler,
        };
      }),
  };
}

/**
 * The reference design on the bridge's Batch resources, data bucket and region: its own pipeline, callback
 * queue (no dead-letter queue), submit and monitor functions.
 */
export function referenceDesignOn(bridge: PreparedDesign, scenario: ResolvedScenario): PreparedDesign {
  const { region, accountId } = bridge;
  const pipelineName = "batch-bridge-reference";
  const reference = referenceDesign({
    jobQueue: `arn:aws:batch:${region}:${accountId}:job-queue/${bridge.batch.jobQueues[0]}`,
    jobDefinition: Object.keys(bridge.batch.jobDefinitions)[0],
    jobNamePrefix: "reference",
  });
  const queueName = `${pipelineName}-callbacks`;
  const queue: QueueDeclaration = {
    name: queueName,
    url: `https://sqs.${region}.amazonaws.com/${accountId}/${queueName}`,
    arn: `arn:aws:sqs:${region}:${accountId}:${queueName}`,
    attributes: { VisibilityTimeout: String(reference.queue.visibilityTimeoutSeconds) },
  };
  const functionArn = (name: string) => `arn:aws:lambda:${region}:${accountId}:function:${name}`;
  const defaults = Object.fromEntries(bridge.definition.Parameters.map((p) => [p.Name, p.DefaultValue]));
  const definition = reference.pipelineDefinition({
    submitFunctionArn: functionArn(`${pipelineName}-submit`),
    callbackQueueUrl: queue.url,
    inputUri: String(defaults.InputUri),
    outputUri: String(defaults.OutputUri),
    shardCount: scenario.shards,
  });

  return {
    ...bridge,
    design: "reference",
    pipelineName,
    definition,
    mode: "jobs",
    configOverrides: Object.fromEntries(
      Object.entries(bridge.configOverrides).filter(([key]) => key !== "submitMode"),
    ),
    queues: [queue],
    deadLetterQueueNames: [],
    tables: [],
    subscriptions: [
      {
        queueUrl: queue.url,
        queueArn: queue.arn,
        functionArn: functionArn(`${pipelineName}-monitor`),
        batchSize: reference.queue.batchSize,
        reportBatchItemFailures: reference.queue.reportBatchItemFailures,
      },
    ],
    rules: [],
    functions: (env) => {
      // The reference's functions build their clients with the SDK's defaults (standard retries).
      const handlers = () =>
        reference.makeHandlers({
          batch: new BatchClient({ region, endpoint: env.AWS_ENDPOINT_URL_BATCH }),
          sagemaker: new SageMakerClient({ region, endpoint: env.AWS_ENDPOINT_URL_SAGEMAKER }),
        });
      const spec = (role: "submit" | "monitor"): LambdaFunctionSpec => ({
        name: `reference-${role}`,
        functionName: `${pipelineName}-${role}`,
        arn: functionArn(`${pipelineName}-${role}`),
        // The reference declares no timeout: Lambda's maximum (the Lambda step still ends at 10 minutes).
        timeoutSeconds: 900,
        memoryMiB: 128,
        load: () => {
          const made = handlers();
          return role === "submit" ? (event) => made.submit(event) : (event) => made.monitor(event as never);
        },
      });
      return [spec("submit"), spec("monitor")];
    },
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

function jobDefinitionSettings(resource: RenderedResource): JobDefinitionSettings {
  const inputs = resource.inputs as {
    retryStrategy?: { attempts?: number; evaluateOnExits?: Record<string, string>[] };
    timeout?: { attemptDurationSeconds?: number };
  };
  const retryStrategy: RetryStrategy | undefined = inputs.retryStrategy && {
    attempts: inputs.retryStrategy.attempts,
    evaluateOnExit: inputs.retryStrategy.evaluateOnExits?.map((rule) => ({
      action: rule.action as "RETRY" | "EXIT",
      onStatusReason: rule.onStatusReason,
      onReason: rule.onReason,
      onExitCode: rule.onExitCode,
    })),
  };
  return { retryStrategy, timeout: inputs.timeout };
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
 * Rules on Batch job state changes (or any rule: the pattern decides) with a Lambda target. A target names
 * its rule by name; the rule must therefore have one the mock engine resolves (an explicit `name`).
 */
function eventRuleTargets(
  rendered: RenderedStack,
  functionArn: (name: unknown) => string,
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
    if (typeof inputs.arn !== "string" || !inputs.arn.includes(":lambda:")) continue;
    for (const unsupported of ["input", "inputPath", "inputTransformer"]) {
      if (inputs[unsupported] !== undefined) {
        throw new Error(`Event target ${target.name} sets ${unsupported}, which local mode does not apply.`);
      }
    }
    if (rule.inputs.eventPattern === undefined) continue;
    const arn = functionArn(inputs.arn);
    const invokeConfig = invokeConfigs.find((c) => {
      const name = c.inputs.functionName;
      return name === arn || (typeof name === "string" && arn.endsWith(`:function:${name}`));
    });
    result.push({
      ruleName: String(rule.inputs.name ?? rule.state.name ?? rule.name),
      matches: compileEventPattern(rule.inputs.eventPattern),
      functionArn: arn,
      retryAttempts: Number(invokeConfig?.inputs.maximumRetryAttempts ?? 2),
    });
  }
  return result;
}

/** Powertools log level: silent unless the scenario asks for the functions' logs. */
function functionLogLevel(functionLogs: boolean): Record<string, string> {
  return { POWERTOOLS_LOG_LEVEL: functionLogs ? "INFO" : "SILENT" };
}
