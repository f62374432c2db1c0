import { expect } from "chai";
import {
  cleanupEnvironment as writeCleanupEnvironment,
  cleanupSettingsFromEnvironment,
  jobEventEnvironment as writeJobEventEnvironment,
  jobEventSettingsFromEnvironment,
  monitorEnvironment as writeMonitorEnvironment,
  monitorSettingsFromEnvironment,
  submitEnvironment as writeSubmitEnvironment,
  submitSettingsFromEnvironment,
  type MonitorSettings,
  type SubmitSettings,
} from "../../functions/settings";
import { parseConfig } from "../../infra/config";
import { environmentVariables as v } from "../../functions/step-contract";

const submitEnvironment = {
  [v.jobQueue]: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
  [v.jobDefinition]: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:3",
  [v.jobNamePrefix]: "batch-bridge",
  [v.submitMode]: "jobs",
  [v.inputUriPrefix]: "s3://data-bucket/input/",
  [v.outputUriPrefix]: "s3://data-bucket/output/",
  [v.statusTable]: "batch-bridge-executions",
  [v.cleanupQueueUrl]: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-cleanup",
};

const monitorEnvironment = {
  [v.jobQueue]: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
  [v.jobNamePrefix]: "batch-bridge",
  [v.callbackQueueUrl]: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
  [v.deadLetterQueueUrl]: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks-dlq",
  [v.pollInitialDelaySeconds]: "10",
  [v.pollMaxDelaySeconds]: "1800",
  [v.maxWaitSeconds]: "604800",
  [v.maxReceiveCount]: "369",
};

function errorOf(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
}

describe("function settings", () => {
  it("reads the submit settings the stack sets", () => {
    expect(submitSettingsFromEnvironment(submitEnvironment)).to.deep.equal({
      jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
      jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:3",
      jobNamePrefix: "batch-bridge",
      submitMode: "jobs",
      inputUriPrefix: "s3://data-bucket/input/",
      outputUriPrefix: "s3://data-bucket/output/",
      statusTable: "batch-bridge-executions",
      cleanupQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-cleanup",
    });
  });

  it("reads the stack's other job kinds, each with its job definition and submit mode", () => {
    const embed = "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job-embed:1";
    const settings = submitSettingsFromEnvironment({
      ...submitEnvironment,
      [v.jobKinds]: JSON.stringify({ embed: { jobDefinition: embed, submitMode: "array" } }),
    });
    expect(settings.jobKinds).to.deep.equal({ embed: { jobDefinition: embed, submitMode: "array" } });
  });

  it("names a job kind the function could not submit", () => {
    const message = errorOf(() =>
      submitSettingsFromEnvironment({
        ...submitEnvironment,
        [v.jobKinds]: JSON.stringify({ embed: { jobDefinition: "", submitMode: "batch" } }),
      }),
    );
    expect(message).to.equal(
      'Invalid function settings: BRIDGE_JOB_KINDS kind "embed" must have a jobDefinition and a submitMode ' +
        '"array" or "jobs" (and not be named default), got {"jobDefinition":"","submitMode":"batch"}.',
    );
    expect(
      errorOf(() => submitSettingsFromEnvironment({ ...submitEnvironment, [v.jobKinds]: "[1]" })),
    ).to.contain("BRIDGE_JOB_KINDS must be a JSON object of job kinds");
  });

  it("reads the monitor settings, with the poll schedule as numbers", () => {
    expect(monitorSettingsFromEnvironment(monitorEnvironment)).to.deep.equal({
      jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
      jobNamePrefix: "batch-bridge",
      callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
      deadLetterQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks-dlq",
      pollSchedule: { initialDelaySeconds: 10, maxDelaySeconds: 1800, maxWaitSeconds: 604800 },
      maxReceiveCount: 369,
    });
  });

  it("reads the status table when it is set, and leaves the monitor to polling when it is not", () => {
    expect(monitorSettingsFromEnvironment(monitorEnvironment)).to.not.have.property("statusTable");
    expect(
      monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.statusTable]: " " }),
    ).to.not.have.property("statusTable");
    expect(
      monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.statusTable]: "batch-bridge-status" })
        .statusTable,
    ).to.equal("batch-bridge-status");
    expect(
      errorOf(() => monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.statusTable]: "a/b" })),
    ).to.contain(
      `${v.statusTable} must be a DynamoDB table name (3-255 letters, digits, "_", "-", "."), got "a/b"`,
    );
  });

  it("reads the job-event settings, and names each one missing", () => {
    expect(
      jobEventSettingsFromEnvironment({
        [v.jobQueue]: monitorEnvironment[v.jobQueue],
        [v.jobNamePrefix]: "batch-bridge",
        [v.statusTable]: "batch-bridge-status",
        [v.callbackQueueUrl]: monitorEnvironment[v.callbackQueueUrl],
      }),
    ).to.deep.equal({
      jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
      jobNamePrefix: "batch-bridge",
      statusTable: "batch-bridge-status",
      callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
    });
    const message = errorOf(() => jobEventSettingsFromEnvironment({}));
    for (const name of [v.jobQueue, v.jobNamePrefix, v.statusTable, v.callbackQueueUrl]) {
      expect(message).to.contain(`${name} must be set`);
    }
  });

  it("names every missing variable", () => {
    const message = errorOf(() => submitSettingsFromEnvironment({}));
    for (const name of [v.jobQueue, v.jobDefinition, v.jobNamePrefix, v.submitMode, v.inputUriPrefix]) {
      expect(message).to.contain(`${name} must be set`);
    }
  });

  it("names a bad value and what is allowed", () => {
    expect(
      errorOf(() => submitSettingsFromEnvironment({ ...submitEnvironment, [v.submitMode]: "batch" })),
    ).to.contain(`${v.submitMode} must be "array" or "jobs", got "batch"`);
    expect(
      errorOf(() =>
        submitSettingsFromEnvironment({ ...submitEnvironment, [v.inputUriPrefix]: "s3://data-bucket/in" }),
      ),
    ).to.contain(`${v.inputUriPrefix} must be an S3 URI prefix ending in "/"`);
    expect(
      errorOf(() => submitSettingsFromEnvironment({ ...submitEnvironment, [v.jobNamePrefix]: "has space" })),
    ).to.contain(`${v.jobNamePrefix} must be 1-64 letters, digits, hyphens and underscores`);
    expect(
      errorOf(() => monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.maxReceiveCount]: "1001" })),
    ).to.contain(`${v.maxReceiveCount} must be a whole number from 2 to 1000, got "1001"`);
    expect(
      errorOf(() =>
        monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.callbackQueueUrl]: "callbacks" }),
      ),
    ).to.contain(`${v.callbackQueueUrl} must be an SQS queue URL`);
  });

  it("rejects a poll schedule whose longest delay is shorter than its first", () => {
    const message = errorOf(() =>
      monitorSettingsFromEnvironment({ ...monitorEnvironment, [v.pollMaxDelaySeconds]: "5" }),
    );
    expect(message).to.contain(
      `${v.pollMaxDelaySeconds} must be at least ${v.pollInitialDelaySeconds} (10), got 5`,
    );
  });
});

describe("function settings written into the environment and read back", () => {
  const submitSettings: SubmitSettings = {
    jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
    jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:3",
    jobNamePrefix: "batch-bridge",
    submitMode: "jobs",
    inputUriPrefix: "s3://data-bucket/input/",
    outputUriPrefix: "s3://data-bucket/output/",
    statusTable: "batch-bridge-executions",
    cleanupQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-cleanup",
  };
  const monitorSettings: MonitorSettings = {
    jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
    jobNamePrefix: "batch-bridge",
    callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
    deadLetterQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks-dlq",
    pollSchedule: { initialDelaySeconds: 10, maxDelaySeconds: 1800, maxWaitSeconds: 604800 },
    maxReceiveCount: 369,
  };

  it("gives each function back the settings the stack wrote", () => {
    const gpu = {
      jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/gpu:1",
      submitMode: "array",
    };
    for (const settings of [submitSettings, { ...submitSettings, jobKinds: { gpu } } as SubmitSettings]) {
      expect(submitSettingsFromEnvironment(writeSubmitEnvironment(settings))).to.deep.equal(settings);
    }
    for (const settings of [
      monitorSettings,
      { ...monitorSettings, statusTable: "batch-bridge-executions" },
    ]) {
      expect(monitorSettingsFromEnvironment(writeMonitorEnvironment(settings))).to.deep.equal(settings);
    }
    const jobEvent = {
      jobQueue: monitorSettings.jobQueue,
      jobNamePrefix: "batch-bridge",
      statusTable: "batch-bridge-executions",
      callbackQueueUrl: monitorSettings.callbackQueueUrl,
    };
    expect(jobEventSettingsFromEnvironment(writeJobEventEnvironment(jobEvent))).to.deep.equal(jobEvent);
    const cleanup = {
      jobQueue: monitorSettings.jobQueue,
      jobNamePrefix: "batch-bridge",
      cleanupQueueUrl: submitSettings.cleanupQueueUrl,
    };
    expect(cleanupSettingsFromEnvironment(writeCleanupEnvironment(cleanup))).to.deep.equal(cleanup);
  });

  it("reads back the poll schedule and receive limit of every stack config at the ends of its ranges", () => {
    const configs = [
      { completionEvents: "false", pollInitialDelaySeconds: "1", callbackVisibilityTimeoutSeconds: "43200" },
      { completionEvents: "false", pollInitialDelaySeconds: "900", callbackVisibilityTimeoutSeconds: "900" },
      { completionEvents: "true", safetyNetCheckSeconds: "43200" },
      { completionEvents: "true", safetyNetCheckSeconds: "900", maxWaitSeconds: "10800" },
    ];
    for (const raw of configs) {
      const config = parseConfig(raw);
      const settings = {
        ...monitorSettings,
        pollSchedule: config.pollSchedule,
        maxReceiveCount: config.callbackMaxReceiveCount,
      };
      expect(
        monitorSettingsFromEnvironment(writeMonitorEnvironment(settings)),
        JSON.stringify(raw),
      ).to.deep.equal(settings);
    }
  });
});
