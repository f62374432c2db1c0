import { expect } from "chai";
import {
  flushEnvironment as writeFlushEnvironment,
  flushSettingsFromEnvironment,
  recordApiEnvironment as writeRecordApiEnvironment,
  recordApiSettingsFromEnvironment,
  recordStatusEnvironment as writeRecordStatusEnvironment,
  recordStatusSettingsFromEnvironment,
  type FlushSettings,
} from "../../../functions/records/settings";

const flushEnvironment = {
  RECORDS_TABLE: "batch-bridge-records",
  RECORDS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/batch-bridge-records",
  RECORDS_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/batch-bridge-records-dlq",
  RECORDS_RETENTION_DAYS: "30",
  RECORDS_PIPELINE_NAME: "batch-bridge",
  RECORDS_INPUT_URI_PREFIX: "s3://data-bucket/input/records/",
  RECORDS_OUTPUT_URI_PREFIX: "s3://data-bucket/output/records/",
  RECORDS_PER_SHARD: "100",
  RECORDS_BATCH_SIZE: "500",
};

describe("record functions' settings", () => {
  it("reads what the stack sets, typed", () => {
    expect(flushSettingsFromEnvironment(flushEnvironment)).to.deep.equal({
      table: "batch-bridge-records",
      queueUrl: flushEnvironment.RECORDS_QUEUE_URL,
      deadLetterQueueUrl: flushEnvironment.RECORDS_DEAD_LETTER_QUEUE_URL,
      retentionDays: 30,
      pipelineName: "batch-bridge",
      inputUriPrefix: "s3://data-bucket/input/records/",
      outputUriPrefix: "s3://data-bucket/output/records/",
      recordsPerShard: 100,
      batchSize: 500,
    });
    expect(recordApiSettingsFromEnvironment(flushEnvironment)).to.deep.equal({
      table: "batch-bridge-records",
      queueUrl: flushEnvironment.RECORDS_QUEUE_URL,
      retentionDays: 30,
    });
    expect(recordStatusSettingsFromEnvironment(flushEnvironment).outputUriPrefix).to.equal(
      "s3://data-bucket/output/records/",
    );
  });

  it("fails at the first invocation naming every variable missing or malformed", () => {
    expect(() =>
      flushSettingsFromEnvironment({
        ...flushEnvironment,
        RECORDS_TABLE: "",
        RECORDS_PER_SHARD: "0",
        RECORDS_INPUT_URI_PREFIX: "s3://data-bucket/input/records",
      }),
    ).to.throw(
      "Invalid function settings: RECORDS_TABLE must be set. " +
        'RECORDS_INPUT_URI_PREFIX must be an S3 URI prefix ending in "/", got "s3://data-bucket/input/records". ' +
        'RECORDS_PER_SHARD must be a whole number from 1 to 10000, got "0".',
    );
    expect(() => recordApiSettingsFromEnvironment({})).to.throw(
      "RECORDS_TABLE must be set. RECORDS_QUEUE_URL must be set. RECORDS_RETENTION_DAYS must be set.",
    );
  });
});

describe("record functions' settings written into the environment and read back", () => {
  const flushSettings: FlushSettings = {
    table: "batch-bridge-records",
    queueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-records",
    deadLetterQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-records-dlq",
    retentionDays: 3650,
    pipelineName: "batch-bridge",
    inputUriPrefix: "s3://data-bucket/input/records/",
    outputUriPrefix: "s3://data-bucket/output/records/",
    recordsPerShard: 1,
    batchSize: 10_000,
  };

  it("gives each record function back the settings the stack wrote", () => {
    expect(flushSettingsFromEnvironment(writeFlushEnvironment(flushSettings))).to.deep.equal(flushSettings);
    const api = { table: flushSettings.table, queueUrl: flushSettings.queueUrl, retentionDays: 1 };
    expect(recordApiSettingsFromEnvironment(writeRecordApiEnvironment(api))).to.deep.equal(api);
    const status = {
      table: flushSettings.table,
      retentionDays: 30,
      inputUriPrefix: flushSettings.inputUriPrefix,
      outputUriPrefix: flushSettings.outputUriPrefix,
    };
    expect(recordStatusSettingsFromEnvironment(writeRecordStatusEnvironment(status))).to.deep.equal(status);
  });
});
