import { expect } from "chai";
import { loadHandler } from "../../render/archives";
import { renderStack } from "../../render/render-stack";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";

const account = "123456789012";
const region = "us-east-1";
const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;
const embedImage = `${account}.dkr.ecr.${region}.amazonaws.com/team/embedder:2.1`;

function named(stack: RenderedStack, type: string, name: string): RenderedResource {
  const found = stack.resources.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).to.have.length(1);
  return found[0];
}

function statementsOf(stack: RenderedStack, role: string): { Sid: string; Resource: string | string[] }[] {
  return JSON.parse(named(stack, "aws:iam/rolePolicy:RolePolicy", role).inputs.policy as string).Statement;
}

function statement(stack: RenderedStack, role: string, sid: string) {
  const found = statementsOf(stack, role).find((s) => s.Sid === sid);
  expect(found, `${role} ${sid}`).to.not.equal(undefined);
  return found as {
    Sid: string;
    Resource: string | string[];
    Condition?: Record<string, Record<string, string[]>>;
  };
}

describe("job kinds, under the mock engine", () => {
  let stack: RenderedStack;
  before(async () => {
    stack = await renderStack({
      stack: "dev",
      config: {
        jobKinds: JSON.stringify({
          embed: {
            image: embedImage,
            vcpu: 4,
            memoryMiB: 16384,
            jobTimeoutSeconds: 7200,
            submitMode: "jobs",
            environment: { MODEL: "small" },
          },
        }),
      },
    });
  });

  const jobDefinition = (name: string) => named(stack, "aws:batch/jobDefinition:JobDefinition", name);
  const container = (name: string) => JSON.parse(jobDefinition(name).inputs.containerProperties as string);

  it("gives each kind its own job definition, with its fields and the top-level keys for the rest", () => {
    expect(jobDefinition("batch-bridge-job").inputs.name).to.equal("batch-bridge-dev-job");
    expect(jobDefinition("batch-bridge-job-embed").inputs).to.deep.include({
      name: "batch-bridge-dev-job-embed",
      timeout: { attemptDurationSeconds: 7200 },
    });
    expect(jobDefinition("batch-bridge-job-embed").inputs.retryStrategy).to.deep.include({ attempts: 3 });
    expect(container("batch-bridge-job-embed")).to.deep.include({
      image: embedImage,
      command: ["s3", "cp", "--recursive", "Ref::inputUri", "Ref::outputUri"],
      resourceRequirements: [
        { type: "VCPU", value: "4" },
        { type: "MEMORY", value: "16384" },
      ],
      environment: [{ name: "MODEL", value: "small" }],
    });
    // The default kind keeps the top-level keys (Pulumi.dev.yaml: 0.5 vCPU, 1024 MiB) and no variables.
    expect(container("batch-bridge-job").resourceRequirements).to.deep.equal([
      { type: "VCPU", value: "0.5" },
      { type: "MEMORY", value: "1024" },
    ]);
    expect(container("batch-bridge-job")).to.not.have.property("environment");
    expect(container("batch-bridge-job-embed").logConfiguration.options["awslogs-stream-prefix"]).to.equal(
      "embed",
    );
  });

  it("tells the submit function the other kinds' job definitions and submit modes", () => {
    const submit = stack.functions.find((f) => f.name === "batch-bridge-submit")!;
    expect(JSON.parse(submit.environment.BRIDGE_JOB_KINDS)).to.deep.equal({
      embed: {
        jobDefinition: arn("batch", "job-definition/batch-bridge-dev-job-embed:1"),
        submitMode: "jobs",
      },
    });
  });

  it("deploys a submit function that refuses a kind the stack does not declare, naming JobKind's allowed values", async () => {
    const submit = stack.functions.find((f) => f.name === "batch-bridge-submit")!;
    const handler = loadHandler(submit, { AWS_REGION: region, POWERTOOLS_LOG_LEVEL: "SILENT" }) as (
      event: unknown,
    ) => Promise<unknown>;
    const bucket = String(stack.outputs.dataBucketName);
    const error = await handler({
      executionArn: arn("sagemaker", "pipeline/batch-bridge-dev/execution/abcdef123456"),
      inputUri: `s3://${bucket}/input/`,
      outputUri: `s3://${bucket}/output/`,
      shardCount: "2",
      jobKind: "gpu",
    }).then(
      () => expect.fail("the handler accepted an undeclared kind"),
      (e: Error) => e,
    );
    expect(error.message).to.contain(
      `jobKind must be "default" or "embed" (the stack's job kinds), got "gpu"`,
    );
  });

  it("lets the submit function submit to every kind's job definition and to no other", () => {
    expect(statement(stack, "batch-bridge-submit", "SubmitTaggedJobs").Resource).to.deep.equal([
      arn("batch", "job-queue/batch-bridge-dev-jobs"),
      arn("batch", "job-definition/batch-bridge-dev-job"),
      arn("batch", "job-definition/batch-bridge-dev-job:*"),
      arn("batch", "job-definition/batch-bridge-dev-job-embed"),
      arn("batch", "job-definition/batch-bridge-dev-job-embed:*"),
      arn("batch", "job/*"),
    ]);
  });

  it("lets the jobs pull each kind's private ECR image", () => {
    expect(statement(stack, "batch-bridge-batch-execution", "PullJobImage").Resource).to.equal(
      arn("ecr", "repository/team/embedder"),
    );
  });
});
