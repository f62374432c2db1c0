/**
 * The schedules of a rendered stack: EventBridge rules with a `scheduleExpression` and a Lambda target (the
 * records flush with `recordTrigger: schedule`). EventBridge invokes the target every period, the first time
 * one period after the rule is created (EventBridge User Guide, "Schedule expressions for rules").
 */
import { resourcesOfType, type RenderedStack } from "./rendered-stack";

/** A schedule with its Lambda target. */
export interface ScheduleTarget {
  ruleName: string;
  expression: string;
  /** The period of a `rate(...)` expression. */
  periodSeconds: number;
  functionArn: string;
}

const unitSeconds: Record<string, number> = { minute: 60, hour: 3600, day: 86400 };

/** Every enabled schedule rule of the stack with its Lambda targets; a cron() schedule is refused by name. */
export function scheduleTargets(rendered: RenderedStack): ScheduleTarget[] {
  const targets = resourcesOfType(rendered, "aws:cloudwatch/eventTarget:EventTarget");
  return resourcesOfType(rendered, "aws:cloudwatch/eventRule:EventRule").flatMap((rule) => {
    const expression = rule.inputs.scheduleExpression;
    if (typeof expression !== "string" || rule.inputs.state === "DISABLED") return [];
    const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
    if (!rate) {
      throw new Error(`Schedule rule ${rule.name}: local mode runs rate() schedules, got ${expression}.`);
    }
    const periodSeconds = Number(rate[1]) * unitSeconds[rate[2]];
    return targets
      .filter(
        (target) => target.inputs.rule === rule.state.name && String(target.inputs.arn).includes(":lambda:"),
      )
      .map((target) => ({
        ruleName: String(rule.state.name),
        expression,
        periodSeconds,
        functionArn: String(target.inputs.arn),
      }));
  });
}
