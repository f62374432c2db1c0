/**
 * Reads the stack's settings through Pulumi: the one place the program touches its config.
 */
import * as pulumi from "@pulumi/pulumi";
import { configKeys, projectName, type ConfigKey } from "./keys";
import type { ConfigValues } from "./parse";

/** The values the stack sets for the project's keys, as `pulumi config` holds them. */
export function stackConfigValues(config = new pulumi.Config(projectName)): ConfigValues {
  const values: Record<string, string> = {};
  for (const key of Object.keys(configKeys) as ConfigKey[]) {
    const value = config.get(key);
    if (value !== undefined) values[key] = value;
  }
  return values;
}
