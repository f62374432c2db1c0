/**
 * The AWS limits the settings are checked against, each with where it comes from.
 */

/** Fargate vCPU values and, for each, the memory (MiB) Batch accepts: min, max and step. */
export const fargateMemoryByVcpu: Record<string, { min: number; max: number; step: number }> = {
  "0.25": { min: 512, max: 2048, step: 512 },
  "0.5": { min: 1024, max: 4096, step: 1024 },
  "1": { min: 2048, max: 8192, step: 1024 },
  "2": { min: 4096, max: 16384, step: 1024 },
  "4": { min: 8192, max: 30720, step: 1024 },
  "8": { min: 16384, max: 61440, step: 4096 },
  "16": { min: 32768, max: 122880, step: 8192 },
};

/** CloudWatch Logs accepts only these retention periods. */
export const logRetentionDaysAllowed = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** SQS keeps a message at most 14 days; the callback queue and its dead-letter queue keep them that long. */
export const messageRetentionSeconds = 14 * 24 * 3600;

/** SQS allows a redrive maxReceiveCount of at most 1,000. */
export const maxReceiveCountLimit = 1000;
