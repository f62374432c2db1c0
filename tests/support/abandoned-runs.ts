/**
 * Mocha root hooks (loaded by .mocharc.json in every worker): after a test that failed while a local
 * execution or records run of this process was still in progress (a timeout gives up on the awaited run,
 * which goes on), gives that run up, so that the suites after it in the same worker start clean instead of
 * failing with "A local execution is already running in this process". Only modules already loaded are
 * looked at: a worker that never ran one loads nothing more.
 */
import * as path from "node:path";

const runner = path.resolve(__dirname, "../../local/runner");
const loaded = (module: string) =>
  require.cache[path.join(runner, `${module}.ts`)] === undefined
    ? undefined
    : (require(path.join(runner, module)) as unknown);

export const mochaHooks = {
  async afterEach(this: Mocha.Context): Promise<void> {
    if (this.currentTest?.state !== "failed") return;
    const run = loaded("run") as typeof import("../../local/runner/run") | undefined;
    const process_ = loaded("simulated-process") as
      typeof import("../../local/runner/simulated-process") | undefined;
    const abandoned = (await run?.abandonLocalExecution()) || process_?.abandonSimulatedProcess();
    if (abandoned) {
      process.stderr.write(
        `"${this.currentTest.fullTitle()}" failed with a local run in progress: the run was given up.\n`,
      );
    }
  },
};
