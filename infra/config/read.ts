/**
 * Reads the stack's settings through Pulumi: the one place the program touches its config.
 */
import * as pulumi from "@pulumi/pulumi";
import { projectName } from "./keys";
import type { StackSettings } from "./parse";

/**
 * Every value the stack sets in the project's namespace, as `pulumi config` holds them: the declared keys
 * and any other, so that a misspelled key is reported rather than ignored (Pulumi checks only the keys
 * Pulumi.yaml declares).
 */
export function stackSettings(): StackSettings {
  const namespace = `${projectName}:`;
  return Object.fromEntries(
    Object.entries(pulumi.runtime.allConfig())
      .filter(([key]) => key.startsWith(namespace))
      .map(([key, value]) => [key.slice(namespace.length), value]),
  );
}
