/**
 * The list prices the bench's cost estimates use: us-east-1, Linux/x86, on demand, free tiers aside, as the
 * AWS pricing pages showed them (https://aws.amazon.com/fargate/pricing/,
 * https://aws.amazon.com/sagemaker/pricing/, Batch Transform). They change: check them for your region.
 */

export const priceRegion = "us-east-1";
/**
 * When the prices below were read from the pricing pages. Checked again in December 2026 against what could
 * be read without the AWS pages themselves: the Fargate figures match third-party copies of the us-east-1
 * Linux/x86 rates (vantage.sh "AWS Fargate Pricing Explained", wring.co "AWS Fargate Pricing", March 2026:
 * $0.04048 per vCPU-hour, $0.004445 per GB-hour); the Batch Transform figures could not be confirmed (the
 * pages found disagree with each other, e.g. ml.m5.xlarge at about $0.115 or $0.135, and none is AWS's), so
 * the printed assumptions keep saying to check them.
 */
export const pricesTaken = "2025";

/** Fargate, per second with a one-minute minimum, from the start of the image pull to the task's end. */
export const fargatePrices = { vcpuHour: 0.04048, gbHour: 0.004445 };

/** Fargate's minimum billed time per task. */
export const fargateMinimumSeconds = 60;

/**
 * SageMaker Batch Transform, per instance-hour, billed per second from the job's instances being
 * provisioned to its end.
 */
export const transformInstanceHourPrices: Readonly<Record<string, number>> = {
  "ml.m5.large": 0.115,
  "ml.m5.xlarge": 0.23,
  "ml.m5.2xlarge": 0.461,
  "ml.m5.4xlarge": 0.922,
  "ml.c5.xlarge": 0.204,
  "ml.c5.2xlarge": 0.408,
};

/** The lines that state the prices, for a table's assumptions. */
export function priceAssumptions(): string[] {
  const instances = Object.entries(transformInstanceHourPrices).map(([type, price]) => `${type} $${price}`);
  return [
    `List prices in ${priceRegion}, on demand, from the AWS pricing pages (${pricesTaken}; check them):`,
    `  Fargate $${fargatePrices.vcpuHour} per vCPU-hour and $${fargatePrices.gbHour} per GB-hour, per second, ` +
      `${fargateMinimumSeconds} s minimum;`,
    `  Batch Transform per instance-hour: ${instances.slice(0, 3).join(", ")},`,
    `  ${instances.slice(3).join(", ")}.`,
  ];
}
