/**
 * A rendered stack a test changes before local mode runs it: a function whose code does what the test
 * needs, or an event rule and target the stack does not have. The change is made to a copy of the render
 * the run would use, so everything else is exactly the stack's. Changes add resources or replace a
 * function's code; they do not edit the shared resources in place.
 */
import { bridgeDesign } from "../../local/designs/bridge-design";
import type { DesignRequest, PreparedDesign } from "../../local/designs/design";
import { renderedStack, runConfig } from "../../local/designs/prepare";
import type { RenderedResource, RenderedStack } from "../../render/rendered-stack";

/** `RunOptions.prepareDesign` for the bridge design of the stack as `change` leaves it. */
export function changedStack(
  change: (rendered: RenderedStack) => void,
): (request: DesignRequest) => Promise<PreparedDesign> {
  return async (request) => {
    const overrides = runConfig(request);
    const shared = await renderedStack(
      request.stack,
      Object.fromEntries(Object.entries(overrides).map(([key, { value }]) => [key, value])),
    );
    // The render is shared by the runs of this process: the change goes to copies of its lists.
    const rendered: RenderedStack = {
      ...shared,
      resources: [...shared.resources],
      functions: shared.functions.map((fn) => ({ ...fn })),
    };
    change(rendered);
    return bridgeDesign(rendered, request, overrides);
  };
}

/** Replaces the code of the function with this logical name (`batch-bridge-submit`, ...) by `indexJs`. */
export function replaceFunctionCode(rendered: RenderedStack, name: string, indexJs: string): void {
  const fn = rendered.functions.find((f) => f.name === name);
  if (!fn) throw new Error(`The ${rendered.stack} stack has no function ${name}.`);
  fn.indexJs = indexJs;
}

/** Adds a resource as the mock engine would have recorded it (its state: its inputs and `extra`). */
export function addResource(
  rendered: RenderedStack,
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): RenderedResource {
  const resource: RenderedResource = {
    type,
    name,
    urn: `urn:pulumi:${rendered.stack}::sagemaker-batch-bridge::${type}::${name}`,
    id: `${name}-id`,
    custom: true,
    inputs,
    state: { ...inputs, ...extra },
  };
  rendered.resources.push(resource);
  return resource;
}

/** Where a recorder function puts what it received, by recorder name (the test reads it here). */
const recorded = Symbol.for("sagemaker-batch-bridge:fixture-recorded-events");

/** One event a recorder received, and when (simulated ms since the epoch). */
export interface RecordedEvent {
  receivedAt: number;
  event: { source: string; "detail-type": string; time: string; detail: Record<string, unknown> };
}

/** The events the recorder named `name` received, in order (each delivery once). */
export function recordedEvents(name: string): RecordedEvent[] {
  const byName = (globalThis as Record<symbol, Record<string, RecordedEvent[]> | undefined>)[recorded] ?? {};
  return byName[name] ?? [];
}

/** Forgets what every recorder received. */
export function clearRecordedEvents(): void {
  delete (globalThis as Record<symbol, unknown>)[recorded];
}

/**
 * Adds an EventBridge rule with `pattern` whose target records the events it receives: a Lambda function
 * (`via: "lambda"`), or an SQS queue read by such a function through an event source mapping (`via:
 * "sqs"`: the function records each message's body, the event). Read them with `recordedEvents(name)`.
 */
export function addEventRecorder(
  rendered: RenderedStack,
  name: string,
  pattern: Record<string, unknown>,
  via: "lambda" | "sqs",
): void {
  const region = rendered.config["aws:region"] ?? "us-east-1";
  const account = "123456789012";
  const functionName = `${name}-recorder`;
  const functionArn = `arn:aws:lambda:${region}:${account}:function:${functionName}`;
  addResource(
    rendered,
    "aws:lambda/function:Function",
    functionName,
    { timeout: 30 },
    {
      name: functionName,
      arn: functionArn,
    },
  );
  rendered.functions.push({
    name: functionName,
    functionName,
    runtime: "nodejs22.x",
    handler: "__index.handler",
    environment: {},
    files: ["__index.js"],
    archiveBytes: 0,
    indexJs: `
      exports.handler = async (event) => {
        const byName = (globalThis[Symbol.for("sagemaker-batch-bridge:fixture-recorded-events")] ??= {});
        const events = event.Records ? event.Records.map((record) => JSON.parse(record.body)) : [event];
        const receivedAt = Date.now();
        (byName[${JSON.stringify(name)}] ??= []).push(...events.map((e) => ({ receivedAt, event: e })));
        return {};
      };`,
  });
  let targetArn = functionArn;
  if (via === "sqs") {
    const queueName = `${name}-events`;
    targetArn = `arn:aws:sqs:${region}:${account}:${queueName}`;
    addResource(
      rendered,
      "aws:sqs/queue:Queue",
      queueName,
      { name: queueName, visibilityTimeoutSeconds: 180 },
      {
        url: `https://sqs.${region}.amazonaws.com/${account}/${queueName}`,
        arn: targetArn,
      },
    );
    addResource(rendered, "aws:lambda/eventSourceMapping:EventSourceMapping", queueName, {
      eventSourceArn: targetArn,
      functionName: functionArn,
      batchSize: 10,
    });
  }
  const ruleName = `${name}-rule`;
  addResource(rendered, "aws:cloudwatch/eventRule:EventRule", ruleName, {
    name: ruleName,
    eventPattern: JSON.stringify(pattern),
    state: "ENABLED",
  });
  addResource(rendered, "aws:cloudwatch/eventTarget:EventTarget", ruleName, {
    rule: ruleName,
    arn: targetArn,
  });
}
