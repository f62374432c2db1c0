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
