/**
 * Checks the settings a stack gives, applies the defaults and derives what follows from them. Every problem
 * is reported at once, each naming its key and what is allowed, before anything is created.
 */
import { minSuccessRatioAllowed, parseMinSuccessRatio } from "../../functions/success-ratio";
import * as path from "path";
import { checkPollSchedule, type PollSchedule } from "../../functions/poll-schedule";
import { defaultJobKind } from "../../functions/step-contract";
import { closestName } from "./closest-name";
import {
  configKeys,
  jobKindFields,
  projectName,
  type BridgeConfig,
  type BridgeSettings,
  type ConfigKey,
  type JobKind,
  type KeySpec,
  type KeyType,
} from "./keys";
import {
  fargateMemoryMiBByVcpu,
  lambdaEnvironmentBytesLimit,
  logRetentionDaysAllowed,
  maxReceiveCountLimit,
  messageRetentionSeconds,
} from "./service-limits";
import { checkTransform } from "./transform-config";

/**
 * Settings by key as a stack gives them: strings, as `pulumi config` holds them, or typed values. A key
 * left out (or set to "") takes its default.
 */
export type StackSettings = Readonly<Record<string, unknown>>;

/** Raised with every problem found, each naming its key and what is allowed. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** How a check reports a problem with one key, or with a field of a job kind (`jobKinds.gpu.vcpu`). */
type Report = (key: ConfigKey | `jobKinds.${string}`, message: string) => void;

/** The settings with their defaults applied, and the values derived from them. Throws a ConfigError. */
export function parseConfig(raw: StackSettings): BridgeConfig {
  const problems: string[] = [];
  const report: Report = (key, message) => problems.push(`${projectName}:${key} ${message}`);
  reportUnknownKeys(raw, problems);
  const settings = typedSettings(raw, report);
  checkNames(settings, report);
  const kinds = jobKindsOf(settings, report);
  for (const kind of kinds) checkFargateSizes(settings, kind, report);
  checkNetwork(settings, report);
  checkData(settings, report);
  checkFunctions(settings, kinds, report);
  checkRecords(settings, report);
  checkAlarms(settings, report);
  checkTransform(settings, report, settings.engine === "transform");
  const bridgedPipelineNames = checkPipelines(settings, report);
  const waits = checkWaits(settings, kinds, report);
  if (problems.length > 0 || !waits) throw new ConfigError(problems);
  return { ...settings, ...waits, kinds, bridgedPipelineNames };
}

/** A key the table does not hold, most often a typo: name the declared key it is nearest to. */
function reportUnknownKeys(raw: StackSettings, problems: string[]): void {
  for (const key of Object.keys(raw).filter((key) => !(key in configKeys))) {
    const closest = closestName(key, Object.keys(configKeys));
    problems.push(
      `${projectName}:${key} is not a setting of this stack: did you mean ${projectName}:${closest}? ` +
        `(The README's configuration table lists every key.)`,
    );
  }
}

/** Each key's value in its type (its default where unset or of the wrong type, which is reported). */
function typedSettings(raw: StackSettings, report: Report): BridgeSettings {
  const settings: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(configKeys) as [ConfigKey, KeySpec][]) {
    const given = raw[key];
    const typed = given === undefined || given === "" ? undefined : coerce(given, spec.type);
    if (given !== undefined && given !== "" && typed === undefined) {
      report(key, `must be ${describeType(spec.type)}, got ${JSON.stringify(given)}.`);
    } else if (typed !== undefined && spec.allowed && !spec.allowed.includes(typed as string | number)) {
      report(key, `must be ${oneOf(spec.allowed)}, got ${JSON.stringify(typed)}.`);
    }
    const value = typed ?? spec.default;
    settings[key] = Array.isArray(value) ? [...value] : typeof value === "object" ? { ...value } : value;
  }
  return settings as BridgeSettings;
}

/** Names, with the patterns and lengths the services accept. */
function checkNames(c: BridgeSettings, report: Report): void {
  if (!/^[0-9a-z](-*[0-9a-z])*$/.test(c.pipelineName) || c.pipelineName.length > 256) {
    report(
      "pipelineName",
      `must be 1-256 lowercase letters, digits and hyphens, starting and ending with a letter or digit ` +
        `(SageMaker lowercases pipeline names in ARNs), got "${c.pipelineName}".`,
    );
  }
  const batchName = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
  for (const key of ["computeEnvironmentName", "jobQueueName", "jobDefinitionName"] as const) {
    if (!batchName.test(c[key]) || c[key].length > 128) {
      report(key, `must be 1-128 letters, digits, hyphens and underscores, got "${c[key]}".`);
    }
  }
  // Job names are <prefix>-<execution id (12)>-<shard (5)> and Batch allows 128 characters.
  if (!batchName.test(c.jobNamePrefix) || c.jobNamePrefix.length > 64) {
    report(
      "jobNamePrefix",
      `must be 1-64 letters, digits, hyphens and underscores, got "${c.jobNamePrefix}".`,
    );
  }
  for (const key of ["callbackQueueName", "cleanupQueueName"] as const) {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(c[key])) {
      report(key, `must be 1-80 letters, digits, hyphens and underscores, got "${c[key]}".`);
    } else if (c[key].length > 76) {
      report(key, `must be at most 76 characters so that "<name>-dlq" is a valid queue name.`);
    }
  }
  const callbackQueues = [c.callbackQueueName, `${c.callbackQueueName}-dlq`];
  if ([c.cleanupQueueName, `${c.cleanupQueueName}-dlq`].some((queue) => callbackQueues.includes(queue))) {
    report(
      "cleanupQueueName",
      `must differ from callbackQueueName ("${c.callbackQueueName}") and its dead-letter queue's name.`,
    );
  }
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(c.statusTableName)) {
    report(
      "statusTableName",
      `must be 3-255 letters, digits, underscores, hyphens and dots, got "${c.statusTableName}".`,
    );
  }
  if (c.containerImage.trim() === "") report("containerImage", "must name a container image.");
}

/**
 * A job kind's Fargate size, time limit and attempts: the default kind's under the top-level keys, another
 * kind's under the fields it sets (a field it leaves unset was checked as the default kind's).
 */
function checkFargateSizes(c: BridgeSettings, kind: JobKind, report: Report): void {
  const isDefault = kind.name === defaultJobKind;
  type Field = "vcpu" | "memoryMiB" | "jobTimeoutSeconds" | "jobAttempts";
  const own = (field: Field) => isDefault || c.jobKinds[kind.name]?.[field] !== undefined;
  const keyOf = (field: Field) => (isDefault ? field : (`jobKinds.${kind.name}.${field}` as const));
  const given = (field: Field) => `${kind[field]}${own(field) ? "" : ` (the top-level ${field})`}`;
  const memoryChoices = fargateMemoryMiBByVcpu[String(kind.vcpu)];
  if (own("vcpu") && !memoryChoices) {
    const allowed = Object.keys(fargateMemoryMiBByVcpu).sort((a, b) => Number(a) - Number(b));
    report(keyOf("vcpu"), `must be one of ${allowed.join(", ")} (Fargate), got ${kind.vcpu}.`);
  } else if ((own("vcpu") || own("memoryMiB")) && memoryChoices && !memoryChoices.includes(kind.memoryMiB)) {
    report(
      keyOf("memoryMiB"),
      `must be ${describeChoices(memoryChoices)} for vcpu ${kind.vcpu} ` +
        `(Fargate${own("vcpu") ? "" : "; the top-level vcpu"}), got ${given("memoryMiB")}.`,
    );
  }
  if (own("vcpu") && (!Number.isInteger(c.maxVcpus) || c.maxVcpus < Math.max(1, Math.ceil(kind.vcpu)))) {
    const whose = isDefault ? "" : ` of job kind ${kind.name}`;
    report(
      "maxVcpus",
      `must be a whole number of at least one job's vcpu (${kind.vcpu}${whose}), got ${c.maxVcpus}.`,
    );
  }
  if (own("jobTimeoutSeconds")) {
    checkRange(report, keyOf("jobTimeoutSeconds"), kind.jobTimeoutSeconds, 60, messageRetentionSeconds);
  }
  if (own("jobAttempts")) checkRange(report, keyOf("jobAttempts"), kind.jobAttempts, 1, 10);
}

/** Names a job kind may take: its job definition's name ends with it, and steps name it as their JobKind. */
const jobKindNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
/** Environment variables Batch or the bridge set on every job, which a kind may not set. */
const reservedVariable = /^(AWS_BATCH|BRIDGE_SHARD_)/;

/**
 * Every job kind with its fields resolved, the default kind (the top-level keys) first. A field of the
 * wrong type is reported and takes the top-level key's value, so that the other checks can go on.
 */
function jobKindsOf(c: BridgeSettings, report: Report): JobKind[] {
  const defaultKind: JobKind = {
    name: defaultJobKind,
    jobDefinitionName: c.jobDefinitionName,
    image: c.containerImage,
    command: c.containerCommand,
    vcpu: c.vcpu,
    memoryMiB: c.memoryMiB,
    jobTimeoutSeconds: c.jobTimeoutSeconds,
    jobAttempts: c.jobAttempts,
    submitMode: c.submitMode,
    minSuccessRatio: c.minSuccessRatio,
    environment: {},
  };
  const kinds = [defaultKind];
  for (const [name, fields] of Object.entries(c.jobKinds)) {
    const at = `jobKinds.${name}` as const;
    if (name === defaultJobKind) {
      report(at, `is the top-level keys' kind: set containerImage, vcpu and the others instead.`);
      continue;
    }
    if (!jobKindNamePattern.test(name)) {
      report(
        at,
        `must be named with 1-32 letters, digits, hyphens and underscores, starting with a letter or digit.`,
      );
      continue;
    }
    const jobDefinitionName = `${c.jobDefinitionName}-${name}`;
    if (jobDefinitionName.length > 128) {
      report(
        at,
        `gives the job definition name "${jobDefinitionName}", longer than the 128 characters Batch allows.`,
      );
    }
    const kind: JobKind = { ...defaultKind, name, jobDefinitionName };
    for (const [field, value] of Object.entries(fields)) {
      const where = `${at}.${field}` as const;
      if (!(field in jobKindFields)) {
        const closest = closestName(field, Object.keys(jobKindFields));
        report(
          where,
          `is not a field of a job kind: did you mean ${closest}? (A kind takes ${oneOf(Object.keys(jobKindFields))}.)`,
        );
        continue;
      }
      const typed = jobKindField(field as keyof typeof jobKindFields, value);
      if (typed.problem !== undefined) report(where, typed.problem);
      else Object.assign(kind, { [field]: typed.value });
    }
    kinds.push(kind);
  }
  return kinds;
}

/** A job kind's field in its type, or what is wrong with it. */
function jobKindField(
  field: keyof typeof jobKindFields,
  value: unknown,
): { value: unknown; problem?: undefined } | { problem: string } {
  const got = `got ${JSON.stringify(value)}.`;
  switch (field) {
    case "image":
      return typeof value === "string" && value.trim() !== ""
        ? { value }
        : { problem: `must name a container image, ${got}` };
    case "command": {
      const command = coerce(value, "array");
      return command !== undefined ? { value: command } : { problem: `must be a list of strings, ${got}` };
    }
    case "vcpu":
    case "memoryMiB":
    case "jobTimeoutSeconds":
    case "jobAttempts": {
      const number = coerce(value, field === "vcpu" ? "number" : "integer");
      return number !== undefined
        ? { value: number }
        : { problem: `must be ${field === "vcpu" ? "a number" : "a whole number"}, ${got}` };
    }
    case "submitMode":
      return value === "array" || value === "jobs" ? { value } : { problem: `must be array or jobs, ${got}` };
    case "minSuccessRatio": {
      const ratio = parseMinSuccessRatio(value);
      return ratio !== undefined
        ? { value: ratio }
        : { problem: `must be ${minSuccessRatioAllowed}, ${got}` };
    }
    case "environment": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return { problem: `must be a map of variable names to values, ${got}` };
      }
      const environment: Record<string, string> = {};
      for (const [name, text] of Object.entries(value)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || reservedVariable.test(name)) {
          return {
            problem:
              `must name variables with letters, digits and underscores, not starting with a digit, AWS_BATCH ` +
              `(Batch's) or BRIDGE_SHARD_ (the bridge's), got "${name}".`,
          };
        }
        if (!["string", "number", "boolean"].includes(typeof text)) {
          return { problem: `must give ${name} a string, number or boolean, got ${JSON.stringify(text)}.` };
        }
        environment[name] = String(text);
      }
      return { value: environment };
    }
  }
}

/**
 * The pipelines the functions serve (the stack's own, then externalPipelineNames), and the pipeline
 * definition file's path.
 */
function checkPipelines(c: BridgeSettings, report: Report): string[] {
  for (const name of c.externalPipelineNames) {
    if (name.startsWith("arn:")) {
      report("externalPipelineNames", `must list pipeline names, not ARNs, got "${name}".`);
    } else if (!/^[A-Za-z0-9](-*[A-Za-z0-9])*$/.test(name) || name.length > 256) {
      report(
        "externalPipelineNames",
        `must list SageMaker pipeline names (1-256 letters, digits and hyphens, starting and ending with a ` +
          `letter or digit), got "${name}".`,
      );
    }
  }
  const file = c.pipelineDefinitionFile;
  if (file !== "" && (path.isAbsolute(file) || !file.endsWith(".json"))) {
    report(
      "pipelineDefinitionFile",
      `must be the path of a .json file relative to the project, e.g. "pipelines/definition.json", got "${file}".`,
    );
  }
  return [...new Set([c.pipelineName, ...c.externalPipelineNames])];
}

/** Where the jobs run: subnets, security groups, public IPs. */
function checkNetwork(c: BridgeSettings, report: Report): void {
  if (c.subnetIds.length > 16) {
    report("subnetIds", `must list at most 16 subnets, got ${c.subnetIds.length}.`);
  }
  if (c.subnetIds.length === 0 && c.securityGroupIds.length > 0) {
    report("securityGroupIds", "can only be set together with subnetIds.");
  }
  if (c.subnetIds.length === 0 && !c.assignPublicIp) {
    report(
      "assignPublicIp",
      "must be true when subnetIds is empty: the default VPC's subnets have no NAT, so jobs without a " +
        "public IP cannot pull their image or reach S3.",
    );
  }
  if (c.subnetIds.length > 0 && c.securityGroupIds.length === 0 && c.vpcId === "") {
    report(
      "vpcId",
      "must be set when subnetIds is set without securityGroupIds (the stack creates a group in it).",
    );
  }
}

/** The data bucket, its prefixes and the default shard count. */
function checkData(c: BridgeSettings, report: Report): void {
  if (c.dataBucketName !== "" && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(c.dataBucketName)) {
    report(
      "dataBucketName",
      `must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens).`,
    );
  }
  for (const key of ["inputPrefix", "outputPrefix"] as const) {
    if (!/^[A-Za-z0-9!_.*'()/-]+\/$/.test(c[key]) || c[key].startsWith("/")) {
      report(
        key,
        `must be a key prefix ending in "/" and not starting with "/", e.g. "input/", got "${c[key]}".`,
      );
    }
  }
  if (c.inputPrefix.startsWith(c.outputPrefix) || c.outputPrefix.startsWith(c.inputPrefix)) {
    report("outputPrefix", `must not overlap inputPrefix ("${c.inputPrefix}"), got "${c.outputPrefix}".`);
  }
  checkRange(report, "defaultShardCount", c.defaultShardCount, 1, 10_000);
}

/**
 * What the submit function's environment holds for the other job kinds, with ARNs as long as any region
 * and revision make them (BRIDGE_JOB_KINDS in functions/settings.ts).
 */
function jobKindsVariableBytes(kinds: readonly JobKind[]): number {
  const entries = kinds
    .filter((kind) => kind.name !== defaultJobKind)
    .map((kind) => [
      kind.name,
      {
        jobDefinition: `arn:aws-us-gov:batch:ap-southeast-4:123456789012:job-definition/${kind.jobDefinitionName}:1000000`,
        submitMode: kind.submitMode,
      },
    ]);
  return entries.length === 0 ? 0 : Buffer.byteLength(JSON.stringify(Object.fromEntries(entries)));
}

/** The submit function's other variables (queue and default job definition ARNs, prefixes, mode, names). */
const submitEnvironmentBytesBesidesKinds = 1024;

/** The functions, the callback queue they read and their logs. */
function checkFunctions(c: BridgeSettings, kinds: readonly JobKind[], report: Report): void {
  const kindsBytes = jobKindsVariableBytes(kinds);
  if (kindsBytes + submitEnvironmentBytesBesidesKinds > lambdaEnvironmentBytesLimit) {
    report(
      "jobKinds",
      `holds too many kinds for the submit function's environment: their job definitions take up to ` +
        `${kindsBytes} bytes of it, and Lambda allows ${lambdaEnvironmentBytesLimit} bytes for all ` +
        `variables: declare fewer kinds or shorter names.`,
    );
  }
  if (parseMinSuccessRatio(c.minSuccessRatio) === undefined) {
    report("minSuccessRatio", `must be ${minSuccessRatioAllowed}, got ${c.minSuccessRatio}.`);
  }
  checkRange(report, "submitTimeoutSeconds", c.submitTimeoutSeconds, 10, 600);
  checkRange(report, "monitorTimeoutSeconds", c.monitorTimeoutSeconds, 10, 900);
  checkRange(report, "functionMemoryMiB", c.functionMemoryMiB, 128, 10240);
  checkRange(report, "monitorBatchSize", c.monitorBatchSize, 1, 10);
  checkRange(report, "monitorMaxConcurrency", c.monitorMaxConcurrency, 2, 1000);
  checkRange(report, "callbackVisibilityTimeoutSeconds", c.callbackVisibilityTimeoutSeconds, 30, 43200);
  if (c.callbackVisibilityTimeoutSeconds < c.monitorTimeoutSeconds) {
    report(
      "callbackVisibilityTimeoutSeconds",
      `must be at least monitorTimeoutSeconds (${c.monitorTimeoutSeconds}) so that a message is not ` +
        `delivered again while the monitor still handles it, got ${c.callbackVisibilityTimeoutSeconds}.`,
    );
  }
  checkRange(
    report,
    "pollInitialDelaySeconds",
    c.pollInitialDelaySeconds,
    1,
    c.callbackVisibilityTimeoutSeconds,
  );
  if (!logRetentionDaysAllowed.includes(c.logRetentionDays)) {
    report(
      "logRetentionDays",
      `must be one of ${logRetentionDaysAllowed.join(", ")}, got ${c.logRetentionDays}.`,
    );
  }
}

/** The records API, its buffer and its status table. */
function checkRecords(c: BridgeSettings, report: Report): void {
  // A usage plan above the account's own API Gateway throttle (10,000 requests/s, burst 5,000) is never reached.
  checkRange(report, "apiRateLimit", c.apiRateLimit, 1, 10_000);
  checkRange(report, "apiBurstLimit", c.apiBurstLimit, 1, 5_000);
  checkRange(report, "apiQuotaPerDay", c.apiQuotaPerDay, 1, 2 ** 31 - 1);
  // A Lambda event source mapping on a standard queue takes batches of up to 10,000 messages and a
  // batching window of up to 300 s, and needs a window of at least 1 s for batches over 10.
  checkRange(report, "recordBatchSize", c.recordBatchSize, 1, 10_000);
  checkRange(report, "recordBatchWindowSeconds", c.recordBatchWindowSeconds, 0, 300);
  if (c.recordTrigger === "batch" && c.recordBatchSize > 10 && c.recordBatchWindowSeconds === 0) {
    report(
      "recordBatchWindowSeconds",
      `must be at least 1 when recordBatchSize is over 10 (Lambda gathers larger batches only within a ` +
        `batching window), got 0.`,
    );
  }
  checkRange(report, "recordsPerShard", c.recordsPerShard, 1, 10_000);
  checkRange(report, "recordRetentionDays", c.recordRetentionDays, 1, 3650);
  if (!isScheduleExpression(c.recordScheduleExpression)) {
    report(
      "recordScheduleExpression",
      `must be an EventBridge schedule: rate(1 hour), rate(15 minutes), rate(2 days) (singular unit for 1) ` +
        `or cron(<6 fields>), got "${c.recordScheduleExpression}".`,
    );
  }
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(c.recordTableName)) {
    report(
      "recordTableName",
      `must be 3-255 letters, digits, underscores, hyphens and dots, got "${c.recordTableName}".`,
    );
  } else if (c.recordApi && c.recordTableName === c.statusTableName) {
    report("recordTableName", `must differ from statusTableName ("${c.statusTableName}").`);
  }
  if (!/^[A-Za-z0-9_-]{1,69}$/.test(c.recordQueueName)) {
    report(
      "recordQueueName",
      `must be 1-69 letters, digits, hyphens and underscores (so that "<name>-status-dlq" is a valid queue ` +
        `name), got "${c.recordQueueName}".`,
    );
  } else if (c.recordApi && [c.callbackQueueName, `${c.callbackQueueName}-dlq`].includes(c.recordQueueName)) {
    report(
      "recordQueueName",
      `must differ from callbackQueueName ("${c.callbackQueueName}") and its dead-letter queue.`,
    );
  }
}

/** Where alarms go, and when they fire. */
function checkAlarms(c: BridgeSettings, report: Report): void {
  if (
    c.alarmTopicArn !== "" &&
    !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(c.alarmTopicArn)
  ) {
    report(
      "alarmTopicArn",
      `must be an SNS topic ARN, arn:aws:sns:<region>:<account>:<topic>, or empty, got "${c.alarmTopicArn}".`,
    );
  }
  if (c.alarmEmail !== "" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(c.alarmEmail)) {
    report("alarmEmail", `must be an email address, or empty, got "${c.alarmEmail}".`);
  } else if (c.alarmEmail !== "" && c.alarmTopicArn !== "") {
    report(
      "alarmEmail",
      `cannot be combined with alarmTopicArn: subscribe the address to that topic, or leave alarmTopicArn ` +
        `empty for a topic of the stack's own.`,
    );
  }
  // A week: Batch keeps a RUNNABLE job forever, and CloudWatch evaluates an alarm over at most 7 days.
  checkRange(report, "runnableAlarmMinutes", c.runnableAlarmMinutes, 5, 10_080);
  checkRange(report, "recordFailedAlarmPercent", c.recordFailedAlarmPercent, 1, 100);
}

/** An EventBridge schedule: `rate(<n> <unit>)`, the unit singular for 1, or `cron(<6 fields>)`. */
function isScheduleExpression(expression: string): boolean {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    return value >= 1 && (value === 1) === !rate[2].endsWith("s");
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  return cron !== null && cron[1].trim().split(/\s+/).length === 6;
}

/**
 * The longest wait and how the monitor spends it. Every attempt of a job may run its full timeout; the
 * callback message (and its token) must outlive that, and the receives it takes must stay under the redrive
 * maxReceiveCount. Undefined when the schedule cannot be worked out (its problems are reported).
 */
function checkWaits(
  c: BridgeSettings,
  kinds: readonly JobKind[],
  report: Report,
): Pick<BridgeConfig, "pollSchedule" | "callbackMaxReceiveCount"> | undefined {
  for (const kind of kinds) {
    const longestJob = kind.jobTimeoutSeconds * kind.jobAttempts;
    if (c.maxWaitSeconds < longestJob) {
      const whose = kind.name === defaultJobKind ? "" : ` of job kind ${kind.name}`;
      report(
        "maxWaitSeconds",
        `must be at least jobTimeoutSeconds x jobAttempts${whose} (${longestJob} s) so a job that uses ` +
          `all its attempts is still awaited, got ${c.maxWaitSeconds}.`,
      );
    }
  }
  const retentionMargin = c.callbackVisibilityTimeoutSeconds + c.monitorTimeoutSeconds;
  if (c.maxWaitSeconds > messageRetentionSeconds - retentionMargin) {
    report(
      "maxWaitSeconds",
      `must be at most ${messageRetentionSeconds - retentionMargin} s: the 14-day message retention less one ` +
        `visibility timeout and one monitor run, so the step is answered before SQS deletes its token, ` +
        `got ${c.maxWaitSeconds}.`,
    );
  }
  // ChangeMessageVisibility accepts at most 12 hours.
  checkRange(report, "safetyNetCheckSeconds", c.safetyNetCheckSeconds, 1, 43200);
  if (c.safetyNetCheckSeconds >= 1 && c.safetyNetCheckSeconds < c.monitorTimeoutSeconds) {
    report(
      "safetyNetCheckSeconds",
      `must be at least monitorTimeoutSeconds (${c.monitorTimeoutSeconds}): the backup checks only cover ` +
        `lost events, and checking more often than one monitor run lasts is polling, ` +
        `got ${c.safetyNetCheckSeconds}.`,
    );
  }
  const pollSchedule = pollScheduleOf(c);
  const receives = countableSchedule(pollSchedule) ? checkPollSchedule(pollSchedule) : undefined;
  if (receives && receives.maxReceiveCount > maxReceiveCountLimit) {
    report(
      c.completionEvents ? "safetyNetCheckSeconds" : "callbackVisibilityTimeoutSeconds",
      `is too short for maxWaitSeconds (${c.maxWaitSeconds} s): waiting that long takes ` +
        `${receives.checks} checks and SQS moves a message to the dead-letter queue after at most ` +
        `${maxReceiveCountLimit} receives; raise it to at least ${receives.minimumMaxDelaySeconds} s or ` +
        `lower maxWaitSeconds.`,
    );
  }
  return receives && { pollSchedule, callbackMaxReceiveCount: receives.maxReceiveCount };
}

/** With completionEvents, a check every safetyNetCheckSeconds; polling alone doubles up to the timeout. */
function pollScheduleOf(c: BridgeSettings): PollSchedule {
  return c.completionEvents
    ? {
        initialDelaySeconds: c.safetyNetCheckSeconds,
        maxDelaySeconds: c.safetyNetCheckSeconds,
        maxWaitSeconds: c.maxWaitSeconds,
      }
    : {
        initialDelaySeconds: c.pollInitialDelaySeconds,
        maxDelaySeconds: c.callbackVisibilityTimeoutSeconds,
        maxWaitSeconds: c.maxWaitSeconds,
      };
}

/**
 * Receives can only be counted on a schedule of whole delays of at least 1 s and a wait SQS can hold (a
 * zero delay never ends the wait); anything else has been reported by the range checks.
 */
function countableSchedule(schedule: PollSchedule): boolean {
  return (
    [schedule.initialDelaySeconds, schedule.maxDelaySeconds, schedule.maxWaitSeconds].every(
      (n) => Number.isInteger(n) && n >= 1,
    ) && schedule.maxWaitSeconds <= messageRetentionSeconds
  );
}

function checkRange(
  report: Report,
  key: Parameters<Report>[0],
  value: number,
  min: number,
  max: number,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    report(key, `must be a whole number from ${min} to ${max}, got ${value}.`);
  }
}

/** A few values listed ("1024, 2048, 3072 or 4096"), a longer evenly spaced run as its range and step. */
function describeChoices(values: readonly number[]): string {
  const step = values[1] - values[0];
  const evenlySpaced = values.every((value, i) => value === values[0] + i * step);
  return values.length > 4 && evenlySpaced
    ? `${values[0]} to ${values.at(-1)} in steps of ${step}`
    : oneOf(values);
}

/** "a or b", "a, b or c". */
export function oneOf(values: readonly (string | number)[]): string {
  return values.length > 1 ? `${values.slice(0, -1).join(", ")} or ${values.at(-1)}` : String(values[0]);
}

function coerce(value: unknown, type: KeyType): unknown {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : undefined;
    case "integer":
    case "number": {
      const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : NaN;
      if (!Number.isFinite(n)) return undefined;
      return type === "integer" && !Number.isInteger(n) ? undefined : n;
    }
    case "boolean":
      if (typeof value === "boolean") return value;
      if (value === "true") return true;
      if (value === "false") return false;
      return undefined;
    case "array": {
      let parsed = value;
      if (typeof value === "string") {
        try {
          parsed = JSON.parse(value);
        } catch {
          return undefined;
        }
      }
      return Array.isArray(parsed) && parsed.every((s) => typeof s === "string") ? parsed : undefined;
    }
    case "object": {
      let parsed = value;
      if (typeof value === "string") {
        try {
          parsed = JSON.parse(value);
        } catch {
          return undefined;
        }
      }
      const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
      return isMap(parsed) && Object.values(parsed as object).every(isMap) ? parsed : undefined;
    }
  }
}

function describeType(type: KeyType): string {
  switch (type) {
    case "string":
      return "a string";
    case "integer":
      return "a whole number";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "array":
      return 'a JSON array of strings, e.g. ["a","b"]';
    case "object":
      return "a map of maps (in the stack file, e.g. gpu: {vcpu: 4, memoryMiB: 16384})";
  }
}
