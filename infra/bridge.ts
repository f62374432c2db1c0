/**
 * BatchBridge: everything that runs AWS Batch (Fargate) jobs as a step of a SageMaker pipeline.
 */
import { getCallerIdentityOutput } from "@pulumi/aws/getCallerIdentity";
import { getPartitionOutput } from "@pulumi/aws/getPartition";
import { getRegionOutput } from "@pulumi/aws/getRegion";
import * as pulumi from "@pulumi/pulumi";
import { createAlarms } from "./alarms";
import { createBatch } from "./batch";
import {
  checkBatchBridgeStep,
  expandBatchBridgeStep,
  PipelineDefinitionError,
  planPipelineDefinition,
  type BatchBridgeStep,
  type PlannedDefinition,
  type StepDocument,
} from "./batch-bridge-steps";
import { ConfigError, parseConfig, projectName, type BridgeConfig, type StackSettings } from "./config";
import { checkTransform } from "./config/transform-config";
import { createCleanupQueues, routeExecutionEnds } from "./execution-cleanup";
import { createFunctions } from "./functions";
import { pipelineArns, pipelinePolicy, policy, type AwsScope, type RolePolicy } from "./iam-policies";
import { routeJobEvents } from "./job-event-rule";
import { createJobNetwork } from "./network";
import { createPipeline, readPipelineDefinitionFile } from "./pipeline";
import { createCallbackQueues } from "./queue";
import { checkRecordsPipeline, createRecords, type RecordApiOutputs, type Records } from "./records";
import { createStatusTable } from "./status-table";
import { createDataBucket } from "./storage";
import { createTransformModel, type TransformModel } from "./transform";
import { transformPipelineStatements } from "./transform-policies";
import type { TransformTarget } from "./transform-step";

/** What completionEvents adds to the stack's outputs. */
export interface CompletionEventOutputs {
  eventFunctionName: pulumi.Output<string>;
}

export interface BatchBridgeArgs {
  /**
   * The settings by key (`stackSettings()` reads a stack's), strings or typed values; unset keys take
   * their defaults. They are checked before anything is created.
   */
  config: StackSettings;
  /**
   * A pipeline definition built in code (the JSON SageMaker reads, as an object), whose BatchBridge steps
   * become the bridge's steps, instead of the stack's own pipeline: as `pipelineDefinitionFile` does with
   * a file. Not both.
   */
  pipelineDefinition?: object;
  /**
   * Where a relative `pipelineDefinitionFile` is found. Default: the current directory, which is the
   * project's (where Pulumi.yaml is) when Pulumi runs the program.
   */
  projectDirectory?: string;
}

/**
 * A SageMaker pipeline whose Lambda step submits AWS Batch jobs and whose Callback step waits, through an SQS
 * queue and a monitor function, until they have finished. With completionEvents, Batch's job state-change
 * events answer the step within seconds through a job-event function and a status table, and the monitor's
 * checks become a slow safety net.
 */
export class BatchBridge extends pulumi.ComponentResource {
  readonly pipelineName: pulumi.Output<string>;
  readonly pipelineArn: pulumi.Output<string>;
  readonly callbackQueueUrl: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly jobQueueArn: pulumi.Output<string>;
  readonly jobDefinitionArn: pulumi.Output<string>;
  readonly submitFunctionName: pulumi.Output<string>;
  /** The submit function: the FunctionArn of a bridge step's Lambda step. */
  readonly submitFunctionArn: pulumi.Output<string>;
  /**
   * The policy a pipeline's execution role needs to run the bridge's two steps: invoke the submit function,
   * send to the callback queue. The stack's own pipeline's role holds it; a pipeline of externalPipelineNames
   * needs it too.
   */
  readonly pipelineRolePolicy: pulumi.Output<RolePolicy>;
  readonly monitorFunctionName: pulumi.Output<string>;
  /** Terminates the jobs of executions that ended Stopped or Failed. */
  readonly cleanupFunctionName: pulumi.Output<string>;
  /** Clean-up messages that could not be read or delivered, for an operator. */
  readonly cleanupDeadLetterQueueUrl: pulumi.Output<string>;
  readonly dataBucketName: pulumi.Output<string>;
  /** The status table: submission claims, and with completionEvents the waiting steps. */
  readonly statusTableName: pulumi.Output<string>;
  /** An AWS CLI command line that starts a pipeline execution with the default parameters. */
  readonly startExecutionCommand: pulumi.Output<string>;
  /** The job-event function; undefined when completionEvents is off. */
  readonly completionEvents?: CompletionEventOutputs;
  /** The records API's endpoint, key, table and queues; undefined when recordApi is off. */
  readonly recordApi?: RecordApiOutputs;
  /** The CloudWatch dashboard of the alarms' signals and the queue's jobs by state. */
  readonly dashboardName: pulumi.Output<string>;
  /** The job kinds a step may name. */
  private readonly jobKinds: string[];
  /** The stack's engine, which a BatchBridge step without an Engine argument runs. */
  private readonly engine: BridgeConfig["engine"];
  /** The transform engine's model and settings; undefined when no step runs it. */
  private readonly transformTarget?: pulumi.Output<TransformTarget>;

  constructor(name: string, args: BatchBridgeArgs, opts?: pulumi.ComponentResourceOptions) {
    const config = parseConfig(args.config);
    // A user's definition is checked here, at preview, before anything is created.
    const definition = userDefinition(config, args);
    if (config.recordApi && definition) checkRecordsPipeline(definition);
    const transformNeeded = config.engine === "transform" || (definition?.transformSteps.length ?? 0) > 0;
    if (transformNeeded && config.engine !== "transform") checkTransformModel(config);
    super("sagemaker-batch-bridge:index:BatchBridge", name, {}, opts);
    this.jobKinds = config.kinds.map((kind) => kind.name);
    this.engine = config.engine;
    if (definition && definition.stepsNeedingOtherPermissions.length > 0) {
      pulumi.log.warn(
        `The pipeline's role holds only the bridge's permissions; steps ${definition.stepsNeedingOtherPermissions.join(", ")} ` +
          `need their own (attach them to the role, or run the definition as a pipeline of yours listed in ` +
          `externalPipelineNames).`,
        this,
      );
    }
    const invokeOpts = { parent: this };
    const scope: pulumi.Output<AwsScope> = pulumi
      .all([
        getPartitionOutput({}, invokeOpts).partition,
        getRegionOutput({}, invokeOpts).region,
        getCallerIdentityOutput({}, invokeOpts).accountId,
      ])
      .apply(([partition, region, accountId]) => ({ partition, region, accountId }));

    const network = createJobNetwork(name, config, this);
    const { bucketName } = createDataBucket(name, config, this);
    const batch = createBatch(name, { config, scope, network, bucketName }, this);
    const queues = createCallbackQueues(name, config, this);
    const cleanupQueues = createCleanupQueues(name, config, this);
    const statusTable = createStatusTable(name, config, this);
    const functions = createFunctions(
      name,
      { config, scope, batch, queues, cleanupQueues, bucketName, statusTable },
      this,
    );
    if (functions.jobEventFunction) {
      routeJobEvents(
        name,
        { config, jobQueueArn: batch.jobQueue.arn, jobEventFunction: functions.jobEventFunction },
        this,
      );
      this.completionEvents = {
        eventFunctionName: functions.jobEventFunction.name,
      };
    }
    const transform: TransformModel | undefined = transformNeeded
      ? createTransformModel(name, { config, scope, bucketName }, this)
      : undefined;
    this.transformTarget = transform?.target;
    this.pipelineRolePolicy = pulumi
      .all([functions.submitFunction.arn, queues.callbackQueue.arn, scope, transform?.modelArn])
      .apply(([submitFunctionArn, callbackQueueArn, s, modelArn]) => {
        const bridgePolicy = pipelinePolicy({ submitFunctionArn, callbackQueueArn });
        if (modelArn === undefined) return bridgePolicy;
        const statements = transformPipelineStatements({
          scope: s,
          modelArn,
          instanceType: config.transformInstanceType,
        });
        return policy(...bridgePolicy.Statement, ...statements);
      });
    const pipeline = createPipeline(
      name,
      {
        config,
        submitFunction: functions.submitFunction,
        callbackQueue: queues.callbackQueue,
        bucketName,
        rolePolicy: this.pipelineRolePolicy,
        ...(definition ? { definition } : {}),
        ...(transform ? { transform: transform.target } : {}),
      },
      this,
    );
    // Every pipeline whose jobs the bridge runs: the stack's own and externalPipelineNames.
    const bridgedPipelineArns = pulumi
      .all([scope, pipeline.arn])
      .apply(([s]) => pipelineArns(s, config.bridgedPipelineNames));
    routeExecutionEnds(name, { config, pipelineArns: bridgedPipelineArns, queues: cleanupQueues }, this);

    let records: Records | undefined;
    if (config.recordApi) {
      records = createRecords(name, { config, scope, bucketName, pipeline }, this);
      this.recordApi = records.outputs;
    }
    const answeringFunctions = {
      monitor: functions.monitorFunction,
      ...(functions.jobEventFunction ? { "job-event": functions.jobEventFunction } : {}),
    };
    const alarms = createAlarms(
      name,
      {
        config,
        scope,
        jobQueueArn: batch.jobQueue.arn,
        functions: {
          submit: functions.submitFunction,
          cleanup: functions.cleanupFunction,
          ...answeringFunctions,
        },
        answeringFunctions,
        deadLetterQueues: {
          "callbacks-dlq": queues.deadLetterQueue,
          "cleanup-dlq": cleanupQueues.cleanupDeadLetterQueue,
        },
        ...(records ? { records: records.watched } : {}),
      },
      this,
    );
    this.dashboardName = alarms.dashboard.dashboardName;

    this.pipelineName = pipeline.pipelineName;
    this.pipelineArn = pipeline.arn;
    this.callbackQueueUrl = queues.callbackQueue.url;
    this.deadLetterQueueUrl = queues.deadLetterQueue.url;
    this.jobQueueArn = batch.jobQueue.arn;
    this.jobDefinitionArn = batch.jobDefinition.arn;
    this.submitFunctionName = functions.submitFunction.name;
    this.submitFunctionArn = functions.submitFunction.arn;
    this.monitorFunctionName = functions.monitorFunction.name;
    this.cleanupFunctionName = functions.cleanupFunction.name;
    this.cleanupDeadLetterQueueUrl = cleanupQueues.cleanupDeadLetterQueue.url;
    this.dataBucketName = bucketName;
    this.statusTableName = statusTable.name;
    this.startExecutionCommand = pulumi
      .all([pipeline.pipelineName, scope])
      .apply(
        ([pipelineName, s]) =>
          `aws sagemaker start-pipeline-execution --region ${s.region} --pipeline-name ${pipelineName}`,
      );

    this.registerOutputs({
      pipelineName: this.pipelineName,
      pipelineArn: this.pipelineArn,
      callbackQueueUrl: this.callbackQueueUrl,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      jobQueueArn: this.jobQueueArn,
      jobDefinitionArn: this.jobDefinitionArn,
      submitFunctionName: this.submitFunctionName,
      submitFunctionArn: this.submitFunctionArn,
      pipelineRolePolicy: this.pipelineRolePolicy,
      monitorFunctionName: this.monitorFunctionName,
      cleanupFunctionName: this.cleanupFunctionName,
      cleanupDeadLetterQueueUrl: this.cleanupDeadLetterQueueUrl,
      dataBucketName: this.dataBucketName,
      statusTableName: this.statusTableName,
      startExecutionCommand: this.startExecutionCommand,
      dashboardName: this.dashboardName,
      ...this.completionEvents,
      ...this.recordApi,
    });
  }

  /**
   * The bridge's two steps for a BatchBridge step, to put into a pipeline definition built in code: a
   * Lambda step `<Name>-Submit` and a Callback step `<Name>`, checked as a definition file's are (the
   * references to other steps are the pipeline's to check). The pipeline must be this stack's, or one of
   * its externalPipelineNames with a role holding `pipelineRolePolicy`.
   */
  batchBridgeSteps(step: BatchBridgeStep): pulumi.Output<StepDocument[]> {
    const problems = checkBatchBridgeStep({ ...step }, this.jobKinds, this.engine);
    const engine = step.Arguments.Engine ?? this.engine;
    if (engine === "transform" && !this.transformTarget) {
      problems.push(
        `step ${step.Name}, Arguments.Engine: the stack has no transform model; set its engine to ` +
          `transform, or give its pipeline definition a step on the transform engine.`,
      );
    }
    if (problems.length > 0) throw new PipelineDefinitionError(`step ${step.Name}`, problems);
    return pulumi
      .all([this.submitFunctionArn, this.callbackQueueUrl, this.transformTarget])
      .apply(([submitFunctionArn, callbackQueueUrl, transform]) =>
        expandBatchBridgeStep(
          step,
          { submitFunctionArn, callbackQueueUrl, ...(transform ? { transform } : {}) },
          this.engine,
        ),
      );
  }
}

/** The user's definition, from pipelineDefinitionFile or given in code, checked; undefined: none. */
function userDefinition(config: BridgeConfig, args: BatchBridgeArgs): PlannedDefinition | undefined {
  const file = config.pipelineDefinitionFile;
  if (file !== "" && args.pipelineDefinition !== undefined) {
    throw new Error(
      `${projectName}:pipelineDefinitionFile and the pipelineDefinition argument both give a pipeline ` +
        `definition: give one.`,
    );
  }
  const jobKinds = config.kinds.map((kind) => kind.name);
  const engine = config.engine;
  if (file !== "") {
    const document = readPipelineDefinitionFile(file, args.projectDirectory ?? process.cwd());
    return planPipelineDefinition(document, { jobKinds, source: file, engine });
  }
  if (args.pipelineDefinition !== undefined) {
    return planPipelineDefinition(args.pipelineDefinition, { jobKinds, source: "given in code", engine });
  }
  return undefined;
}

/** A definition's step on the transform engine in a stack whose engine is batch: the model must be set. */
function checkTransformModel(config: BridgeConfig): void {
  const problems: string[] = [];
  checkTransform(config, (key, message) => problems.push(`${projectName}:${key} ${message}`), true);
  if (problems.length > 0) throw new ConfigError(problems);
}
