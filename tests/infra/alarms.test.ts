import { expect } from "chai";
import { queueJobsLogMessage } from "../../functions/queue-jobs";
import { stepAnsweredLogMessage } from "../../functions/settlement";
import { ConfigError, parseConfig } from "../../infra/config";
import { renderStack } from "../../render/render-stack";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";
import { readablePlan } from "../../scripts/plan";

const types = {
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  metricFilter: "aws:cloudwatch/logMetricFilter:LogMetricFilter",
  dashboard: "aws:cloudwatch/dashboard:Dashboard",
  topic: "aws:sns/topic:Topic",
  subscription: "aws:sns/topicSubscription:TopicSubscription",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  eventRule: "aws:cloudwatch/eventRule:EventRule",
};
const namespace = "SageMakerBatchBridge/batch-bridge-dev";

const ofType = (stack: RenderedStack, type: string) => stack.resources.filter((r) => r.type === type);
const inputs = (r: RenderedResource) => r.inputs as Record<string, unknown>;

function alarm(stack: RenderedStack, name: string): Record<string, unknown> {
  const found = ofType(stack, types.alarm).filter((r) => r.name === `batch-bridge-${name}`);
  expect(found, `alarm ${name}`).to.have.length(1);
  return inputs(found[0]);
}

/** The metric filters that publish `metric`, by the log group they read. */
function filtersOf(
  stack: RenderedStack,
  metric: string,
): { logGroupName: string; pattern: string; value: string }[] {
  return ofType(stack, types.metricFilter)
    .map(inputs)
    .filter((i) => (i.metricTransformation as { name: string }).name === metric)
    .map((i) => ({
      logGroupName: i.logGroupName as string,
      pattern: i.pattern as string,
      value: (i.metricTransformation as { value: string; namespace: string }).value,
    }));
}

describe("alarms, their topic and the dashboard under the mock engine", function () {
  this.timeout(120_000);

  describe("the dev stack (completionEvents, no alarm topic or email)", () => {
    let stack: RenderedStack;
    before(async () => {
      stack = await renderStack({ stack: "dev" });
    });

    it("alarms on each dead-letter queue as soon as it holds a message", () => {
      for (const [name, queue] of [
        ["callbacks-dlq", "batch-bridge-dev-callbacks-dlq"],
        ["cleanup-dlq", "batch-bridge-dev-cleanup-dlq"],
      ]) {
        expect(alarm(stack, `${name}-not-empty`)).to.deep.include({
          namespace: "AWS/SQS",
          metricName: "ApproximateNumberOfMessagesVisible",
          dimensions: { QueueName: queue },
          comparisonOperator: "GreaterThanThreshold",
          threshold: 0,
        });
      }
    });

    it("alarms on the errors and the throttles of every function", () => {
      const functionNames = stack.resources
        .filter((r) => r.type === "aws:lambda/function:Function")
        .map((r) => String(r.state.name));
      expect(functionNames).to.have.length(5);
      const watched = ofType(stack, types.alarm)
        .map(inputs)
        .filter((i) => i.namespace === "AWS/Lambda")
        .map((i) => `${(i.dimensions as { FunctionName: string }).FunctionName} ${i.metricName}`);
      expect(watched.sort()).to.deep.equal(
        functionNames.flatMap((f) => [`${f} Errors`, `${f} Throttles`]).sort(),
      );
    });

    it("counts failed steps from the answering functions' 'step answered' lines, and alarms on one", () => {
      expect(filtersOf(stack, "StepsFailed")).to.deep.equal(
        ["job-event", "monitor"].map((part) => ({
          logGroupName: `/aws/lambda/batch-bridge-dev-${part}`,
          pattern: `{ $.message = "${stepAnsweredLogMessage}" && $.outcome = "failure" }`,
          value: "1",
        })),
      );
      expect(alarm(stack, "steps-failed")).to.deep.include({
        namespace,
        metricName: "StepsFailed",
        statistic: "Sum",
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
      });
    });

    it("alarms once a job has waited RUNNABLE runnableAlarmMinutes, measured every minute by the queue-jobs function", () => {
      expect(filtersOf(stack, "OldestRunnableJobSeconds")).to.deep.equal([
        {
          logGroupName: "/aws/lambda/batch-bridge-dev-queue-jobs",
          pattern: `{ $.message = "${queueJobsLogMessage}" }`,
          value: "$.oldestRunnableSeconds",
        },
      ]);
      expect(alarm(stack, "jobs-runnable-too-long")).to.deep.include({
        namespace,
        metricName: "OldestRunnableJobSeconds",
        statistic: "Maximum",
        period: 60,
        threshold: 3600,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      });
      const schedule = ofType(stack, types.eventRule).find((r) => r.name === "batch-bridge-queue-jobs");
      expect(schedule && inputs(schedule).scheduleExpression).to.equal("rate(1 minute)");
    });

    it("lets the queue-jobs function only read jobs and write its own logs", () => {
      const policy = ofType(stack, types.rolePolicy).find((r) => r.name === "batch-bridge-queue-jobs");
      const statements = JSON.parse(inputs(policy!).policy as string).Statement as {
        Action: string[];
        Resource: string | string[];
      }[];
      expect(statements.map((s) => s.Action)).to.deep.equal([
        ["batch:DescribeJobs", "batch:ListJobs"],
        ["logs:CreateLogStream", "logs:PutLogEvents"],
      ]);
      expect(statements[1].Resource).to.equal(
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/batch-bridge-dev-queue-jobs:log-stream:*",
      );
    });

    it("creates the alarms without actions and no topic", () => {
      expect(ofType(stack, types.topic)).to.deep.equal([]);
      for (const each of ofType(stack, types.alarm))
        expect(inputs(each).alarmActions, each.name).to.equal(undefined);
    });

    it("draws one dashboard with the Batch jobs by state and the alarms' signals", () => {
      const dashboards = ofType(stack, types.dashboard);
      expect(dashboards).to.have.length(1);
      const body = JSON.parse(inputs(dashboards[0]).dashboardBody as string) as {
        widgets: { properties: { title: string; metrics?: unknown[][]; alarms?: string[] } }[];
      };
      const byTitle = Object.fromEntries(body.widgets.map((w) => [w.properties.title, w.properties]));
      expect(
        byTitle["Batch jobs by state (the job queue, every minute)"].metrics!.map((m) => m[1]),
      ).to.deep.equal(["JobsSubmitted", "JobsPending", "JobsRunnable", "JobsStarting", "JobsRunning"]);
      expect(byTitle.Alarms.alarms).to.have.length(ofType(stack, types.alarm).length);
      expect(Object.keys(byTitle)).to.include.members([
        "Oldest RUNNABLE job (seconds)",
        "Steps answered",
        "Dead-letter queues (messages)",
        "Function errors",
        "Function throttles",
      ]);
      expect(stack.outputs.dashboardName).to.equal("batch-bridge-dev");
    });

    it("shows the alarms, their thresholds and the dashboard in npm run plan", () => {
      const plan = readablePlan(stack);
      expect(plan).to.include("aws:cloudwatch:MetricAlarm batch-bridge-jobs-runnable-too-long");
      expect(plan).to.include("threshold: 3600");
      expect(plan).to.include("aws:cloudwatch:Dashboard batch-bridge-dashboard");
    });
  });

  describe("with alarmEmail and recordApi (one render)", () => {
    let stack: RenderedStack;
    before(async () => {
      stack = await renderStack({
        stack: "dev",
        config: { alarmEmail: "ops@example.com", recordApi: true, recordFailedAlarmPercent: 5 },
      });
    });

    it("sends every alarm to a topic of the stack's own that emails alarmEmail", () => {
      const [topic] = ofType(stack, types.topic);
      const topicArn = String(topic.state.arn);
      expect(inputs(ofType(stack, types.subscription)[0])).to.deep.include({
        topic: topicArn,
        protocol: "email",
        endpoint: "ops@example.com",
      });
      for (const each of ofType(stack, types.alarm)) {
        expect(inputs(each).alarmActions, each.name).to.deep.equal([topicArn]);
      }
      expect(readablePlan(stack)).to.include("aws:sns:Topic batch-bridge-alarms");
    });

    it("alarms on the share of Failed records (metric math) and on the records' dead-letter queues", () => {
      const share = alarm(stack, "records-failed-share");
      expect(share).to.deep.include({ threshold: 5, comparisonOperator: "GreaterThanThreshold" });
      const queries = share.metricQueries as {
        id: string;
        expression?: string;
        metric?: { metricName: string };
      }[];
      expect(queries.map((q) => q.expression ?? q.metric!.metricName)).to.deep.equal([
        "RecordsFailed",
        "RecordsProcessed",
        "IF(failed + processed > 0, 100 * failed / (failed + processed), 0)",
      ]);
      expect(filtersOf(stack, "RecordsFailed")).to.deep.equal([
        {
          logGroupName: "/aws/lambda/batch-bridge-dev-records-status",
          pattern: '{ $.message = "batch ended" }',
          value: "$.failed",
        },
      ]);
      expect(alarm(stack, "records-dlq-not-empty").dimensions).to.deep.equal({
        QueueName: "batch-bridge-records-dlq",
      });
      expect(alarm(stack, "records-status-dlq-not-empty").dimensions).to.deep.equal({
        QueueName: "batch-bridge-records-status-dlq",
      });
    });
  });

  it("sends every alarm to alarmTopicArn, and creates no topic", async () => {
    const topicArn = "arn:aws:sns:us-east-1:123456789012:ops-pager";
    const stack = await renderStack({ stack: "dev", config: { alarmTopicArn: topicArn } });
    expect(ofType(stack, types.topic)).to.deep.equal([]);
    for (const each of ofType(stack, types.alarm)) {
      expect(inputs(each).alarmActions, each.name).to.deep.equal([topicArn]);
    }
  });

  it("refuses alarm settings it cannot use, naming the key and what is allowed", () => {
    const problems = (config: Record<string, unknown>) => {
      try {
        parseConfig(config as never);
      } catch (error) {
        if (error instanceof ConfigError) return error.message;
        throw error;
      }
      return "";
    };
    expect(
      problems({ alarmEmail: "ops@example.com", alarmTopicArn: "arn:aws:sns:us-east-1:123456789012:t" }),
    ).to.include("sagemaker-batch-bridge:alarmEmail cannot be combined with alarmTopicArn");
    expect(problems({ alarmTopicArn: "ops-topic" })).to.include(
      'sagemaker-batch-bridge:alarmTopicArn must be an SNS topic ARN, arn:aws:sns:<region>:<account>:<topic>, or empty, got "ops-topic".',
    );
    expect(problems({ alarmEmail: "ops" })).to.include(
      "sagemaker-batch-bridge:alarmEmail must be an email address",
    );
    expect(problems({ runnableAlarmMinutes: 2 })).to.include("sagemaker-batch-bridge:runnableAlarmMinutes");
  });
});
