/**
 * How an execution's jobs are named, so that both functions find them from the execution alone:
 * `<prefix>-<execution id>` for the array (or single) job and as the common prefix in jobs mode, where
 * shard i is `<prefix>-<execution id>-<i, 5 digits>`, and how they are tagged with the execution. A named
 * bridge step's jobs carry `_<step key>` after the execution id, so that the bridge steps of one execution
 * never share jobs.
 */
import { createHash } from "node:crypto";

/** The execution ARN's parts: `arn:<partition>:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>`. */
export interface PipelineExecution {
  pipelineName: string;
  executionId: string;
}

/** The pipeline name and execution id, or undefined when `arn` is not a pipeline execution ARN. */
export function parseExecutionArn(arn: string): PipelineExecution | undefined {
  const match =
    /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:pipeline\/([A-Za-z0-9-]{1,256})\/execution\/([A-Za-z0-9]{1,56})$/.exec(
      arn,
    );
  return match ? { pipelineName: match[1], executionId: match[2] } : undefined;
}

/** Batch tag values hold at most 256 characters (Batch User Guide, "Tag restrictions"). */
export const tagValueLimit = 256;
/** The longest execution id `parseExecutionArn` accepts. */
const longestExecutionId = 56;
const executionSegment = "/execution/";
/** The longest pipeline part that leaves room for `/execution/<id>` within a tag value. */
const longestPipelinePart = tagValueLimit - executionSegment.length - longestExecutionId;

/**
 * The execution tag's value: the execution ARN when it fits in a tag value, else the ARN with its
 * pipeline part bounded (see `boundedPipelineArn`). Either way it ends `/execution/<id>`, and two
 * executions, of one pipeline or of two, never share a value.
 */
export function executionTagValue(executionArn: string): string {
  if (executionArn.length <= tagValueLimit) return executionArn;
  const at = executionArn.lastIndexOf(executionSegment);
  return `${boundedPipelineArn(executionArn.slice(0, at))}${executionArn.slice(at)}`;
}

/**
 * Every value the execution tag of `pipelineArn`'s executions can take, as IAM `StringLike` patterns
 * (the ARN's own form, and the bounded one of ARNs too long for a tag value): the one place that knows
 * both, so the roles' tag conditions and the tags the submit function writes cannot drift apart.
 */
export function executionTagPatterns(pipelineArn: string): string[] {
  return [...new Set([pipelineArn, boundedPipelineArn(pipelineArn)])].map(
    (pipelinePart) => `${pipelinePart}${executionSegment}*`,
  );
}

/**
 * The pipeline ARN when it leaves room for any execution id in a tag value; else its head and a hash of
 * the whole ARN (`.` never occurs in a pipeline name, so the form cannot be taken for a real pipeline's).
 */
function boundedPipelineArn(pipelineArn: string): string {
  if (pipelineArn.length <= longestPipelinePart) return pipelineArn;
  const hash = createHash("sha256").update(pipelineArn).digest("hex").slice(0, 16);
  return `${pipelineArn.slice(0, longestPipelinePart - hash.length - 1)}.${hash}`;
}

/**
 * A step's key in its jobs' names: 8 hex digits of a hash of the step's name (SageMaker step names may hold
 * hyphens and underscores, which a job name could not be read back through, and up to 64 characters).
 */
export function stepKey(stepName: string): string {
  return createHash("sha256").update(stepName).digest("hex").slice(0, 8);
}

/**
 * The array job's name in array mode, the common prefix of the shards' names in jobs mode:
 * `<prefix>-<execution id>`, and `_<step key>` after it for a named step.
 */
export function executionJobName(jobNamePrefix: string, executionId: string, stepName?: string): string {
  return `${jobNamePrefix}-${executionId}${stepName === undefined ? "" : `_${stepKey(stepName)}`}`;
}

/** Shard numbers are 0-based and written with 5 digits (up to 10,000 shards: 00000-09999). */
export function shardNumber(shardIndex: number): string {
  return String(shardIndex).padStart(5, "0");
}

/** Shard `shardIndex`'s job name in jobs mode. */
export function shardJobName(baseName: string, shardIndex: number): string {
  return `${baseName}-${shardNumber(shardIndex)}`;
}

/** The shard index a jobs-mode job name stands for, or undefined for any other name. */
export function shardIndexFromJobName(baseName: string, jobName: string): number | undefined {
  if (!jobName.startsWith(`${baseName}-`)) return undefined;
  const suffix = jobName.slice(baseName.length + 1);
  return /^\d{5}$/.test(suffix) ? Number(suffix) : undefined;
}

/** `<prefix>/<file>`, with exactly one slash between them. */
export function joinUri(prefix: string, file: string): string {
  return `${prefix.replace(/\/+$/, "")}/${file}`;
}

/**
 * Shard `shardIndex`'s folder under `uri` in jobs mode, `<uri>/shard-<i, 5 digits>/`: a prefix, like the
 * whole input of array mode, so one container command (`s3 cp --recursive`) serves both modes.
 */
export function shardUri(uri: string, shardIndex: number): string {
  return `${joinUri(uri, `shard-${shardNumber(shardIndex)}`)}/`;
}

/** What a job's name says: the execution's job name, and in jobs mode the shard. */
export interface NamedJob {
  /** `<prefix>-<execution id>`, with `_<step key>` for a named step: the status table's key. */
  executionJobName: string;
  executionId: string;
  /** jobs mode: the shard index from the name's 5-digit suffix. */
  shardIndex?: number;
}

/**
 * Reads a job name of this stack: `<prefix>-<execution id>` (array or single job; array children carry
 * their parent's name) or `<prefix>-<execution id>-<5-digit shard>` (jobs mode), either with `_<step key>`
 * after the execution id for a named step. Undefined for any other name. Execution ids hold no hyphens or
 * underscores, so the forms cannot be confused.
 */
export function parseJobName(jobNamePrefix: string, jobName: string): NamedJob | undefined {
  if (!jobName.startsWith(`${jobNamePrefix}-`)) return undefined;
  const match = /^([A-Za-z0-9]{1,56})(_[0-9a-f]{8})?(?:-(\d{5}))?$/.exec(
    jobName.slice(jobNamePrefix.length + 1),
  );
  if (!match) return undefined;
  return {
    executionJobName: `${executionJobName(jobNamePrefix, match[1])}${match[2] ?? ""}`,
    executionId: match[1],
    ...(match[3] !== undefined ? { shardIndex: Number(match[3]) } : {}),
  };
}

/**
 * The log group the stack's job definitions send their containers' logs to (awslogs driver): one group for
 * every kind of job, named after the default job definition.
 */
export function jobLogGroupName(jobDefinitionName: string): string {
  return `/aws/batch/${jobDefinitionName}`;
}
