/**
 * A program of two resources, rendered by the render cache's tests: what they check (keys, entries on
 * disk, claims) does not depend on what a program creates, and this one renders in a fraction of the time.
 */
import * as pulumi from "@pulumi/pulumi";

/** A resource of any AWS type: under the mock engine no provider package is needed to register one. */
class AwsResource extends pulumi.CustomResource {
  constructor(type: string, name: string, inputs: pulumi.Inputs) {
    super(type, name, inputs);
  }
}

const config = new pulumi.Config();

const queue = new AwsResource("aws:sqs/queue:Queue", "work", { name: config.require("queueName") });
new AwsResource("aws:cloudwatch/logGroup:LogGroup", "work-log", {
  name: "/small-program/work",
  retentionInDays: config.requireNumber("logRetentionDays"),
});

export const queueUrl = queue.id;
