import { expect } from "chai";
import { BatchClient, SubmitJobCommand } from "@aws-sdk/client-batch";
import { startBatchServer, type BatchServer } from "../../../local/batch/server";
import type { Handler, LambdaFunctionSpec } from "../../../local/designs/design";
import { LambdaService, type InvocationResult } from "../../../local/runner/lambda";
import { HttpActivity, installSimulatedProcess, settle } from "../../../local/runner/simulated-process";
import { SimClock } from "../../../local/time/clock";
import { localClientConfig } from "../aws-config";

const start = Date.UTC(2030, 0, 1);

/** A function of `timeoutSeconds` whose instances are made by `makeHandler` (one call per cold start). */
function functionSpec(timeoutSeconds: number, makeHandler: () => Handler): LambdaFunctionSpec {
  return {
    name: "worker",
    functionName: "batch-bridge-worker",
    arn: "arn:aws:lambda:us-east-1:123456789012:function:batch-bridge-worker",
    timeoutSeconds,
    memoryMiB: 128,
    load: makeHandler,
  };
}

const submitJob = new SubmitJobCommand({ jobName: "job", jobQueue: "jobs", jobDefinition: "job" });

describe("local Lambda: the function timeout", () => {
  let clock: SimClock;
  let server: BatchServer;
  let restore: () => void;
  let activity: HttpActivity;
  const clients: BatchClient[] = [];

  /** A handler's own Batch client, as a function builds one in its factory. */
  function batchClient(): BatchClient {
    const client = new BatchClient({ ...localClientConfig(server.endpoint), maxAttempts: 1 });
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: start });
    server = await startBatchServer({ clock, seed: 1 });
    restore = installSimulatedProcess(clock, 1, {});
    activity = new HttpActivity();
  });

  afterEach(async () => {
    activity.close();
    restore();
    for (const client of clients.splice(0)) client.destroy();
    await server.stop();
    clock.stop();
  });

  /** Steps the clock from rest to rest, as the runner does, until `invocation` has an answer. */
  async function answerOf(invocation: Promise<InvocationResult>): Promise<InvocationResult> {
    let result: InvocationResult | undefined;
    void invocation.then((r) => (result = r));
    for (let steps = 0; steps < 100; steps += 1) {
      await settle(activity, clock);
      if (result) return result;
      if (clock.advanceToNextTimer() === undefined) break;
    }
    throw new Error("the invocation never answered");
  }

  it("ends the invocation at its timeout, in simulated time, whatever the handler still waits for", async () => {
    const lambda = new LambdaService(clock, [
      functionSpec(3, () => () => new Promise((resolve) => setTimeout(resolve, 60_000))),
    ]);
    const result = await answerOf(lambda.invoke("batch-bridge-worker", {}));
    expect(result).to.deep.include({
      ok: false,
      timedOut: true,
      message: "Task timed out after 3.00 seconds",
    });
    expect(clock.now() - start).to.equal(3_000);
    expect(lambda.timedOut()).to.deep.equal({ worker: 1 });
    expect(lambda.errors()).to.deep.equal({ worker: 1 });
    expect(lambda.inFlight).to.equal(0);
  });

  it("refuses the calls a stopped invocation makes afterwards, before they reach the service", async () => {
    let release: () => void = () => undefined;
    const late = new Promise<void>((resolve) => (release = resolve));
    let lateCall: unknown;
    const lambda = new LambdaService(clock, [
      functionSpec(3, () => {
        const batch = batchClient();
        return async () => {
          await batch.send(submitJob);
          // Something the handler waits for answers after its deadline: it carries on, but may not act.
          await late;
          lateCall = await batch.send(submitJob).catch((error: unknown) => error);
        };
      }),
    ]);
    const result = await answerOf(lambda.invoke("batch-bridge-worker", {}));
    expect(result).to.deep.include({ ok: false, timedOut: true });
    release();
    await settle(activity, clock);
    expect(lateCall).to.be.instanceOf(Error);
    expect((lateCall as Error).name).to.equal("InvocationEndedError");
    expect((lateCall as Error).message).to.match(
      /^worker was stopped at its timeout \(2030-01-01T00:00:03.000Z\)/,
    );
    expect(server.calls()).to.deep.equal({ SubmitJob: 1 });
    expect(server.snapshot()).to.have.length(1);
    expect(lambda.refusedAfterTimeout()).to.equal(1);
  });

  it("never fires the timers a stopped invocation set, so what it scheduled does not happen", async () => {
    const lambda = new LambdaService(clock, [
      functionSpec(3, () => {
        const batch = batchClient();
        return () =>
          new Promise((resolve) => {
            setTimeout(() => void batch.send(submitJob).then(resolve), 10_000);
          });
      }),
    ]);
    const result = await answerOf(lambda.invoke("batch-bridge-worker", {}));
    expect(result).to.deep.include({ timedOut: true });
    clock.advance(60_000);
    await settle(activity, clock);
    expect(server.calls()).to.deep.equal({});
    expect(clock.pendingTimers()).to.equal(0);
  });

  it("answers a handler that returns before its deadline, and starts the next invocation cold only after a timeout", async () => {
    const lambda = new LambdaService(clock, [
      functionSpec(3, () => async (event) => {
        const seconds = (event as { seconds: number }).seconds;
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        return `slept ${seconds} s`;
      }),
    ]);
    expect(await answerOf(lambda.invoke("batch-bridge-worker", { seconds: 2 }))).to.deep.equal({
      ok: true,
      value: "slept 2 s",
    });
    expect(await answerOf(lambda.invoke("batch-bridge-worker", { seconds: 2 }))).to.deep.include({
      ok: true,
    });
    expect(lambda.coldStarts()).to.deep.equal({ worker: 1 });
    expect(await answerOf(lambda.invoke("batch-bridge-worker", { seconds: 5 }))).to.deep.include({
      timedOut: true,
    });
    expect(await answerOf(lambda.invoke("batch-bridge-worker", { seconds: 1 }))).to.deep.include({
      ok: true,
    });
    expect(lambda.coldStarts()).to.deep.equal({ worker: 2 });
    expect(lambda.timedOut()).to.deep.equal({ worker: 1 });
  });

  it("reports a handler that throws before its deadline as failed, not timed out", async () => {
    const lambda = new LambdaService(clock, [
      functionSpec(3, () => () => {
        throw new TypeError("bad event");
      }),
    ]);
    const result = await answerOf(lambda.invoke("batch-bridge-worker", {}));
    expect(result).to.deep.include({ ok: false, timedOut: false, message: "TypeError: bad event" });
    expect(lambda.timedOut()).to.deep.equal({});
    expect(clock.now()).to.equal(start);
  });
});
