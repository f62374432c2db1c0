/**
 * The AWS limits the settings are checked against, each with where it comes from.
 */

/**
 * The memory (MiB) a Fargate job may have for each vCPU value, from the AWS Batch API Reference,
 * ResourceRequirement (type VCPU, jobs on Fargate resources):
 * https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
 * That table also lists 32 vCPU (61440, 122880 or 249856 MiB), which the Fargate task sizes of the Amazon
 * ECS Developer Guide do not offer (16 vCPU and 120 GiB at most): 16 is the largest here.
 */
export const fargateMemoryMiBByVcpu: Readonly<Record<string, readonly number[]>> = {
  "0.25": [512, 1024, 2048],
  "0.5": inSteps(1024, 4096, 1024),
  "1": inSteps(2048, 8192, 1024),
  "2": inSteps(4096, 16384, 1024),
  "4": inSteps(8192, 30720, 1024),
  "8": inSteps(16384, 61440, 4096),
  "16": inSteps(32768, 122880, 8192),
};

function inSteps(first: number, last: number, step: number): number[] {
  return Array.from({ length: (last - first) / step + 1 }, (_, i) => first + i * step);
}

/** CloudWatch Logs accepts only these retention periods. */
export const logRetentionDaysAllowed = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** SQS keeps a message at most 14 days; the callback queue and its dead-letter queue keep them that long. */
export const messageRetentionSeconds = 14 * 24 * 3600;

/** SQS allows a redrive maxReceiveCount of at most 1,000. */
export const maxReceiveCountLimit = 1000;

/** Lambda allows 4 KB of environment variables per function (Lambda quotas: "Environment variables"). */
export const lambdaEnvironmentBytesLimit = 4096;
