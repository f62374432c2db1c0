import { expect } from "chai";
import { executionTagKey } from "../../functions/step-contract";
import { loadHandler } from "../../render/load-handler";
import { renderStack } from "../../render/render-stack";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";
import { iamReferenceProblems } from "../support/iam-reference";

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

/** IAM's StringLike: `*` matches any run of characters. */
function stringLike(pattern: string, value: string): boolean {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(value);
}

describe("job kinds and pipelines managed elsewhere, under the mock engine", () => {
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
        externalPipelineNames: JSON.stringify(["team-training"]),
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

  it("lets the functions answer and stop the steps of the external pipelines too, and of no other", async () => {
    const execution = (pipeline: string) => arn("sagemaker", `pipeline/${pipeline}/execution/abcdef123456`);
    for (const role of ["batch-bridge-monitor", "batch-bridge-job-event"]) {
      const answers = [statement(stack, role, "AnswerCallbackSteps").Resource].flat();
      expect(answers, role).to.deep.equal([
        arn("sagemaker", "pipeline/batch-bridge-dev/execution/*"),
        arn("sagemaker", "pipeline/team-training/execution/*"),
      ]);
    }
    for (const [role, sid] of [
      ["batch-bridge-submit", "SubmitTaggedJobs"],
      ["batch-bridge-monitor", "StopJobsOfExecution"],
      ["batch-bridge-job-event", "StopJobsOfExecution"],
    ]) {
      const patterns = Object.values(statement(stack, role, sid).Condition!.StringLike)[0];
      const tagged = (pipeline: string) => patterns.some((p) => stringLike(p, execution(pipeline)));
      expect([tagged("batch-bridge-dev"), tagged("team-training"), tagged("team-other")], role).to.deep.equal(
        [true, true, false],
      );
      expect(Object.keys(statement(stack, role, sid).Condition!.StringLike)[0]).to.contain(executionTagKey);
    }
    for (const role of ["batch-bridge-submit", "batch-bridge-monitor", "batch-bridge-job-event"]) {
      expect(await iamReferenceProblems(statementsOf(stack, role) as never), role).to.deep.equal([]);
    }
  });

  it("exports the submit function's ARN, the callback queue's URL and the policy an external pipeline's role needs", () => {
    const submit = named(stack, "aws:lambda/function:Function", "batch-bridge-submit");
    expect(stack.outputs.submitFunctionArn).to.equal(submit.state.arn);
    expect(stack.outputs.callbackQueueUrl).to.equal(
      `https://sqs.${region}.amazonaws.com/${account}/batch-bridge-dev-callbacks`,
    );
    expect(stack.outputs.pipelineRolePolicy).to.deep.equal({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "InvokeSubmitFunction",
          Effect: "Allow",
          Action: ["lambda:InvokeFunction"],
          Resource: submit.state.arn,
        },
        {
          Sid: "SendCallbackTokens",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: arn("sqs", "batch-bridge-dev-callbacks"),
        },
      ],
    });
  });
});
