/**
 * Prepares the design a run asks for: the stack config the run sets (with why), the stack rendered with
 * it, and the bridge's design or the reference design on the bridge's Batch resources.
 */
import { qualifiedKey, type ConfigKey } from "../../infra/config/keys";
import { renderStack } from "../../render/render-stack";
import type { RenderedStack } from "../../render/rendered-stack";
import { stackConfig, type ConfigValue } from "../../render/stack-files";
import { bridgeDesign } from "./bridge-design";
import type { DesignRequest, PreparedDesign } from "./design";
import { referenceDesignOn } from "./reference-on-bridge";

/**
 * Stack config for this run: the scenario's own, its mode, and a job timeout long enough for its simulated
 * jobs (the job duration is what the scenario is about; a timeout shorter than it would fail every job). A
 * real worker's jobs keep the stack's timeout, which stops a process that runs longer.
 */
export function runConfig(scenario: DesignRequest): Record<string, { value: ConfigValue; why: string }> {
  const overrides: Record<string, { value: ConfigValue; why: string }> = {};
  for (const [key, value] of Object.entries(scenario.config))
    overrides[key] = { value, why: "set by the scenario" };
  if (scenario.mode !== undefined && scenario.design === "bridge") {
    overrides.submitMode = { value: scenario.mode, why: "--mode" };
  }
  if (scenario.engine !== undefined) overrides.engine = { value: scenario.engine, why: "--engine" };
  const current = stackConfig(
    scenario.stack,
    Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v.value])),
  );
  const setting = (key: ConfigKey) => Number(current[qualifiedKey(key)]);
  const model = ["transformModelName", "transformImage"] as const;
  if (current[qualifiedKey("engine")] === "transform" && model.every((key) => !current[qualifiedKey(key)])) {
    overrides.transformModelName = {
      value: "local-model",
      why: "the transform engine needs a model; the local SageMaker runs its own under any name",
    };
  }
  const timeout = setting("jobTimeoutSeconds");
  if (scenario.worker === undefined && scenario.jobDurationSeconds > timeout) {
    // A quarter more than the job needs, in whole minutes.
    const needed = Math.max(60, Math.ceil((scenario.jobDurationSeconds * 1.25) / 60) * 60);
    overrides.jobTimeoutSeconds = {
      value: needed,
      why: `the stack's ${timeout} s job timeout is shorter than the ${scenario.jobDurationSeconds} s jobs`,
    };
    const longestJob = needed * setting("jobAttempts");
    if (setting("maxWaitSeconds") < longestJob) {
      overrides.maxWaitSeconds = {
        value: longestJob,
        why: "the stack waits at least jobTimeoutSeconds x jobAttempts",
      };
    }
  }
  return overrides;
}

/** The stack rendered with `config` set (renderStack keeps each render for the rest of the run). */
export function renderedStack(stack: string, config: Record<string, ConfigValue>): Promise<RenderedStack> {
  return renderStack({ stack, config });
}

/** Renders (or reuses) the stack and prepares the scenario's design. */
export async function prepareDesign(scenario: DesignRequest): Promise<PreparedDesign> {
  const overrides = runConfig(scenario);
  const rendered = await renderedStack(
    scenario.stack,
    Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, v.value])),
  );
  const definitionFile = rendered.config[qualifiedKey("pipelineDefinitionFile")] ?? "";
  if (scenario.design === "reference" && definitionFile !== "") {
    throw new Error(
      `The reference design runs its own two-step pipeline; the ${scenario.stack} stack deploys the ` +
        `pipeline of ${definitionFile} (pipelineDefinitionFile): run it with the bridge design.`,
    );
  }
  const bridge = bridgeDesign(rendered, scenario, overrides);
  return scenario.design === "reference" ? referenceDesignOn(bridge, scenario) : bridge;
}
