import { expect } from "chai";
import { parseConfig } from "../../infra/config";

/** The message parseConfig rejects these raw values (as `pulumi config` stores them) with. */
function configError(raw: Record<string, string>): string {
  try {
    parseConfig(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(raw)}`);
}

const key = (name: string) => `sagemaker-batch-bridge:${name}`;

describe("stack configuration of the records front door", () => {
  it("is off by default, with batches of 100 records or 60 s, 100 records a shard, kept 30 days", () => {
    const config = parseConfig({});
    expect(config).to.deep.include({
      recordApi: false,
      recordBatchSize: 100,
      recordBatchWindowSeconds: 60,
      recordTrigger: "batch",
      recordScheduleExpression: "rate(1 hour)",
      recordsPerShard: 100,
      recordRetentionDays: 30,
      apiRateLimit: 100,
      apiBurstLimit: 200,
      apiQuotaPerDay: 1000000,
    });
  });

  it("holds batches to what a Lambda event source mapping takes: 1-10,000 records, a 0-300 s window", () => {
    expect(configError({ recordBatchSize: "10001" })).to.include(
      `${key("recordBatchSize")} must be a whole number from 1 to 10000, got 10001.`,
    );
    expect(configError({ recordBatchSize: "0" })).to.include(
      `${key("recordBatchSize")} must be a whole number`,
    );
    expect(configError({ recordBatchWindowSeconds: "301" })).to.include(
      `${key("recordBatchWindowSeconds")} must be a whole number from 0 to 300, got 301.`,
    );
    expect(
      parseConfig({ recordBatchSize: "10000", recordBatchWindowSeconds: "300" }).recordBatchSize,
    ).to.equal(10000);
  });

  it("needs a batching window of at least 1 s for batches over 10 records, as Lambda does", () => {
    expect(configError({ recordBatchSize: "11", recordBatchWindowSeconds: "0" })).to.include(
      `${key("recordBatchWindowSeconds")} must be at least 1 when recordBatchSize is over 10`,
    );
    expect(
      parseConfig({ recordBatchSize: "10", recordBatchWindowSeconds: "0" }).recordBatchWindowSeconds,
    ).to.equal(0);
    // A schedule forms its batches itself: the window does not apply.
    expect(
      parseConfig({ recordTrigger: "schedule", recordBatchSize: "500", recordBatchWindowSeconds: "0" })
        .recordTrigger,
    ).to.equal("schedule");
  });

  it("takes batch or schedule as the trigger, and EventBridge's rate() or cron() as the schedule", () => {
    expect(configError({ recordTrigger: "hourly" })).to.include(
      `${key("recordTrigger")} must be batch or schedule, got "hourly".`,
    );
    for (const expression of [
      "rate(1 hours)",
      "rate(2 hour)",
      "rate(0 minutes)",
      "every hour",
      "cron(0 * * *)",
    ]) {
      expect(configError({ recordScheduleExpression: expression }), expression).to.include(
        `${key("recordScheduleExpression")} must be an EventBridge schedule`,
      );
    }
    for (const expression of ["rate(1 minute)", "rate(15 minutes)", "rate(1 day)", "cron(0 12 * * ? *)"]) {
      expect(parseConfig({ recordScheduleExpression: expression }).recordScheduleExpression).to.equal(
        expression,
      );
    }
  });

  it("keeps the usage plan within API Gateway's account throttle and the shard size within a batch job's", () => {
    expect(configError({ apiRateLimit: "0" })).to.include(
      `${key("apiRateLimit")} must be a whole number from 1 to 10000`,
    );
    expect(configError({ apiBurstLimit: "5001" })).to.include(
      `${key("apiBurstLimit")} must be a whole number from 1 to 5000, got 5001.`,
    );
    expect(configError({ apiQuotaPerDay: "0" })).to.include(
      `${key("apiQuotaPerDay")} must be a whole number`,
    );
    expect(configError({ recordsPerShard: "0" })).to.include(
      `${key("recordsPerShard")} must be a whole number from 1`,
    );
    expect(configError({ recordRetentionDays: "0" })).to.include(
      `${key("recordRetentionDays")} must be a whole number from 1 to 3650, got 0.`,
    );
  });

  it("names the table and queues as DynamoDB and SQS allow, apart from the bridge's own", () => {
    expect(configError({ recordTableName: "r" })).to.include(
      `${key("recordTableName")} must be 3-255 letters`,
    );
    expect(configError({ recordQueueName: "q".repeat(70) })).to.include(
      `${key("recordQueueName")} must be 1-69 letters, digits, hyphens and underscores (so that "<name>-status-dlq"`,
    );
    expect(configError({ recordApi: "true", recordTableName: "batch-bridge-executions" })).to.include(
      `${key("recordTableName")} must differ from statusTableName ("batch-bridge-executions").`,
    );
    expect(configError({ recordApi: "true", recordQueueName: "batch-bridge-callbacks-dlq" })).to.include(
      `${key("recordQueueName")} must differ from callbackQueueName ("batch-bridge-callbacks")`,
    );
  });
});
