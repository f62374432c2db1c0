import { expect } from "chai";
import { AsyncLocalStorage } from "node:async_hooks";
import { SimClock } from "../../../local/time/clock";

const start = Date.UTC(2030, 0, 1);

describe("SimClock", () => {
  const clocks: SimClock[] = [];
  const clock = (speed: number): SimClock => {
    const created = new SimClock({ speed, startMs: start });
    clocks.push(created);
    return created;
  };
  afterEach(() => clocks.splice(0).forEach((c) => c.stop()));

  it("rejects a speed that is not a number >= 0", () => {
    expect(() => new SimClock({ speed: -1 })).to.throw(/speed must be a finite number >= 0/);
    expect(() => new SimClock({ speed: Number.NaN })).to.throw(/speed/);
  });

  it("compresses time: 60 simulated seconds pass in about 33 ms at 1,800x", async () => {
    const c = clock(1800);
    const wallStart = performance.now();
    await c.sleep(60_000);
    const wall = performance.now() - wallStart;
    expect(c.now() - start).to.be.at.least(60_000);
    expect(wall).to.be.within(25, 500);
  });

  it("keeps a 10-second timer longer than a 1-second one in wall time at 1,800x", async () => {
    const c = clock(1800);
    const wallStart = performance.now();
    const fired: { name: string; sim: number; wall: number }[] = [];
    const record = (name: string) => () =>
      fired.push({ name, sim: c.now() - start, wall: performance.now() - wallStart });
    c.setTimeout(record("ten"), 10_000);
    c.setTimeout(record("one"), 1_000);
    await c.sleep(12_000);
    expect(fired.map((f) => f.name)).to.deep.equal(["one", "ten"]);
    expect(fired[0].sim).to.be.at.least(1_000);
    expect(fired[1].sim).to.be.at.least(10_000);
    expect(fired[1].wall).to.be.greaterThan(fired[0].wall);
    expect(fired[1].wall).to.be.at.least(10_000 / 1800 - 1);
  });

  it("fires timers in simulated order even when compression makes them due in the same wall millisecond", async () => {
    const c = clock(1_000_000);
    const order: number[] = [];
    for (const seconds of [10, 1, 5, 2]) c.setTimeout(() => order.push(seconds), seconds * 1000);
    await c.sleep(20_000);
    expect(order).to.deep.equal([1, 2, 5, 10]);
  });

  it("stands still while frozen and jumps on advance, firing each timer at its own due time", () => {
    const c = clock(0);
    const seen: number[] = [];
    c.setTimeout(() => seen.push(c.now() - start), 1_800_000);
    const interval = c.setInterval(() => seen.push(c.now() - start), 600_000);
    expect(c.now()).to.equal(start);
    c.advance(1_799_999);
    expect(seen).to.deep.equal([600_000, 1_200_000]);
    c.advanceTo(start + 1_800_000);
    expect(seen).to.deep.equal([600_000, 1_200_000, 1_800_000, 1_800_000]);
    c.clearInterval(interval);
    expect(c.pendingTimers()).to.equal(0);
    expect(c.now()).to.equal(start + 1_800_000);
  });

  it("advances to the next timer only, so a driver can step through a scenario", () => {
    const c = clock(0);
    const fired: string[] = [];
    c.setTimeout(() => fired.push("a"), 5_000);
    c.setTimeout(() => fired.push("b"), 5_000);
    c.setTimeout(() => fired.push("c"), 9_000);
    expect(c.advanceToNextTimer()).to.equal(start + 5_000);
    expect(fired).to.deep.equal(["a", "b"]);
    expect(c.advanceToNextTimer(start + 8_000)).to.equal(undefined);
    expect(c.advanceToNextTimer()).to.equal(start + 9_000);
    expect(c.advanceToNextTimer()).to.equal(undefined);
    expect(fired).to.deep.equal(["a", "b", "c"]);
  });

  it("fires a zero-delay timer on a later turn without moving time, even while frozen", async () => {
    const c = clock(0);
    let firedAt: number | undefined;
    c.setTimeout(() => (firedAt = c.now()), 0);
    expect(firedAt).to.equal(undefined);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(firedAt).to.equal(start);
  });

  it("fires what is already due on request, so a server answers with it", () => {
    const c = clock(0);
    const fired: string[] = [];
    c.setTimeout(() => fired.push("due"), 0);
    c.setTimeout(() => fired.push("later"), 1);
    c.fireDueTimers();
    expect(fired).to.deep.equal(["due"]);
    expect(c.now()).to.equal(start);
  });

  it("does not fire a cleared timer", () => {
    const c = clock(0);
    let fired = false;
    const timer = c.setTimeout(() => (fired = true), 1_000);
    c.clearTimeout(timer);
    c.advance(5_000);
    expect(fired).to.equal(false);
  });

  it("runs each timer in the async context that set it, as Node's timers do (AsyncLocalStorage follows it)", () => {
    const c = clock(0);
    const storage = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    storage.run("first", () => c.setTimeout(() => seen.push(storage.getStore()), 1_000));
    storage.run("second", () => c.setInterval(() => seen.push(storage.getStore()), 600));
    c.setTimeout(() => seen.push(storage.getStore()), 500);
    c.advance(1_300);
    expect(seen).to.deep.equal([undefined, "second", "first", "second"]);
  });

  it("resolves sleeps through an advance", async () => {
    const c = clock(0);
    const slept = c.sleep(30 * 60_000).then(() => c.now());
    c.advance(30 * 60_000);
    expect(await slept).to.equal(start + 30 * 60_000);
  });

  it("hands out Date and timer functions bound to simulated time", () => {
    const c = clock(0);
    const globals = c.globals();
    c.advance(42_000);
    expect(globals.Date.now()).to.equal(start + 42_000);
    expect(new globals.Date().getTime()).to.equal(start + 42_000);
    expect(new globals.Date(0).getTime()).to.equal(0);
    let fired = false;
    globals.setTimeout(() => (fired = true), 1_000).unref();
    c.advance(1_000);
    expect(fired).to.equal(true);
  });

  it("gives code that runs without yielding one instant, so timers set together keep their order", async () => {
    const c = clock(1_000_000);
    const order: string[] = [];
    const deadline = c.setTimeout(() => order.push("deadline"), 40);
    // Busy work between the two calls would be whole simulated seconds at this speed.
    const until = performance.now() + 2;
    while (performance.now() < until);
    const poll = c.setTimeout(() => order.push("poll"), 10);
    expect(poll.dueAt).to.be.lessThan(deadline.dueAt);
    await c.sleep(100);
    expect(order).to.deep.equal(["poll", "deadline"]);
  });
});
