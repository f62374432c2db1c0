import { expect } from "chai";
import {
  DescribePipelineExecutionCommand,
  ListPipelineExecutionStepsCommand,
  ListPipelineParametersForExecutionCommand,
  SageMakerClient,
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
} from "@aws-sdk/client-sagemaker";
import { SimClock } from "../../../local/time/clock";
import {
  startSageMakerServer,
  type PipelineExecutionStatusChangeEvent,
  type SageMakerServer,
} from "../../../local/sagemaker/server";
import { errorOf, localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);
const requestToken = (n: number): string => `request-${String(n).padStart(24, "0")}`;

describe("local SageMaker server", () => {
  let clock: SimClock;
  let server: SageMakerServer;
  let sagemaker: SageMakerClient;

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: start });
    server = await startSageMakerServer({ clock, seed: 3, pipelines: ["batch-bridge"] });
    sagemaker = new SageMakerClient({ ...localClientConfig(server.endpoint), maxAttempts: 1 });
  });

  afterEach(async () => {
    sagemaker.destroy();
    await server.stop();
    clock.stop();
  });

  /** An execution whose Callback step has started, as the runner sets it up. */
  function executionAtCallbackStep(): {
    executionArn: string;
    token: string;
    answer: ReturnType<SageMakerServer["startCallbackStep"]>["answer"];
  } {
    const execution = server.startExecution({ pipelineName: "batch-bridge" });
    const { token, answer } = server.startCallbackStep(execution.executionArn, "WaitForJobs");
    return { executionArn: execution.executionArn, token, answer };
  }

  it("starts an execution through the API and describes it with simulated timestamps", async () => {
    const started: string[] = [];
    server.onExecutionStarted((execution) => started.push(execution.executionArn));
    clock.advance(90_000);
    const { PipelineExecutionArn } = await sagemaker.send(
      new StartPipelineExecutionCommand({
        PipelineName: "batch-bridge",
        PipelineParameters: [{ Name: "ShardCount", Value: "4" }],
        ClientRequestToken: requestToken(1),
      }),
    );
    expect(PipelineExecutionArn).to.match(
      /^arn:aws:sagemaker:us-east-1:123456789012:pipeline\/batch-bridge\/execution\/[a-z0-9]{12}$/,
    );
    expect(started).to.deep.equal([PipelineExecutionArn]);
    const again = await sagemaker.send(
      new StartPipelineExecutionCommand({
        PipelineName: "batch-bridge",
        ClientRequestToken: requestToken(1),
      }),
    );
    expect(again.PipelineExecutionArn, "same ClientRequestToken, same execution").to.equal(
      PipelineExecutionArn,
    );
    const described = await sagemaker.send(new DescribePipelineExecutionCommand({ PipelineExecutionArn }));
    expect(described.PipelineExecutionStatus).to.equal("Executing");
    expect(described.CreationTime?.getTime()).to.equal(start + 90_000);
    expect(server.execution(PipelineExecutionArn!)?.parameters).to.deep.equal([
      { Name: "ShardCount", Value: "4" },
    ]);

    const unknown = await errorOf(
      sagemaker.send(
        new StartPipelineExecutionCommand({ PipelineName: "other", ClientRequestToken: requestToken(2) }),
      ),
    );
    expect(unknown.name).to.equal("ResourceNotFound");
  });

  it("accepts a step's success once, with its outputs and simulated time, and resolves the runner's promise", async () => {
    const { executionArn, token, answer } = executionAtCallbackStep();
    clock.advance(45 * 60_000);
    const outputs = [
      { Name: "status", Value: "SUCCEEDED" },
      { Name: "succeededShards", Value: "4" },
    ];
    const response = await sagemaker.send(
      new SendPipelineExecutionStepSuccessCommand({
        CallbackToken: token,
        OutputParameters: outputs,
        ClientRequestToken: requestToken(3),
      }),
    );
    expect(response.PipelineExecutionArn).to.equal(executionArn);
    const accepted = await answer;
    expect(accepted).to.deep.include({
      outcome: "success",
      outputParameters: outputs,
      answeredAt: start + 45 * 60_000,
    });
    expect(server.execution(executionArn)?.steps[0].answer?.outcome).to.equal("success");
  });

  it("answers a repeat with the same ClientRequestToken as the first time, and a different answer with ConflictException", async () => {
    const { executionArn, token } = executionAtCallbackStep();
    const success = () =>
      sagemaker.send(
        new SendPipelineExecutionStepSuccessCommand({
          CallbackToken: token,
          OutputParameters: [{ Name: "status", Value: "SUCCEEDED" }],
          ClientRequestToken: requestToken(4),
        }),
      );
    await success();
    expect((await success()).PipelineExecutionArn).to.equal(executionArn);
    const failure = await errorOf(
      sagemaker.send(
        new SendPipelineExecutionStepFailureCommand({
          CallbackToken: token,
          FailureReason: "shard 3 failed",
          ClientRequestToken: requestToken(5),
        }),
      ),
    );
    expect(failure.name).to.equal("ConflictException");
    expect(failure.$metadata.httpStatusCode).to.equal(400);
    // Without a ClientRequestToken the SDK sends a fresh one: a second answer, not a repeat.
    const again = await errorOf(
      sagemaker.send(
        new SendPipelineExecutionStepSuccessCommand({ CallbackToken: token, OutputParameters: [] }),
      ),
    );
    expect(again.name).to.equal("ConflictException");
    expect(server.calls()).to.deep.equal({
      SendPipelineExecutionStepFailure: 1,
      SendPipelineExecutionStepSuccess: 3,
    });
    expect(server.rejectedCalls()).to.deep.equal({
      SendPipelineExecutionStepFailure: { ConflictException: 1 },
      SendPipelineExecutionStepSuccess: { ConflictException: 1 },
    });
    expect(server.execution(executionArn)?.status).to.equal("Executing");
  });

  it("rejects an unknown token with ResourceNotFound", async () => {
    executionAtCallbackStep();
    const error = await errorOf(
      sagemaker.send(
        new SendPipelineExecutionStepFailureCommand({ CallbackToken: "Zz9Zz9Zz9Z", FailureReason: "x" }),
      ),
    );
    expect(error.name).to.equal("ResourceNotFound");
    expect(server.rejectedCalls()).to.deep.equal({
      SendPipelineExecutionStepFailure: { ResourceNotFound: 1 },
    });
  });

  it("validates the limits AWS validates, naming the field", async () => {
    const { token } = executionAtCallbackStep();
    const cases: [string, Promise<unknown>][] = [
      [
        "outputParameters",
        sagemaker.send(
          new SendPipelineExecutionStepSuccessCommand({
            CallbackToken: token,
            OutputParameters: Array.from({ length: 51 }, (_, i) => ({ Name: `o${i}`, Value: "v" })),
          }),
        ),
      ],
      [
        "outputParameters.1.member.value",
        sagemaker.send(
          new SendPipelineExecutionStepSuccessCommand({
            CallbackToken: token,
            OutputParameters: [{ Name: "jobRef", Value: "x".repeat(1025) }],
          }),
        ),
      ],
      [
        "failureReason",
        sagemaker.send(
          new SendPipelineExecutionStepFailureCommand({
            CallbackToken: token,
            FailureReason: "x".repeat(257),
          }),
        ),
      ],
      [
        "clientRequestToken",
        sagemaker.send(
          new SendPipelineExecutionStepFailureCommand({
            CallbackToken: token,
            ClientRequestToken: "x".repeat(31),
          }),
        ),
      ],
      [
        "callbackToken",
        sagemaker.send(new SendPipelineExecutionStepFailureCommand({ CallbackToken: "short" })),
      ],
    ];
    for (const [field, call] of cases) {
      const error = await errorOf(call);
      expect(error.name, field).to.equal("ValidationException");
      expect(error.message, field).to.include(`'${field}'`);
    }
    // None of them answered the step: the limits themselves are accepted.
    await sagemaker.send(
      new SendPipelineExecutionStepSuccessCommand({
        CallbackToken: token,
        OutputParameters: Array.from({ length: 50 }, (_, i) => ({ Name: `o${i}`, Value: "x".repeat(1024) })),
        ClientRequestToken: "x".repeat(128),
      }),
    );
    expect(server.rejectedCalls()).to.deep.equal({
      SendPipelineExecutionStepFailure: { ValidationException: 3 },
      SendPipelineExecutionStepSuccess: { ValidationException: 2 },
    });
  });

  it("fails the execution with the step's failure reason", async () => {
    const { executionArn, token, answer } = executionAtCallbackStep();
    await sagemaker.send(
      new SendPipelineExecutionStepFailureCommand({ CallbackToken: token, FailureReason: "x".repeat(256) }),
    );
    expect((await answer).failureReason).to.have.length(256);
    const described = await sagemaker.send(
      new DescribePipelineExecutionCommand({ PipelineExecutionArn: executionArn }),
    );
    expect(described.PipelineExecutionStatus).to.equal("Failed");
    expect(described.FailureReason).to.equal("x".repeat(256));
  });

  it("stops an execution once its Callback step is answered, telling the runner when the stop is asked", async () => {
    const { executionArn, token } = executionAtCallbackStep();
    const stopping: string[] = [];
    server.onStopRequested((execution) => stopping.push(`${execution.executionArn}:${execution.status}`));
    clock.advance(60_000);
    await sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: executionArn }));
    await sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: executionArn }));
    expect(stopping).to.deep.equal([`${executionArn}:Stopping`]);
    expect(server.execution(executionArn)?.stopRequestedAt).to.equal(start + 60_000);
    await sagemaker.send(
      new SendPipelineExecutionStepFailureCommand({
        CallbackToken: token,
        FailureReason: "Pipeline execution stopped",
      }),
    );
    const described = await sagemaker.send(
      new DescribePipelineExecutionCommand({ PipelineExecutionArn: executionArn }),
    );
    expect(described.PipelineExecutionStatus).to.equal("Stopped");
    const late = await errorOf(
      sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: executionArn })),
    );
    expect(late.name).to.equal("ConflictException");
  });

  describe("stops and status-change events", () => {
    let events: PipelineExecutionStatusChangeEvent[];

    beforeEach(() => {
      events = [];
      server.onStatusChange((event) => events.push(event));
    });

    const describedStatus = async (executionArn: string) =>
      (await sagemaker.send(new DescribePipelineExecutionCommand({ PipelineExecutionArn: executionArn })))
        .PipelineExecutionStatus;

    it("lets a Lambda step run to its end when stopped, then stops the execution and starts no later step", async () => {
      const { executionArn } = server.startExecution({ pipelineName: "batch-bridge" });
      server.startLambdaStep(executionArn, "SubmitBatchJobs");
      clock.advance(60_000);
      await sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: executionArn }));
      expect(await describedStatus(executionArn)).to.equal("Stopping");
      clock.advance(120_000);
      expect(server.endLambdaStep(executionArn)).to.equal("Stopped");
      expect(await describedStatus(executionArn)).to.equal("Stopped");
      expect(() => server.startCallbackStep(executionArn, "WaitForBatchJobs")).to.throw(/is Stopped/);

      const pipelineArn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge";
      expect(events.map((e) => e.detail)).to.deep.equal([
        {
          pipelineArn,
          pipelineExecutionArn: executionArn,
          pipelineExecutionDisplayName: `execution-${start}`,
          currentPipelineExecutionStatus: "Stopping",
          previousPipelineExecutionStatus: "Executing",
          executionStartTime: "2030-01-01T00:00:00.000Z",
        },
        {
          pipelineArn,
          pipelineExecutionArn: executionArn,
          pipelineExecutionDisplayName: `execution-${start}`,
          currentPipelineExecutionStatus: "Stopped",
          previousPipelineExecutionStatus: "Stopping",
          executionStartTime: "2030-01-01T00:00:00.000Z",
          executionEndTime: "2030-01-01T00:03:00.000Z",
        },
      ]);
      expect(events[1]).to.deep.include({
        version: "0",
        source: "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        account: "123456789012",
        region: "us-east-1",
        time: "2030-01-01T00:03:00.000Z",
        resources: [pipelineArn, executionArn],
      });
    });

    it("announces every end: Succeeded, Failed by a Lambda or a Callback step, Stopped by a Callback step's answer", async () => {
      const succeeded = server.startExecution({ pipelineName: "batch-bridge", displayName: "nightly" });
      server.startLambdaStep(succeeded.executionArn, "SubmitBatchJobs");
      expect(server.endLambdaStep(succeeded.executionArn)).to.equal("Executing");
      server.setExecutionStatus(succeeded.executionArn, "Succeeded");

      const lambdaFailed = server.startExecution({ pipelineName: "batch-bridge" });
      server.startLambdaStep(lambdaFailed.executionArn, "SubmitBatchJobs");
      expect(server.endLambdaStep(lambdaFailed.executionArn, "Task timed out after 300.00 seconds")).to.equal(
        "Failed",
      );

      const callbackFailed = executionAtCallbackStep();
      await sagemaker.send(
        new SendPipelineExecutionStepFailureCommand({
          CallbackToken: callbackFailed.token,
          FailureReason: "no",
        }),
      );

      const stopped = executionAtCallbackStep();
      await sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: stopped.executionArn }));
      await sagemaker.send(
        new SendPipelineExecutionStepFailureCommand({
          CallbackToken: stopped.token,
          FailureReason: "stopped",
        }),
      );

      expect(
        events.map((e) => [
          e.detail.pipelineExecutionArn,
          e.detail.previousPipelineExecutionStatus,
          e.detail.currentPipelineExecutionStatus,
        ]),
      ).to.deep.equal([
        [succeeded.executionArn, "Executing", "Succeeded"],
        [lambdaFailed.executionArn, "Executing", "Failed"],
        [callbackFailed.executionArn, "Executing", "Failed"],
        [stopped.executionArn, "Executing", "Stopping"],
        [stopped.executionArn, "Stopping", "Stopped"],
      ]);
      expect(events[0].detail.pipelineExecutionDisplayName).to.equal("nightly");
      expect(events.filter((e) => e.detail.executionEndTime !== undefined)).to.have.length(4);
      expect(await describedStatus(lambdaFailed.executionArn)).to.equal("Failed");
    });

    it("stops at once an execution that runs no step", async () => {
      const { executionArn } = server.startExecution({ pipelineName: "batch-bridge" });
      await sagemaker.send(new StopPipelineExecutionCommand({ PipelineExecutionArn: executionArn }));
      expect(await describedStatus(executionArn)).to.equal("Stopped");
      expect(events.map((e) => e.detail.currentPipelineExecutionStatus)).to.deep.equal([
        "Stopping",
        "Stopped",
      ]);
    });
  });

  it("describes an unknown execution as ResourceNotFound", async () => {
    const error = await errorOf(
      sagemaker.send(
        new DescribePipelineExecutionCommand({
          PipelineExecutionArn:
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/batch-bridge/execution/nope",
        }),
      ),
    );
    expect(error.name).to.equal("ResourceNotFound");
  });

  it("lists an execution's parameters, and its steps newest first with their status and failure reason", async () => {
    const { PipelineExecutionArn } = await sagemaker.send(
      new StartPipelineExecutionCommand({
        PipelineName: "batch-bridge",
        PipelineExecutionDisplayName: "records-0123abcd",
        PipelineParameters: [
          { Name: "InputUri", Value: "s3://bucket/input/records/b/" },
          { Name: "ShardCount", Value: "2" },
        ],
        ClientRequestToken: requestToken(5),
      }),
    );
    const parameters = await sagemaker.send(
      new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn }),
    );
    expect(parameters.PipelineParameters).to.deep.equal([
      { Name: "InputUri", Value: "s3://bucket/input/records/b/" },
      { Name: "ShardCount", Value: "2" },
    ]);
    const firstPage = await sagemaker.send(
      new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn, MaxResults: 1 }),
    );
    expect(firstPage.PipelineParameters?.map((p) => p.Name)).to.deep.equal(["InputUri"]);
    const secondPage = await sagemaker.send(
      new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn, NextToken: firstPage.NextToken }),
    );
    expect(secondPage.PipelineParameters?.map((p) => p.Name)).to.deep.equal(["ShardCount"]);

    server.startLambdaStep(PipelineExecutionArn!, "SubmitBatchJobs");
    clock.advance(1_000);
    server.endLambdaStep(PipelineExecutionArn!);
    const { token } = server.startCallbackStep(PipelineExecutionArn!, "WaitForBatchJobs");
    clock.advance(60_000);
    await sagemaker.send(
      new SendPipelineExecutionStepFailureCommand({
        CallbackToken: token,
        FailureReason: "1 of 2 shards failed: shard 1 (exit code 65)",
      }),
    );
    const { PipelineExecutionSteps } = await sagemaker.send(
      new ListPipelineExecutionStepsCommand({ PipelineExecutionArn }),
    );
    expect(
      PipelineExecutionSteps?.map((step) => [
        step.StepName,
        step.StepStatus,
        step.FailureReason,
        step.EndTime?.getTime(),
      ]),
    ).to.deep.equal([
      ["WaitForBatchJobs", "Failed", "1 of 2 shards failed: shard 1 (exit code 65)", start + 61_000],
      ["SubmitBatchJobs", "Succeeded", undefined, start + 1_000],
    ]);
  });
});
