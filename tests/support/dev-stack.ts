/**
 * The dev stack rendered under the mock engine once per test run: the suites that only read it share it.
 */
import { renderStack } from "../../render/render-stack";
import type { RenderedStack } from "../../render/rendered-stack";

let devStack: Promise<RenderedStack> | undefined;

/** The dev stack (Pulumi.dev.yaml over the Pulumi.yaml defaults), rendered on first use. */
export function renderedDevStack(): Promise<RenderedStack> {
  devStack ??= renderStack({ stack: "dev" });
  return devStack;
}
