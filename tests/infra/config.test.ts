import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { BatchBridge } from "../../infra/bridge";
import { configKeys, parseConfig, projectName } from "../../infra/config";
import { renderStack, repoRoot } from "../../local/render";

interface DeclaredKey {
  type: string;
  default: unknown;
  description: string;
  items?: { type: string };
}

const pulumiYaml = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8")) as {
  name: string;
  config: Record<string, DeclaredKey>;
};

/** How each config.ts type is declared in Pulumi.yaml: it has no float type, so numbers are strings. */
const yamlType: Record<string, string> = {
  string: "string",
  integer: "integer",
  number: "string",
  boolean: "boolean",
  array: "array",
};

/** The message parseConfig rejects these raw values (as `pulumi config` stores them) with. */
function configError(raw: Record<string, string>): string {
  try {
    parseConfig(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(raw)}`);
}

/** Runs the program with the dev stack and these values over it; resolves to the error it fails with. */
async function renderError(overrides: Record<string, string>): Promise<string> {
  try {
    await renderStack({ stack: "dev", config: overrides });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`the stack rendered with ${JSON.stringify(overrides)}`);
}

describe("stack configuration", () => {
  it("Pulumi.yaml names the project as config.ts does", () => {
    expect(pulumiYaml.name).to.equal(projectName);
  });

  it("Pulumi.yaml declares exactly the keys of config.ts, with the same type, default and description", () => {
    expect(Object.keys(pulumiYaml.config).sort()).to.deep.equal(Object.keys(configKeys).sort());
    for (const [key, spec] of Object.entries(configKeys)) {
      const declared = pulumiYaml.config[key];
      expect(declared.type, `${key} type`).to.equal(yamlType[spec.type]);
      if (spec.type === "array") expect(declared.items, `${key} items`).to.deep.equal({ type: "string" });
      const expectedDefault = spec.type === "number" ? String(spec.default) : spec.default;
      expect(declared.default, `${key} default`).to.deep.equal(expectedDefault);
      expect(declared.description, `${key} description`).to.equal(spec.description);
    }
  });

  it("the defaults a user reads in Pulumi.yaml are the values the program applies", () => {
    const fromYaml = Object.fromEntries(
      Object.entries(pulumiYaml.config).map(([key, declared]) => [
        key,
        typeof declared.default === "string" ? declared.default : JSON.stringify(declared.default),
      ]),
    );
    const applied = parseConfig(fromYaml) as unknown as Record<string, unknown>;
    const defaults = parseConfig({}) as unknown as Record<string, unknown>;
    expect(applied).to.deep.equal(defaults);
    for (const [key, spec] of Object.entries(configKeys)) {
      expect(defaults[key], key).to.deep.equal(spec.default);
    }
  });

  it("Pulumi.dev.yaml holds only keys of this project and valid values", () => {
    const devYaml = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8")) as {
      config: Record<string, unknown>;
    };
    const own = Object.entries(devYaml.config)
      .filter(([key]) => key.startsWith(`${projectName}:`))
      .map(([key, value]) => [key.slice(projectName.length + 1), value]);
    expect(() => parseConfig(Object.fromEntries(own))).to.not.throw();
  });

  it("fails the program before it creates anything, with the message naming the key", async () => {
    const message = await renderError({ vcpu: "0.5", memoryMiB: "8192" });
    expect(message).to.equal(
      "Invalid stack configuration:\n" +
        "  - sagemaker-batch-bridge:memoryMiB must be 1024-4096 in steps of 1024 for vcpu 0.5 (Fargate), got 8192.",
    );
  });

  it("rejects a vCPU value or a vCPU and memory pair Fargate does not offer", () => {
    expect(configError({ vcpu: "3" })).to.include(
      "sagemaker-batch-bridge:vcpu must be one of 0.25, 0.5, 1, 2, 4, 8, 16 (Fargate), got 3.",
    );
    expect(configError({ vcpu: "4", memoryMiB: "4096" })).to.include(
      "sagemaker-batch-bridge:memoryMiB must be 8192-30720 in steps of 1024 for vcpu 4 (Fargate), got 4096.",
    );
  });

  it("rejects a visibility timeout shorter than the monitor's timeout", () => {
    expect(configError({ callbackVisibilityTimeoutSeconds: "120", monitorTimeoutSeconds: "300" })).to.include(
      "sagemaker-batch-bridge:callbackVisibilityTimeoutSeconds must be at least monitorTimeoutSeconds (300)",
    );
  });

  it("rejects pipeline names with capitals or underscores", () => {
    for (const pipelineName of ["Batch-Bridge", "batch_bridge"]) {
      expect(configError({ pipelineName })).to.include(
        `sagemaker-batch-bridge:pipelineName must be 1-256 lowercase letters, digits and hyphens`,
      );
    }
  });

  it("rejects an unknown capacity type", () => {
    expect(configError({ capacityType: "EC2" })).to.include(
      'sagemaker-batch-bridge:capacityType must be FARGATE or FARGATE_SPOT, got "EC2".',
    );
  });

  it("rejects jobs without a public IP on the default VPC, whose subnets have no NAT", () => {
    expect(configError({ assignPublicIp: "false" })).to.include(
      "sagemaker-batch-bridge:assignPublicIp must be true when subnetIds is empty",
    );
    expect(() =>
      parseConfig({ assignPublicIp: "false", subnetIds: '["subnet-1"]', vpcId: "vpc-1" }),
    ).to.not.throw();
  });

  it("BatchBridge rejects a config built by hand with the same messages", () => {
    const config = { ...parseConfig({}), vcpu: 3, callbackMaxReceiveCount: 5 };
    expect(() => new BatchBridge("bridge", { config })).to.throw(
      "sagemaker-batch-bridge:vcpu must be one of 0.25, 0.5, 1, 2, 4, 8, 16 (Fargate), got 3.",
    );
  });

  it("lists every problem at once", () => {
    const message = configError({ capacityType: "EC2", pipelineName: "Bad_Name", jobAttempts: "11" });
    expect(message.match(/^ {2}- /gm)).to.have.length(3);
  });
});
