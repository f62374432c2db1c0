/**
 * A program of two resources, rendered by the render cache's tests: what they check (keys, entries on
 * disk, claims) does not depend on what a program creates, and this one renders in a fraction of the time.
 */
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();

const queue = new pulumi.CustomResource("aws:sqs/queue:Queue", "work", { name: config.require("queueName") });
new pulumi.CustomResource("aws:cloudwatch/logGroup:LogGroup", "work-log", {
  name: "/small-program/work",
  retentionInDays: config.requireNumber("logRetentionDays"),
});

export const queueUrl = queue.id;
