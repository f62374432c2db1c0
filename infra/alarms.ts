/**
 * What pages an operator, and what they look at: CloudWatch alarms on the bridge's signals, the SNS topic
 * the alarms notify, one dashboard, and the queue-jobs function whose once-a-minute count of the job
 * queue's jobs feeds the RUNNABLE alarm and the dashboard.
 *
 * The bridge's own metrics come from metric filters on the functions' JSON log lines (CloudWatch Logs
 * "Creating metric filters"), not from the Powertools Metrics library or PutMetricData: nothing is added
 * to the Lambda archives, and no role needs cloudwatch:PutMetricData.
 */
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as lambda from "@pulumi/aws/lambda";
import * as sns from "@pulumi/aws/sns";
import type * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import { queueJobsHandlerFromEnvironment } from "../functions/entrypoints";
import { unfinishedStatuses } from "../functions/execution-jobs";
import { queueJobsLogMessage } from "../functions/queue-jobs";
import { stepAnsweredLogMessage } from "../functions/settlement";
import { environmentVariables } from "../functions/step-contract";
import type { BridgeConfig } from "./config";
import { createBridgeFunction } from "./functions";
import { queueJobsFunctionPolicy, type AwsScope } from "./iam-policies";

/** The metric filter of the records status function's "batch ended" line (functions/records/record-status.ts). */
const recordBatchEndedLogMessage = "batch ended";

/** Module-level, so that the closure is one function object however often the stack is built. */
const queueJobsFactory = () => queueJobsHandlerFromEnvironment(process.env);

/** The records front door's parts the alarms watch (recordApi only). */
export interface WatchedRecords {
  /** By the part of their names: `records-api`, ... */
  functions: Record<string, lambda.Function>;
  statusFunction: lambda.Function;
  deadLetterQueues: Record<string, sqs.Queue>;
}

export interface AlarmsArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  jobQueueArn: pulumi.Output<string>;
  /** Every function of the bridge by the part of its name (Errors and Throttles alarms each). */
  functions: Record<string, lambda.Function>;
  /** The functions that answer steps (their "step answered" lines count failed steps), by part. */
  answeringFunctions: Record<string, lambda.Function>;
  /** Every dead-letter queue by a short name (an alarm each as soon as one holds a message). */
  deadLetterQueues: Record<string, sqs.Queue>;
  records?: WatchedRecords;
}

export interface BridgeAlarms {
  /** Where the alarms go: alarmTopicArn, the stack's own topic, or undefined (alarms without actions). */
  topicArn?: pulumi.Output<string>;
  alarms: cloudwatch.MetricAlarm[];
  dashboard: cloudwatch.Dashboard;
  queueJobsFunction: lambda.CallbackFunction<unknown, unknown>;
}

/** The namespace of the bridge's metrics: one per stack, by its pipeline name. */
export function metricNamespace(config: BridgeConfig): string {
  return `SageMakerBatchBridge/${config.pipelineName}`;
}

/** The bridge's metrics, by name. */
export const bridgeMetrics = {
  stepsFailed: "StepsFailed",
  stepsSucceeded: "StepsSucceeded",
  oldestRunnableSeconds: "OldestRunnableJobSeconds",
  recordsFailed: "RecordsFailed",
  recordsProcessed: "RecordsProcessed",
  /** `Jobs<State>`: the queue's jobs in each unfinished state. */
  jobsIn: (state: string) => `Jobs${state[0]}${state.slice(1).toLowerCase()}`,
} as const;

/** An alarm on any datapoint above 0 in a 5-minute period; no data is no trouble. */
const anyInFiveMinutes = {
  period: 300,
  evaluationPeriods: 1,
  threshold: 0,
  comparisonOperator: "GreaterThanThreshold",
  treatMissingData: "notBreaching",
} as const;

/** The alarms, their topic, the dashboard and the function that counts the queue's jobs. */
export function createAlarms(name: string, args: AlarmsArgs, parent: pulumi.Resource): BridgeAlarms {
  const { config } = args;
  const opts = { parent };
  const namespace = metricNamespace(config);
  const topicArn = alarmTopic(name, config, parent);
  const actions = topicArn ? { alarmActions: [topicArn], okActions: [topicArn] } : {};
  const alarms: cloudwatch.MetricAlarm[] = [];
  const alarm = (part: string, alarmArgs: cloudwatch.MetricAlarmArgs) =>
    alarms.push(
      new cloudwatch.MetricAlarm(
        `${name}-${part}`,
        { name: `${config.pipelineName}-${part}`, ...alarmArgs, ...actions },
        opts,
      ),
    );
  // A message in a dead-letter queue is a callback, clean-up or record the bridge could not handle.
  const deadLetterAlarm = (queueName: string, queue: sqs.Queue) =>
    alarm(`${queueName}-not-empty`, {
      alarmDescription: queue.name.apply((q) => `Dead-letter queue ${q} holds messages: read their reason.`),
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: queue.name },
      statistic: "Maximum",
      ...anyInFiveMinutes,
    });

  const queueJobsFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "queue-jobs",
      description: "Counts the job queue's unfinished jobs by state once a minute, for the alarms.",
      roleDescription: "List and describe Batch jobs; write its own logs.",
      policy: (logGroupArn) => logGroupArn.apply((arn) => queueJobsFunctionPolicy({ logGroupArn: arn })),
      timeoutSeconds: 50,
      environment: { [environmentVariables.jobQueue]: args.jobQueueArn },
      callbackFactory: queueJobsFactory,
    },
    config,
    parent,
  );
  const schedule = new cloudwatch.EventRule(
    `${name}-queue-jobs`,
    {
      description: `Counts the jobs of the ${config.pipelineName} pipeline's queue every minute.`,
      scheduleExpression: "rate(1 minute)",
      state: "ENABLED",
    },
    opts,
  );
  new cloudwatch.EventTarget(`${name}-queue-jobs`, { rule: schedule.name, arn: queueJobsFunction.arn }, opts);
  new lambda.Permission(
    `${name}-queue-jobs`,
    {
      action: "lambda:InvokeFunction",
      function: queueJobsFunction.name,
      principal: "events.amazonaws.com",
      sourceArn: schedule.arn,
    },
    opts,
  );

  // Metric filters: JSON patterns on the Powertools Logger's lines (`message` is its message key).
  const logGroupOf = (fn: lambda.Function) => fn.loggingConfig.apply((logging) => logging.logGroup!);
  const metricFilter = (part: string, fn: lambda.Function, pattern: string, metric: string, value: string) =>
    new cloudwatch.LogMetricFilter(
      `${name}-${part}`,
      {
        logGroupName: logGroupOf(fn),
        pattern,
        metricTransformation: { namespace, name: metric, value, unit: "None" },
      },
      opts,
    );
  for (const [part, fn] of Object.entries(args.answeringFunctions)) {
    for (const [outcome, metric] of [
      ["failure", bridgeMetrics.stepsFailed],
      ["success", bridgeMetrics.stepsSucceeded],
    ] as const) {
      metricFilter(
        `${part}-steps-${outcome}`,
        fn,
        `{ $.message = "${stepAnsweredLogMessage}" && $.outcome = "${outcome}" }`,
        metric,
        "1",
      );
    }
  }
  const queueJobsPattern = `{ $.message = "${queueJobsLogMessage}" }`;
  metricFilter(
    "queue-jobs-oldest-runnable",
    queueJobsFunction,
    queueJobsPattern,
    bridgeMetrics.oldestRunnableSeconds,
    "$.oldestRunnableSeconds",
  );
  for (const state of unfinishedStatuses) {
    metricFilter(
      `queue-jobs-${state.toLowerCase()}`,
      queueJobsFunction,
      queueJobsPattern,
      bridgeMetrics.jobsIn(state),
      `$.${state}`,
    );
  }

  // Each dead-letter queue: a message in it is a callback, clean-up or record the bridge could not handle.
  for (const [queueName, queue] of Object.entries(args.deadLetterQueues)) {
    deadLetterAlarm(queueName, queue);
  }
  const functions = { ...args.functions, "queue-jobs": queueJobsFunction, ...args.records?.functions };
  for (const [part, fn] of Object.entries(functions)) {
    for (const metricName of ["Errors", "Throttles"]) {
      alarm(`${part}-${metricName.toLowerCase()}`, {
        alarmDescription: fn.name.apply((f) => `Function ${f}: ${metricName} in the last 5 minutes.`),
        namespace: "AWS/Lambda",
        metricName,
        dimensions: { FunctionName: fn.name },
        statistic: "Sum",
        ...anyInFiveMinutes,
      });
    }
  }
  alarm("steps-failed", {
    alarmDescription: "A bridge step was answered with failure: the step's failure reason says why.",
    namespace,
    metricName: bridgeMetrics.stepsFailed,
    statistic: "Sum",
    ...anyInFiveMinutes,
  });
  alarm("jobs-runnable-too-long", {
    alarmDescription:
      `A job has waited RUNNABLE for ${config.runnableAlarmMinutes} minutes (runnableAlarmMinutes): ` +
      `the compute environment has no capacity to start it (maxVcpus, subnets, Fargate quota).`,
    namespace,
    metricName: bridgeMetrics.oldestRunnableSeconds,
    statistic: "Maximum",
    period: 60,
    evaluationPeriods: 1,
    threshold: config.runnableAlarmMinutes * 60,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    // No line in a minute: the queue-jobs function's Errors alarm says why.
    treatMissingData: "notBreaching",
  });

  if (args.records) {
    const statusFunction = args.records.statusFunction;
    const ended = `{ $.message = "${recordBatchEndedLogMessage}" }`;
    metricFilter("records-failed", statusFunction, ended, bridgeMetrics.recordsFailed, "$.failed");
    metricFilter("records-processed", statusFunction, ended, bridgeMetrics.recordsProcessed, "$.processed");
    for (const [queueName, queue] of Object.entries(args.records.deadLetterQueues)) {
      deadLetterAlarm(queueName, queue);
    }
    // Metric math: the Failed share of the records that became final in the hour (CloudWatch User Guide,
    // "Using math expressions with CloudWatch metrics"); no record finished: 0.
    const hourly = (id: string, metricName: string) => ({
      id,
      returnData: false,
      metric: { namespace, metricName, period: 3600, stat: "Sum" },
    });
    alarm("records-failed-share", {
      alarmDescription:
        `More than ${config.recordFailedAlarmPercent}% of the records finished in the hour are Failed ` +
        `(recordFailedAlarmPercent): GET /job/{job_id} gives each one's error.`,
      metricQueries: [
        hourly("failed", bridgeMetrics.recordsFailed),
        hourly("processed", bridgeMetrics.recordsProcessed),
        {
          id: "failedPercent",
          label: "Failed records (%)",
          expression: "IF(failed + processed > 0, 100 * failed / (failed + processed), 0)",
          returnData: true,
        },
      ],
      evaluationPeriods: 1,
      threshold: config.recordFailedAlarmPercent,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
    });
  }

  const dashboard = createDashboard(name, args, { namespace, functions, alarms }, parent);
  return { ...(topicArn ? { topicArn } : {}), alarms, dashboard, queueJobsFunction };
}

/** alarmTopicArn, or a topic of the stack's own that emails alarmEmail, or none. */
function alarmTopic(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): pulumi.Output<string> | undefined {
  if (config.alarmTopicArn !== "") return pulumi.output(config.alarmTopicArn);
  if (config.alarmEmail === "") return undefined;
  const topic = new sns.Topic(
    `${name}-alarms`,
    { name: `${config.pipelineName}-alarms`, displayName: `${config.pipelineName} alarms` },
    { parent },
  );
  // SNS emails a confirmation first: nothing is delivered until the recipient confirms.
  new sns.TopicSubscription(
    `${name}-alarms-email`,
    { topic: topic.arn, protocol: "email", endpoint: config.alarmEmail },
    { parent },
  );
  return topic.arn;
}

/** One dashboard: the alarms, the queue's jobs by state, answered steps, the functions and the records. */
function createDashboard(
  name: string,
  args: AlarmsArgs,
  made: { namespace: string; functions: Record<string, lambda.Function>; alarms: cloudwatch.MetricAlarm[] },
  parent: pulumi.Resource,
): cloudwatch.Dashboard {
  const { config } = args;
  const { namespace } = made;
  const body = pulumi
    .all([
      args.scope,
      pulumi.all(Object.values(made.functions).map((fn) => fn.name)),
      pulumi.all(made.alarms.map((a) => a.arn)),
      pulumi.all(
        Object.values({ ...args.deadLetterQueues, ...args.records?.deadLetterQueues }).map((q) => q.name),
      ),
    ])
    .apply(([scope, functionNames, alarmArns, queueNames]) => {
      const widget = (title: string, metrics: unknown[][], extra: Record<string, unknown> = {}) => ({
        type: "metric",
        width: 12,
        height: 6,
        properties: { title, region: scope.region, metrics, view: "timeSeries", ...extra },
      });
      const widgets = [
        {
          type: "alarm",
          width: 24,
          height: 4,
          properties: { title: "Alarms", alarms: alarmArns },
        },
        widget(
          "Batch jobs by state (the job queue, every minute)",
          unfinishedStatuses.map((state) => [namespace, bridgeMetrics.jobsIn(state), { label: state }]),
          { stat: "Maximum", period: 60, stacked: true },
        ),
        widget(
          "Oldest RUNNABLE job (seconds)",
          [[namespace, bridgeMetrics.oldestRunnableSeconds, { label: "waiting" }]],
          {
            stat: "Maximum",
            period: 60,
            annotations: {
              horizontal: [{ label: "runnableAlarmMinutes", value: config.runnableAlarmMinutes * 60 }],
            },
          },
        ),
        widget(
          "Steps answered",
          [
            [namespace, bridgeMetrics.stepsSucceeded, { label: "success" }],
            [namespace, bridgeMetrics.stepsFailed, { label: "failure" }],
          ],
          { stat: "Sum", period: 300 },
        ),
        widget(
          "Dead-letter queues (messages)",
          queueNames.map((q) => ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]),
          { stat: "Maximum", period: 300 },
        ),
        widget(
          "Function errors",
          functionNames.map((f) => ["AWS/Lambda", "Errors", "FunctionName", f]),
          { stat: "Sum", period: 300 },
        ),
        widget(
          "Function throttles",
          functionNames.map((f) => ["AWS/Lambda", "Throttles", "FunctionName", f]),
          { stat: "Sum", period: 300 },
        ),
        ...(args.records
          ? [
              widget(
                "Records finished",
                [
                  [namespace, bridgeMetrics.recordsProcessed, { label: "Processed" }],
                  [namespace, bridgeMetrics.recordsFailed, { label: "Failed" }],
                ],
                { stat: "Sum", period: 3600, stacked: true },
              ),
            ]
          : []),
      ];
      return JSON.stringify({ widgets });
    });
  return new cloudwatch.Dashboard(
    `${name}-dashboard`,
    { dashboardName: config.pipelineName, dashboardBody: body },
    { parent },
  );
}
