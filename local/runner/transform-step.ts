/**
 * SageMaker's part in a Transform step: it creates the step's transform job with the step's arguments,
 * waits for the job to end, and stops the job when the execution is stopped ("Stop a pipeline execution",
 * SageMaker Pipelines developer guide: stopping an execution stops the jobs its running steps started, and
 * the execution is Stopped once they have). The step fails with the job's FailureReason.
 */
import type { PipelineExecutionStatus, SageMakerServer } from "../sagemaker/server";
import type { TransformJob, TransformJobs } from "../sagemaker/transform-jobs";
import { resolveArguments, type DefinitionStep, type ExecutionScope } from "./pipeline-interpreter";

/**
 * The job a pipeline's Transform step creates: `pipelines-<execution id>-<step name>-<suffix>`, as SageMaker
 * Pipelines names its jobs, cut to the 63 characters a job name holds.
 */
export function pipelineJobName(scope: ExecutionScope, stepName: string, suffix: string): string {
  const base = `pipelines-${scope.executionId}-${stepName}`.replace(/[^a-zA-Z0-9-]/g, "-");
  return `${base.slice(0, 62 - suffix.length)}-${suffix}`;
}

/** How a Transform step ended. */
export interface TransformStepEnd {
  /** The execution's status after the step; `Executing` to go on. */
  status: PipelineExecutionStatus;
  job?: TransformJob;
  /** Why the step did not succeed. */
  failureReason?: string;
}

/** Runs a Transform step to its end, on the local SageMaker's transform jobs. */
export async function runTransformStep(
  deps: { sageMakerServer: SageMakerServer; transformJobs: TransformJobs },
  step: DefinitionStep,
  scope: ExecutionScope,
): Promise<TransformStepEnd> {
  const { sageMakerServer, transformJobs } = deps;
  const executionArn = scope.executionArn;
  sageMakerServer.startStep(executionArn, step.Name, "Transform");
  const name = pipelineJobName(scope, step.Name, "transform");
  let job: TransformJob;
  let args: Record<string, unknown>;
  try {
    args = resolveArguments((step.Arguments ?? {}) as Record<string, unknown>, scope, step.Name);
    const ended = new Promise<TransformJob>((resolve) => {
      const unsubscribe = transformJobs.onEnd((done) => {
        if (done.TransformJobName !== name) return;
        unsubscribe();
        resolve(done);
      });
    });
    transformJobs.create({ ...args, TransformJobName: name });
    const stopJob = () => transformJobs.stop(name);
    const unsubscribeStop = sageMakerServer.onStopRequested((execution) => {
      if (execution.executionArn === executionArn) stopJob();
    });
    if (sageMakerServer.execution(executionArn)?.status === "Stopping") stopJob();
    job = await ended;
    unsubscribeStop();
  } catch (error) {
    const failureReason = (error as Error).message;
    return { status: sageMakerServer.endStep(executionArn, failureReason), failureReason };
  }
  if (job.TransformJobStatus === "Completed") {
    scope.stepProperties = { ...scope.stepProperties, [step.Name]: transformStepProperties(args, job) };
  }
  const failureReason =
    job.TransformJobStatus === "Completed"
      ? undefined
      : (job.FailureReason ??
        `Transform job ${job.TransformJobName} was stopped: the pipeline execution was stopped.`);
  return {
    status: sageMakerServer.endStep(executionArn, failureReason),
    job,
    ...(failureReason ? { failureReason } : {}),
  };
}

/**
 * A Transform step's properties, which later steps read (`{"Get": "Steps.<name>.TransformOutput.S3OutputPath"}`):
 * its job as DescribeTransformJob returns it (the SageMaker Python SDK's TransformStep reads its properties
 * from the DescribeTransformJobResponse shape), that is the request's fields, resolved, with the job's name,
 * ARN, status and times.
 */
export function transformStepProperties(
  args: Record<string, unknown>,
  job: TransformJob,
): Record<string, unknown> {
  return {
    ...args,
    TransformJobName: job.TransformJobName,
    TransformJobArn: job.TransformJobArn,
    TransformJobStatus: job.TransformJobStatus,
    CreationTime: job.CreationTime,
    ...(job.TransformStartTime !== undefined ? { TransformStartTime: job.TransformStartTime } : {}),
    ...(job.TransformEndTime !== undefined ? { TransformEndTime: job.TransformEndTime } : {}),
    ...(job.FailureReason !== undefined ? { FailureReason: job.FailureReason } : {}),
  };
}
