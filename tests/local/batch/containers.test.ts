import { expect } from "chai";
import {
  BatchClient,
  TerminateJobCommand,
  type JobDetail,
  type SubmitJobRequest,
} from "@aws-sdk/client-batch";
import { resolveRefs } from "../../../local/batch/container-launch";
import type { ContainerExit, ContainerLaunch, ContainerRuntime } from "../../../local/batch/scenario";
import { startBatchServer, type BatchServer } from "../../../local/batch/server";
import { SimClock } from "../../../local/time/clock";
import { localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);
/** SUBMITTED 1 s, RUNNABLE 10 s, STARTING 20 s: then the container starts. */
const startsRunningAfter = 31_000;

/** A container runtime that runs nothing: the test decides when each container exits. */
class FakeContainers implements ContainerRuntime {
  readonly launches: ContainerLaunch[] = [];
  readonly stopped: string[] = [];
  private readonly exits = new Map<string, (exit: ContainerExit) => void>();

  start(launch: ContainerLaunch, onExit: (exit: ContainerExit) => void) {
    const key = `${launch.jobId}#${launch.attempt}`;
    this.launches.push(launch);
    this.exits.set(key, onExit);
    return { stop: () => this.stopped.push(key) };
  }

  exit(jobId: string, attempt: number, exit: ContainerExit): void {
    this.exits.get(`${jobId}#${attempt}`)!(exit);
  }
}

describe("local Batch running real containers", () => {
  let clock: SimClock;
  let server: BatchServer;
  let containers: FakeContainers;

  async function startWith(attempts = 1, timeoutSeconds = 600): Promise<void> {
    clock = new SimClock({ speed: 0, startMs: start });
    containers = new FakeContainers();
    server = await startBatchServer({
      clock,
      seed: 3,
      scenario: {
        containers,
        computeEnvironmentName: "batch-bridge-dev-fargate",
        jobQueues: ["batch-bridge-jobs"],
        jobDefinitions: {
          "batch-bridge-job": {
            retryStrategy: { attempts },
            timeout: { attemptDurationSeconds: timeoutSeconds },
            parameters: { inputUri: "s3://data/input/", outputUri: "s3://data/output/", shardIndex: "0" },
            container: {
              command: ["Ref::inputUri", "Ref::outputUri", "--shard=Ref::shardIndex", "Ref::unknown"],
              environment: { LOG_LEVEL: "debug", BRIDGE_SHARD_COUNT: "1" },
            },
          },
        },
      },
    });
  }

  afterEach(async () => {
    await server.stop();
    clock.stop();
  });

  function submit(request: Partial<SubmitJobRequest> = {}): string {
    return server.submitJob({
      jobName: "batch-bridge-exec1",
      jobQueue: "batch-bridge-jobs",
      jobDefinition: "batch-bridge-job",
      ...request,
    }).jobId!;
  }

  const job = (jobId: string): JobDetail => server.describeJobs([jobId])[0];

  it("starts each array child's container with its command resolved and the environment Fargate gives", async () => {
    await startWith();
    const parent = submit({
      arrayProperties: { size: 2 },
      parameters: { outputUri: "s3://data/output/run-1/", shardIndex: "$AWS_BATCH_JOB_ARRAY_INDEX" },
      containerOverrides: { environment: [{ name: "BRIDGE_SHARD_COUNT", value: "2" }] },
    });
    clock.advance(startsRunningAfter);
    expect(server.countsByState().RUNNING).to.equal(2);
    const child = containers.launches.find((launch) => launch.arrayIndex === 1)!;
    expect(child.command).to.deep.equal([
      "s3://data/input/",
      "s3://data/output/run-1/",
      "--shard=$AWS_BATCH_JOB_ARRAY_INDEX",
      "Ref::unknown",
    ]);
    expect(child.environment).to.deep.equal({
      LOG_LEVEL: "debug",
      BRIDGE_SHARD_COUNT: "2",
      AWS_EXECUTION_ENV: "AWS_ECS_FARGATE",
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_BATCH_JOB_ID: `${parent}:1`,
      AWS_BATCH_JOB_ATTEMPT: "1",
      AWS_BATCH_JQ_NAME: "batch-bridge-jobs",
      AWS_BATCH_CE_NAME: "batch-bridge-dev-fargate",
      AWS_BATCH_JOB_ARRAY_INDEX: "1",
      AWS_BATCH_JOB_ARRAY_SIZE: "2",
    });
  });

  it("keeps a job RUNNING until its container exits, and reports the exit code as Batch does", async () => {
    await startWith();
    const ok = submit({ jobName: "ok" });
    const bad = submit({ jobName: "bad" });
    clock.advance(startsRunningAfter + 300_000);
    expect(job(ok).status).to.equal("RUNNING");
    containers.exit(ok, 1, { exitCode: 0 });
    containers.exit(bad, 1, { exitCode: 3 });
    expect(job(ok)).to.deep.include({
      status: "SUCCEEDED",
      statusReason: "Essential container in task exited",
    });
    expect(job(bad)).to.deep.include({
      status: "FAILED",
      statusReason: "Essential container in task exited",
    });
    expect(job(bad).container?.exitCode).to.equal(3);
    expect(job(bad).stoppedAt! - job(bad).startedAt!).to.equal(300_000);
  });

  it("starts a new container for a retried attempt, numbered in AWS_BATCH_JOB_ATTEMPT", async () => {
    await startWith(2);
    const jobId = submit();
    clock.advance(startsRunningAfter);
    containers.exit(jobId, 1, { exitCode: 1 });
    // Back to RUNNABLE (10 s) and STARTING (20 s) before the second container starts.
    clock.advance(30_000);
    expect(containers.launches.map((launch) => launch.environment.AWS_BATCH_JOB_ATTEMPT)).to.deep.equal([
      "1",
      "2",
    ]);
    containers.exit(jobId, 2, { exitCode: 0 });
    expect(job(jobId).status).to.equal("SUCCEEDED");
    expect(job(jobId).attempts).to.have.length(2);
  });

  it("stops a container that outlives the job timeout and fails the job, not retried", async () => {
    await startWith(3, 60);
    const jobId = submit();
    clock.advance(startsRunningAfter + 60_000);
    expect(containers.stopped).to.deep.equal([`${jobId}#1`]);
    expect(job(jobId)).to.deep.include({
      status: "FAILED",
      statusReason: "Job attempt duration exceeded timeout",
    });
    // The stopped container's exit, when it comes, changes nothing.
    containers.exit(jobId, 1, { exitCode: 143 });
    expect(job(jobId).attempts).to.have.length(1);
    expect(containers.launches).to.have.length(1);
  });

  it("stops the container of a job terminated while RUNNING", async () => {
    await startWith();
    const jobId = submit();
    clock.advance(startsRunningAfter);
    const batch = new BatchClient({ ...localClientConfig(server.endpoint), maxAttempts: 1 });
    await batch.send(
      new TerminateJobCommand({ jobId, reason: "sagemaker-batch-bridge: pipeline execution stopped" }),
    );
    batch.destroy();
    expect(containers.stopped).to.deep.equal([`${jobId}#1`]);
    expect(job(jobId)).to.deep.include({ status: "FAILED" });
  });
});

describe("Ref:: placeholders", () => {
  it("are replaced anywhere in an argument, longest parameter name first; unknown ones stay", () => {
    const parameters = { inputUri: "s3://b/in/", inputUriList: "s3://b/list", shardIndex: "4" };
    expect(
      resolveRefs("sh -c 'tool Ref::inputUriList --shard Ref::shardIndex Ref::other'", parameters),
    ).to.equal("sh -c 'tool s3://b/list --shard 4 Ref::other'");
  });
});
