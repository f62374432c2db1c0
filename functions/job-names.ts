/**
 * How an execution's jobs are named, so that both functions find them from the execution alone:
 * `<prefix>-<execution id>` for the array (or single) job and as the common prefix in jobs mode, where
 * shard i is `<prefix>-<execution id>-<i, 5 digits>`.
 */

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

/** The array job's name in array mode, the common prefix of the shards' names in jobs mode. */
export function executionJobName(jobNamePrefix: string, executionId: string): string {
  return `${jobNamePrefix}-${executionId}`;
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
  /** `<prefix>-<execution id>`: the status table's key. */
  executionJobName: string;
  executionId: string;
  /** jobs mode: the shard index from the name's 5-digit suffix. */
  shardIndex?: number;
}

/**
 * Reads a job name of this stack: `<prefix>-<execution id>` (array or single job; array children carry
 * their parent's name) or `<prefix>-<execution id>-<5-digit shard>` (jobs mode). Undefined for any
 * other name. Execution ids hold no hyphens, so the two forms cannot be confused.
 */
export function parseJobName(jobNamePrefix: string, jobName: string): NamedJob | undefined {
  if (!jobName.startsWith(`${jobNamePrefix}-`)) return undefined;
  const match = /^([A-Za-z0-9]{1,56})(?:-(\d{5}))?$/.exec(jobName.slice(jobNamePrefix.length + 1));
  if (!match) return undefined;
  return {
    executionJobName: executionJobName(jobNamePrefix, match[1]),
    executionId: match[1],
    ...(match[2] !== undefined ? { shardIndex: Number(match[2]) } : {}),
  };
}
