/**
 * Reads the stack's settings through Pulumi: the one place the program touches `pulumi.Config`.
 */
import * as pulumi from "@pulumi/pulumi";
import { configKeys, projectName, type BridgeConfig, type ConfigKey } from "./keys";
import { parseConfig } from "./parse";

/** Reads the stack's config through Pulumi and validates it. */
export function loadConfig(config = new pulumi.Config(projectName)): BridgeConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(configKeys) as ConfigKey[]) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseConfig(raw);
}
