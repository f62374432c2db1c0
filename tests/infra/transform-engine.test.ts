import { expect } from "chai";
import { planPipelineDefinition } from "../../infra/batch-bridge-steps";
import { ConfigError, parseConfig } from "../../infra/config";
import { transformDataProcessing } from "../../infra/transform-step";
import { renderStack } from "../../render/render-stack";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";
import { iamReferenceProblems } from "../support/iam-reference";
import { compileSchema, relaxedPipelineSchema } from "../support/pipeline-schema";

const account = "123456789012";
const region = "us-east-1";
const createdModel = {
  engine: "transform",
  transformImage: `${account}.dkr.ecr.${region}.amazonaws.com/scorer:3`,
  transformModelDataUrl: "s3://my-models/scorer/model.tar.gz",
};

/** The problems parseConfig reports for these settings (none: []). */
function problemsOf(settings: Record<string, unknown>): string[] {
  try {
    parseConfig(settings);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

interface Statement {
  Sid: string;
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

function resourcesOf(stack: RenderedStack, type: string, name?: RegExp): RenderedResource[] {
  return stack.resources.filter((r) => r.type === type && (!name || name.test(r.name)));
}

function statementsOf(stack: RenderedStack, roleName: string): Statement[] {
  const [policy] = resourcesOf(stack, "aws:iam/rolePolicy:RolePolicy", new RegExp(`^${roleName}$`));
  return JSON.parse(policy.inputs.policy as string).Statement;
}

function definitionOf(stack: RenderedStack): { Steps: Record<string, unknown>[] } {
  const [pipeline] = resourcesOf(stack, "aws:sagemaker/pipeline:Pipeline");
  return JSON.parse(pipeline.inputs.pipelineDefinition as string);
}

describe("the transform engine: settings checked at preview", () => {
  it("keeps the Batch engine by default, with no model needed", () => {
    expect(parseConfig({}).engine).to.equal("batch");
    expect(problemsOf({})).to.deep.equal([]);
  });

  it("accepts a model the stack creates, or an existing one, with SageMaker's defaults", () => {
    const config = parseConfig(createdModel);
    expect(config).to.deep.include({
      engine: "transform",
      transformInstanceType: "ml.m5.xlarge",
      transformInstanceCount: 1,
      transformMaxConcurrentTransforms: 1,
      transformMaxPayloadMiB: 6,
      transformBatchStrategy: "MultiRecord",
    });
    expect(problemsOf({ engine: "transform", transformModelName: "scorer-v3" })).to.deep.equal([]);
  });

  it("refuses an engine it does not have, naming the two", () => {
    expect(problemsOf({ engine: "lambda" })).to.deep.equal([
      'sagemaker-batch-bridge:engine must be batch or transform, got "lambda".',
    ]);
  });

  it("asks for a model when the engine is transform", () => {
    expect(problemsOf({ engine: "transform" })).to.deep.equal([
      "sagemaker-batch-bridge:transformImage must name the model's inference image when a step runs the " +
        "transform engine and transformModelName is unset (or set transformModelName to an existing model).",
      "sagemaker-batch-bridge:transformModelDataUrl must give the model's artifacts (s3://bucket/key) when a " +
        "step runs the transform engine and transformModelName is unset (or set transformModelName to an " +
        "existing model).",
    ]);
  });

  it("takes an existing model or one to create, not both", () => {
    expect(problemsOf({ ...createdModel, transformModelName: "scorer-v3" })).to.deep.equal([
      "sagemaker-batch-bridge:transformModelName names an existing model: leave transformImage and " +
        "transformModelDataUrl unset with it, or unset transformModelName to have the stack create the model.",
    ]);
  });

  it("holds each value to what CreateTransformJob and CreateModel accept", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ transformModelName: "scorer_v3" }, "transformModelName must be a SageMaker model name"],
      [{ transformModelName: "m".repeat(64) }, "transformModelName must be a SageMaker model name"],
      [{ transformModelDataUrl: "s3://my-models/" }, "transformModelDataUrl must be the S3 URL"],
      [{ transformInstanceType: "m5.xlarge" }, "transformInstanceType must be an instance type"],
      [{ transformInstanceType: "ml.t3.micro2" }, "transformInstanceType must be an instance type"],
      [{ transformInstanceCount: 0 }, "transformInstanceCount must be a whole number of at least 1, got 0."],
      [{ transformMaxConcurrentTransforms: 0 }, "transformMaxConcurrentTransforms must be a whole number of"],
      [
        { transformMaxPayloadMiB: 101 },
        "transformMaxPayloadMiB must be a whole number from 0 to 100, got 101.",
      ],
      [
        { transformMaxConcurrentTransforms: 20, transformMaxPayloadMiB: 6 },
        "transformMaxPayloadMiB times transformMaxConcurrentTransforms (20) must be at most 100 MiB",
      ],
      [
        { transformBatchStrategy: "Multi" },
        'transformBatchStrategy must be MultiRecord or SingleRecord, got "Multi".',
      ],
    ];
    for (const [settings, expected] of cases) {
      const base = settings.transformModelName !== undefined ? { engine: "transform" } : createdModel;
      const problems = problemsOf({ ...base, ...settings });
      expect(problems, JSON.stringify(settings)).to.have.length(1);
      expect(problems[0], JSON.stringify(settings)).to.contain(`sagemaker-batch-bridge:${expected}`);
    }
    expect(
      problemsOf({ ...createdModel, transformMaxConcurrentTransforms: 4, transformMaxPayloadMiB: 25 }),
    ).to.deep.equal([]);
    expect(problemsOf({ ...createdModel, transformMaxPayloadMiB: 0 })).to.deep.equal([]);
  });
});

describe("the transform engine under the mock engine (engine: transform)", () => {
  let stack: RenderedStack;
  let existing: RenderedStack;
  let bucket: string;
  before(async () => {
    stack = await renderStack({ stack: "dev", config: createdModel });
    existing = await renderStack({
      stack: "dev",
      config: {
        engine: "transform",
        transformModelName: "Scorer-V3",
        transformInstanceType: "ml.c5.2xlarge",
      },
    });
    bucket = String(stack.outputs.dataBucketName);
  });

  it("puts one schema-valid Transform step where the Batch steps would be, on the pipeline's S3 parameters", () => {
    const definition = definitionOf(stack);
    const validate = compileSchema(relaxedPipelineSchema());
    expect(validate(definition), JSON.stringify(validate.errors, null, 2)).to.equal(true);
    const [model] = resourcesOf(stack, "aws:sagemaker/model:Model");
    expect(definition.Steps).to.deep.equal([
      {
        Name: "TransformRecords",
        Type: "Transform",
        Arguments: {
          ModelName: model.state.name,
          TransformInput: {
            ContentType: "application/jsonlines",
            DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: { Get: "Parameters.InputUri" } } },
            SplitType: "Line",
          },
          TransformOutput: {
            Accept: "application/jsonlines",
            AssembleWith: "Line",
            S3OutputPath: { Get: "Parameters.OutputUri" },
          },
          TransformResources: { InstanceCount: 1, InstanceType: "ml.m5.xlarge" },
          BatchStrategy: "MultiRecord",
          MaxConcurrentTransforms: 1,
          MaxPayloadInMB: 6,
          DataProcessing: {
            InputFilter: "$.record",
            JoinSource: "Input",
            OutputFilter: "$['job_id','SageMakerOutput']",
          },
        },
      },
    ]);
  });

  it("the schema check refuses a Transform step SageMaker would refuse (so the check above means something)", () => {
    const definition = definitionOf(stack);
    (definition.Steps[0].Arguments as Record<string, unknown>).SplitBy = "Line";
    expect(compileSchema(relaxedPipelineSchema())(definition)).to.equal(false);
  });

  it("creates the model from the image and artifacts, with a role of its own", () => {
    const [model] = resourcesOf(stack, "aws:sagemaker/model:Model");
    const [role] = resourcesOf(stack, "aws:iam/role:Role", /^batch-bridge-transform-model$/);
    expect(model.inputs).to.deep.equal({
      executionRoleArn: role.state.arn,
      primaryContainer: {
        image: createdModel.transformImage,
        modelDataUrl: createdModel.transformModelDataUrl,
      },
    });
    expect(JSON.parse(role.inputs.assumeRolePolicy as string).Statement[0].Principal).to.deep.equal({
      Service: "sagemaker.amazonaws.com",
    });
  });

  it("lets the model's role read its artifacts and the input, write the output and the transform logs, pull its image: nothing else", async () => {
    const statements = statementsOf(stack, "batch-bridge-transform-model");
    const data = `arn:aws:s3:::${bucket}`;
    const logs = `arn:aws:logs:${region}:${account}:log-group:/aws/sagemaker/TransformJobs`;
    expect(statements.map((s) => [s.Sid, s.Action, s.Resource])).to.deep.equal([
      ["ReadModelData", ["s3:GetObject"], "arn:aws:s3:::my-models/scorer/model.tar.gz"],
      ["ReadInput", ["s3:GetObject"], [`${data}/input/*`, `${data}/output/*`]],
      ["ListInput", ["s3:ListBucket"], data],
      ["WriteOutput", ["s3:PutObject", "s3:AbortMultipartUpload"], `${data}/output/*`],
      [
        "PullModelImage",
        ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
        `arn:aws:ecr:${region}:${account}:repository/scorer`,
      ],
      ["LogInToEcr", ["ecr:GetAuthorizationToken"], "*"],
      ["CreateTransformLogGroup", ["logs:CreateLogGroup", "logs:DescribeLogStreams"], `${logs}:*`],
      ["WriteTransformLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], `${logs}:log-stream:*`],
    ]);
    expect(await iamReferenceProblems(statements)).to.deep.equal([]);
  });

  it("lets the pipeline's role run transform jobs only with the stack's model and instance type, and follow and stop them", async () => {
    const [model] = resourcesOf(stack, "aws:sagemaker/model:Model");
    const statements = statementsOf(stack, "batch-bridge-pipeline");
    const jobs = `arn:aws:sagemaker:${region}:${account}:transform-job/pipelines-*`;
    const transform = statements.filter((s) => s.Action.some((a) => a.startsWith("sagemaker:")));
    expect(transform).to.deep.equal([
      {
        Sid: "CreateTransformJobsWithTheStacksModel",
        Effect: "Allow",
        Action: ["sagemaker:CreateTransformJob"],
        Resource: jobs,
        Condition: {
          ArnEquals: { "sagemaker:ModelArn": model.state.arn },
          "ForAllValues:StringEquals": { "sagemaker:InstanceTypes": ["ml.m5.xlarge"] },
        },
      },
      {
        Sid: "FollowAndStopTransformJobs",
        Effect: "Allow",
        Action: ["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
        Resource: jobs,
      },
    ]);
    expect(statements.flatMap((s) => s.Action)).to.not.include("iam:PassRole");
    expect(await iamReferenceProblems(statements)).to.deep.equal([]);
    expect(stack.outputs.pipelineRolePolicy).to.deep.equal({ Version: "2012-10-17", Statement: statements });
  });

  it("runs an existing model by name: no model or model role created, the condition on its ARN", () => {
    expect(resourcesOf(existing, "aws:sagemaker/model:Model")).to.deep.equal([]);
    expect(resourcesOf(existing, "aws:iam/role:Role", /transform-model/)).to.deep.equal([]);
    const [create] = statementsOf(existing, "batch-bridge-pipeline").filter((s) =>
      s.Sid.startsWith("CreateTransform"),
    );
    expect(create.Condition).to.deep.equal({
      ArnEquals: { "sagemaker:ModelArn": `arn:aws:sagemaker:${region}:${account}:model/scorer-v3` },
      "ForAllValues:StringEquals": { "sagemaker:InstanceTypes": ["ml.c5.2xlarge"] },
    });
    const step = definitionOf(existing).Steps[0].Arguments as Record<string, unknown>;
    expect(step.ModelName).to.equal("Scorer-V3");
  });

  it("a Batch engine stack has no model and its pipeline role no SageMaker action", async () => {
    const batch = await renderStack({ stack: "dev" });
    expect(resourcesOf(batch, "aws:sagemaker/model:Model")).to.deep.equal([]);
    const actions = statementsOf(batch, "batch-bridge-pipeline").flatMap((s) => s.Action);
    expect(actions.filter((a) => a.startsWith("sagemaker:"))).to.deep.equal([]);
  });
});

describe("the Engine argument of a BatchBridge step", () => {
  const targets = {
    submitFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:submit",
    callbackQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks",
    transform: {
      modelName: "scorer",
      instanceType: "ml.m5.xlarge",
      instanceCount: 2,
      maxConcurrentTransforms: 4,
      maxPayloadMiB: 10,
      batchStrategy: "SingleRecord" as const,
    },
  };
  const document = (engine: unknown, extra: Record<string, unknown> = {}) => ({
    Version: "2020-12-01",
    Parameters: [{ Name: "InputUri", Type: "String", DefaultValue: "s3://data-bucket/input/" }],
    Steps: [
      {
        Name: "Score",
        Type: "BatchBridge",
        Arguments: {
          InputUri: { Get: "Parameters.InputUri" },
          OutputUri: "s3://data-bucket/output/scores/",
          ...(engine === undefined ? {} : { Engine: engine }),
          ...extra,
        },
      },
      {
        Name: "Embed",
        Type: "BatchBridge",
        DependsOn: ["Score"],
        Arguments: {
          InputUri: "s3://data-bucket/output/scores/",
          OutputUri: "s3://data-bucket/output/embeddings/",
          ShardCount: 4,
        },
      },
    ],
  });

  it("overrides the stack's engine for one step: a Transform step of its name, the others as the stack runs them", () => {
    const planned = planPipelineDefinition(document("transform"), {
      jobKinds: ["default"],
      source: "test",
      engine: "batch",
    });
    expect(planned.transformSteps).to.deep.equal(["Score"]);
    const expanded = planned.expand(targets);
    expect(expanded.Steps.map((s) => [s.Name, s.Type])).to.deep.equal([
      ["Score", "Transform"],
      ["Embed-Submit", "Lambda"],
      ["Embed", "Callback"],
    ]);
    const score = expanded.Steps[0] as unknown as { Arguments: Record<string, unknown> };
    expect(score.Arguments).to.deep.include({
      ModelName: "scorer",
      TransformResources: { InstanceType: "ml.m5.xlarge", InstanceCount: 2 },
      BatchStrategy: "SingleRecord",
      MaxConcurrentTransforms: 4,
      MaxPayloadInMB: 10,
      DataProcessing: transformDataProcessing,
    });
    const validate = compileSchema(relaxedPipelineSchema());
    expect(validate(expanded), JSON.stringify(validate.errors, null, 2)).to.equal(true);
  });

  it("on a transform stack, Engine batch keeps a step on Batch", () => {
    const planned = planPipelineDefinition(document("batch", { ShardCount: 2 }), {
      jobKinds: ["default"],
      source: "test",
      engine: "transform",
    });
    expect(planned.expand(targets).Steps.map((s) => [s.Name, s.Type])).to.deep.equal([
      ["Score-Submit", "Lambda"],
      ["Score", "Callback"],
      ["Embed", "Transform"],
    ]);
  });

  it("refuses an Engine given as an expression or unknown, and a JobKind on the transform engine", () => {
    const problems = (doc: unknown) => {
      try {
        planPipelineDefinition(doc, { jobKinds: ["default"], source: "test" });
        return [];
      } catch (error) {
        return (error as { problems: string[] }).problems;
      }
    };
    expect(problems(document({ Get: "Parameters.InputUri" }))).to.deep.equal([
      "step Score, Arguments.ShardCount: missing; a BatchBridge step needs InputUri, OutputUri and ShardCount.",
      'step Score, Arguments.Engine: must be batch or transform, written out (it decides the steps the definition holds), got {"Get":"Parameters.InputUri"}.',
    ]);
    expect(problems(document("transform", { JobKind: "default" }))).to.deep.equal([
      "step Score, Arguments.JobKind: a step on the transform engine runs the stack's model, not a job kind; leave JobKind out, or set Engine to batch.",
    ]);
  });
});
