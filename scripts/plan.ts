/**
 * `npm run plan [-- --stack NAME] [--json]`: what `pulumi up` would create for a stack, worked out under
 * the mock engine with the stack's config and no AWS credentials. Prints a tree of the resources with their
 * key settings, every role's policy statements and the pipeline definition; with --json, one JSON document.
 */
import type { RenderedResource, RenderedStack } from "../render/rendered-stack";
import type { ConfigValue } from "../render/stack-files";
import {
  configSetting,
  flagGiven,
  optionValue,
  parseArgs,
  readOptions,
  runCli,
  type CliCommand,
  type CliOutput,
} from "./cli";

/** `npm run plan`: its options and usage. */
export const planCommand: CliCommand = {
  usage: ["npm run plan [-- options]"],
  npmScripts: ["plan"],
  description:
    "Shows what `pulumi up` would create for a stack, worked out under Pulumi's mock engine with the stack's\n" +
    "config and no AWS credentials: every resource with its key settings, each role's IAM statements, the\n" +
    "pipeline definition and each Lambda archive. Invalid config fails here as `pulumi preview` would (exit 1).",
  options: [
    {
      name: "--stack",
      value: "NAME",
      allowed: "a stack name, e.g. --stack dev",
      help: "whose config: Pulumi.<NAME>.yaml over the Pulumi.yaml defaults (default dev)",
    },
    {
      name: "--set",
      value: "KEY=VALUE",
      allowed: "KEY=VALUE, e.g. recordApi=true",
      help: "set a stack config key over the stack file's (a YAML value); repeatable",
    },
    { name: "--json", help: "print the plan as one JSON document on stdout" },
  ],
  examples: [
    "npm run plan",
    "npm run plan -- --stack prod",
    "npm run plan -- --set recordApi=true",
    "npm run plan -- --json",
  ],
};

export interface PlanOptions {
  stack: string;
  /** Config set over the stack file's, by key. */
  config: Record<string, ConfigValue>;
  json: boolean;
  help: boolean;
}

/** Reads `--stack <name>` (or `--stack=<name>`, default "dev"), `--set KEY=VALUE` and `--json`. */
export function parsePlanArgs(argv: string[]): PlanOptions {
  const parsed = parseArgs(argv, planCommand);
  const config = Object.fromEntries(
    parsed.values.filter(([name]) => name === "--set").map(([, value]) => configSetting(String(value))),
  );
  return {
    stack: optionValue(parsed, "--stack") ?? "dev",
    config,
    json: flagGiven(parsed, "--json"),
    help: parsed.help,
  };
}

/** Runs the plan; resolves to the process exit code. */
export async function plan(argv: string[], output: CliOutput): Promise<number> {
  const options = readOptions(argv, planCommand, parsePlanArgs, output);
  if (typeof options === "number") return options;
  let rendered: RenderedStack;
  // Anything the program or its libraries print goes to stderr: stdout carries only the plan.
  const log = console.log;
  console.log = console.error;
  try {
    // Loaded only for a plan (Pulumi's runtime): --help and a bad option answer at once.
    const { renderStack } = await import("../render/render-stack");
    rendered = await renderStack({ stack: options.stack, config: options.config });
  } catch (error) {
    output.err(`Cannot plan stack "${options.stack}": ${(error as Error).message}`);
    return 1;
  } finally {
    console.log = log;
  }
  output.out(options.json ? JSON.stringify(planDocument(rendered), null, 2) : readablePlan(rendered));
  return 0;
}

/** The --json document. */
export function planDocument(rendered: RenderedStack) {
  return {
    stack: rendered.stack,
    config: rendered.config,
    resources: rendered.resources.map((r) => ({
      type: r.type,
      name: r.name,
      parent: r.parent ?? null,
      inputs: r.inputs,
    })),
    outputs: rendered.outputs,
    functions: rendered.functions.map((f) => ({
      name: f.name,
      runtime: f.runtime,
      handler: f.handler,
      files: f.files,
      archiveBytes: f.archiveBytes,
    })),
  };
}

/** The plan as a person reads it. */
export function readablePlan(rendered: RenderedStack): string {
  const lines: string[] = [];
  const region = rendered.config["aws:region"] ?? "us-east-1";
  lines.push(
    `Plan for stack "${rendered.stack}" in ${region} (mock engine: account 123456789012, nothing is created)`,
    "",
    `Resources (${rendered.resources.length})`,
  );
  const children = new Map<string | undefined, RenderedResource[]>();
  for (const resource of rendered.resources) {
    const siblings = children.get(resource.parentUrn) ?? [];
    siblings.push(resource);
    children.set(resource.parentUrn, siblings);
  }
  const walk = (parentUrn: string | undefined, depth: number) => {
    const siblings = [...(children.get(parentUrn) ?? [])].sort(
      (a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
    );
    for (const resource of siblings) {
      const indent = "  ".repeat(depth + 1);
      lines.push(`${indent}${shortType(resource.type)} ${resource.name}`);
      for (const setting of keySettings(resource)) lines.push(`${indent}    ${setting}`);
      walk(resource.urn, depth + 1);
    }
  };
  walk(undefined, 0);

  lines.push("", "IAM roles and their policies");
  for (const role of rendered.resources.filter((r) => r.type === "aws:iam/role:Role")) {
    const trust = parseJson(role.inputs.assumeRolePolicy) as {
      Statement?: { Principal?: { Service?: string } }[];
    };
    const principal = trust?.Statement?.map((s) => s.Principal?.Service).join(", ");
    lines.push(`  ${role.state.name} (${role.name}), assumed by ${principal}`);
    const policies = rendered.resources.filter(
      (r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.inputs.role === role.state.name,
    );
    for (const policy of policies) {
      const document = parseJson(policy.inputs.policy) as { Statement: Record<string, unknown>[] };
      for (const statement of document.Statement) lines.push(...statementLines(statement));
    }
  }

  const pipeline = rendered.resources.find((r) => r.type === "aws:sagemaker/pipeline:Pipeline");
  if (pipeline) {
    lines.push("", `Pipeline definition of ${pipeline.inputs.pipelineName}`);
    const definition = JSON.stringify(parseJson(pipeline.inputs.pipelineDefinition), null, 2);
    lines.push(...definition.split("\n").map((line) => `  ${line}`));
  }

  lines.push("", "Function archives (what Pulumi uploads)");
  for (const fn of rendered.functions) {
    const packages = new Set(
      fn.files
        .filter((f) => f.startsWith("node_modules/"))
        .map((f) => packageOf(f.slice("node_modules/".length))),
    );
    lines.push(
      `  ${fn.name}: ${fn.runtime}, handler ${fn.handler}, ${fn.files.length} files, ` +
        `${(fn.archiveBytes / 1024).toFixed(0)} KiB zipped`,
      `    packages: ${[...packages].sort().join(", ") || "(none)"}`,
    );
  }

  lines.push("", "Outputs");
  for (const [key, value] of Object.entries(rendered.outputs)) {
    lines.push(`  ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return lines.join("\n");
}

/** `aws:sqs/queue:Queue` -> `aws:sqs:Queue`. */
function shortType(type: string): string {
  return type.replace(/^([^:]+):([^/:]+)\/[^:]+:(.+)$/, "$1:$2:$3");
}

function packageOf(modulePath: string): string {
  const parts = modulePath.split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

function parseJson(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

function list(value: unknown): string {
  return Array.isArray(value) ? value.join(", ") : String(value);
}

function statementLines(statement: Record<string, unknown>): string[] {
  const lines = [`    ${statement.Sid}: ${statement.Effect} ${list(statement.Action)}`];
  for (const resource of ([] as unknown[]).concat(statement.Resource)) lines.push(`        on ${resource}`);
  const conditions = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
  for (const [operator, byKey] of Object.entries(conditions)) {
    for (const [key, value] of Object.entries(byKey)) {
      lines.push(`        when ${operator} ${key} = ${list(value)}`);
    }
  }
  return lines;
}

/** The settings a reviewer looks at first, per resource type. */
function keySettings(resource: RenderedResource): string[] {
  const inputs = resource.inputs as Record<string, unknown>;
  const pick = (...keys: string[]) =>
    keys.filter((k) => inputs[k] !== undefined).map((k) => `${k}: ${JSON.stringify(inputs[k])}`);
  switch (resource.type) {
    case "aws:batch/computeEnvironment:ComputeEnvironment":
      return [
        ...pick("name", "type", "state"),
        `computeResources: ${JSON.stringify(inputs.computeResources)}`,
      ];
    case "aws:batch/jobQueue:JobQueue":
      return pick("name", "state", "priority", "computeEnvironmentOrders");
    case "aws:batch/jobDefinition:JobDefinition": {
      const container = parseJson(inputs.containerProperties) as Record<string, unknown>;
      return [
        ...pick("name", "type", "platformCapabilities", "propagateTags", "timeout", "parameters"),
        `retryStrategy: ${JSON.stringify(inputs.retryStrategy)}`,
        ...Object.entries(container).map(([k, v]) => `container.${k}: ${JSON.stringify(v)}`),
      ];
    }
    case "aws:sqs/queue:Queue":
      return pick(
        "name",
        "visibilityTimeoutSeconds",
        "messageRetentionSeconds",
        "maxMessageSize",
        "sqsManagedSseEnabled",
        "redrivePolicy",
      );
    case "aws:lambda/function:Function": {
      const variables =
        (inputs.environment as { variables?: Record<string, string> } | undefined)?.variables ?? {};
      return [
        `name: ${JSON.stringify(resource.state.name)}`,
        ...pick("runtime", "handler", "timeout", "memorySize", "role", "loggingConfig"),
        ...Object.entries(variables).map(([k, v]) => `env ${k}=${v}`),
      ];
    }
    case "aws:lambda/eventSourceMapping:EventSourceMapping":
      return pick(
        "eventSourceArn",
        "functionName",
        "batchSize",
        "maximumBatchingWindowInSeconds",
        "functionResponseTypes",
        "scalingConfig",
      );
    case "aws:lambda/permission:Permission":
      return pick("action", "function", "principal", "sourceArn");
    case "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
      return pick("functionName", "maximumRetryAttempts", "maximumEventAgeInSeconds", "destinationConfig");
    case "aws:cloudwatch/eventRule:EventRule":
      return [
        `name: ${JSON.stringify(resource.state.name)}`,
        ...pick("description", "state", "scheduleExpression"),
        ...(inputs.eventPattern !== undefined
          ? [`eventPattern: ${JSON.stringify(parseJson(inputs.eventPattern))}`]
          : []),
      ];
    case "aws:cloudwatch/eventTarget:EventTarget":
      return pick("rule", "arn", "retryPolicy");
    case "aws:dynamodb/table:Table":
      return pick(
        "name",
        "billingMode",
        "hashKey",
        "attributes",
        "ttl",
        "serverSideEncryption",
        "pointInTimeRecovery",
      );
    case "aws:cloudwatch/metricAlarm:MetricAlarm":
      return pick(
        "alarmDescription",
        "namespace",
        "metricName",
        "dimensions",
        "statistic",
        "period",
        "comparisonOperator",
        "threshold",
        "alarmActions",
      ).concat(
        ((inputs.metricQueries ?? []) as { id: string; expression?: string }[])
          .filter((query) => query.expression !== undefined)
          .map((query) => `${query.id}: ${query.expression}`),
      );
    case "aws:cloudwatch/logMetricFilter:LogMetricFilter":
      return pick("logGroupName", "pattern", "metricTransformation");
    case "aws:cloudwatch/dashboard:Dashboard": {
      const widgets = (parseJson(inputs.dashboardBody) as { widgets: { properties: { title: string } }[] })
        .widgets;
      return [...pick("dashboardName"), `widgets: ${widgets.map((w) => w.properties.title).join("; ")}`];
    }
    case "aws:sns/topic:Topic":
      return pick("name", "displayName");
    case "aws:sns/topicSubscription:TopicSubscription":
      return pick("topic", "protocol", "endpoint");
    case "aws:cloudwatch/logGroup:LogGroup":
      return pick("name", "retentionInDays");
    case "aws:iam/role:Role":
      return [`name: ${JSON.stringify(resource.state.name)}`, ...pick("description")];
    case "aws:iam/rolePolicy:RolePolicy":
      return pick("role");
    case "aws:ec2/securityGroup:SecurityGroup":
      return [...pick("vpcId", "egress"), `ingress: ${JSON.stringify(inputs.ingress ?? [])}`];
    case "aws:s3/bucket:Bucket":
      return [`bucket: ${JSON.stringify(resource.state.bucket)}`];
    case "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
      return pick("rules");
    case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
      return pick("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets");
    case "aws:s3/bucketPolicy:BucketPolicy":
      return [`policy: ${JSON.stringify(parseJson(inputs.policy))}`];
    case "aws:sagemaker/pipeline:Pipeline":
      return pick("pipelineName", "roleArn");
    case "aws:apigateway/restApi:RestApi": {
      const document = parseJson(inputs.body) as { paths?: Record<string, Record<string, unknown>> };
      const routes = Object.entries(document.paths ?? {}).flatMap(([path, operations]) =>
        Object.entries(operations).map(
          ([method, operation]) =>
            `route: ${method.toUpperCase()} ${path}` +
            `${(operation as { security?: unknown[] }).security?.length ? " (API key)" : ""}`,
        ),
      );
      return [...pick("name", "endpointConfiguration"), ...routes];
    }
    case "aws:apigateway/stage:Stage":
      return [...pick("stageName"), `invokeUrl: ${JSON.stringify(resource.state.invokeUrl)}`];
    case "aws:apigateway/apiKey:ApiKey":
      return [`id: ${JSON.stringify(resource.id)}`, ...pick("name", "enabled")];
    case "aws:apigateway/usagePlan:UsagePlan":
      return pick("name", "throttleSettings", "quotaSettings", "apiStages");
    case "awsx:ec2:DefaultVpc":
      return ["the account's default VPC (looked up, not created)"];
    default:
      return [];
  }
}

if (require.main === module) {
  runCli(planCommand, plan);
}
