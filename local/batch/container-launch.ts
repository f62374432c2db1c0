/**
 * What a job's container starts with on Fargate: the job definition's command with its `Ref::` placeholders
 * filled in (the submission's parameters over the definition's defaults), and the environment made of the
 * definition's variables, the submission's overrides, and the variables AWS sets:
 * - Batch: `AWS_BATCH_JOB_ID`, `AWS_BATCH_JOB_ATTEMPT` (from 1), `AWS_BATCH_JQ_NAME`, `AWS_BATCH_CE_NAME`,
 *   and in array children `AWS_BATCH_JOB_ARRAY_INDEX` and `AWS_BATCH_JOB_ARRAY_SIZE`
 *   (https://docs.aws.amazon.com/batch/latest/userguide/job_env_vars.html; the multi-node and EKS ones do
 *   not apply to Fargate container jobs);
 * - ECS on Fargate: `AWS_EXECUTION_ENV=AWS_ECS_FARGATE`, `AWS_REGION`, `AWS_DEFAULT_REGION`
 *   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-environment-variables.html). The task
 *   role's credentials endpoint and the metadata endpoints are not served locally.
 */
import type { Job } from "./job-record";
import type { ContainerLaunch, JobDefinitionSettings } from "./scenario";

/** The launch of `job`'s next attempt. */
export function containerLaunch(
  job: Job,
  definition: JobDefinitionSettings | undefined,
  place: { region: string; jobQueueName: string; computeEnvironmentName: string },
): ContainerLaunch {
  const parameters = { ...definition?.parameters, ...job.spec.parameters };
  const command = job.spec.command ?? definition?.container?.command ?? [];
  const environment: Record<string, string> = { ...definition?.container?.environment };
  for (const { name, value } of job.spec.environment) if (name) environment[name] = value ?? "";
  Object.assign(environment, {
    AWS_EXECUTION_ENV: "AWS_ECS_FARGATE",
    AWS_REGION: place.region,
    AWS_DEFAULT_REGION: place.region,
    AWS_BATCH_JOB_ID: job.jobId,
    AWS_BATCH_JOB_ATTEMPT: String(job.attempts.length + 1),
    AWS_BATCH_JQ_NAME: place.jobQueueName,
    AWS_BATCH_CE_NAME: place.computeEnvironmentName,
  });
  if (job.parent?.array && job.arrayIndex !== undefined) {
    environment.AWS_BATCH_JOB_ARRAY_INDEX = String(job.arrayIndex);
    environment.AWS_BATCH_JOB_ARRAY_SIZE = String(job.parent.array.size);
  }
  return {
    jobId: job.jobId,
    jobName: job.spec.jobName,
    arrayIndex: job.arrayIndex,
    attempt: job.attempts.length + 1,
    command: command.map((argument) => resolveRefs(argument, parameters)),
    environment,
  };
}

/**
 * Replaces each `Ref::<name>` of a known parameter with its value, anywhere in the argument (so that
 * `sh -c "tool --shard Ref::shardIndex"` works); a placeholder of no parameter stays as it is, as in Batch.
 * Longer names are tried first: with parameters `inputUri` and `inputUriList`, `Ref::inputUriList` is the latter.
 */
export function resolveRefs(argument: string, parameters: Record<string, string>): string {
  const names = Object.keys(parameters).sort((a, b) => b.length - a.length);
  if (names.length === 0) return argument;
  const pattern = new RegExp(`Ref::(${names.map(escapeRegExp).join("|")})`, "g");
  return argument.replace(pattern, (_match, name: string) => parameters[name]);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
