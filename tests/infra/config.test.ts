import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { BatchBridge } from "../../infra/bridge";
import { configKeys, parseConfig, projectName, pulumiTypeOf } from "../../infra/config";
import { closestName } from "../../infra/config/closest-name";
import { checksToWait, receiveCountMargin } from "../../functions/poll-schedule";
import { renderStack } from "../../render/render-stack";
import { repoRoot } from "../../render/stack-files";

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
  it("Pulumi.yaml names the project as the key table does", () => {
    expect(pulumiYaml.name).to.equal(projectName);
  });

  it("Pulumi.yaml declares every key of the table but the maps, with the same type, default and description", () => {
    const declarable = Object.entries(configKeys).filter(([, spec]) => pulumiTypeOf(spec.type) !== undefined);
    expect(Object.keys(pulumiYaml.config).sort()).to.deep.equal(declarable.map(([key]) => key).sort());
    // A map cannot be declared (Pulumi.yaml's config types are string, integer, boolean and array): the
    // file says so where the key would be.
    const text = fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8");
    for (const [key] of Object.entries(configKeys).filter(([, spec]) => spec.type === "object")) {
      expect(text, key).to.match(new RegExp(`^  # ${key}, a map .* is not declared here`, "m"));
    }
    for (const [key, spec] of declarable) {
      const declared = pulumiYaml.config[key];
      expect(declared.type, `${key} type`).to.equal(pulumiTypeOf(spec.type));
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

  it("every shipped stack file holds only keys of this project and valid values, each of its declared type", () => {
    const stackFiles = fs.readdirSync(repoRoot).filter((file) => /^Pulumi\..+\.yaml$/.test(file));
    expect(stackFiles).to.include.members(["Pulumi.dev.yaml", "Pulumi.prod.yaml"]);
    for (const file of stackFiles) {
      const stack = parseYaml(fs.readFileSync(path.join(repoRoot, file), "utf8")) as {
        config: Record<string, unknown>;
      };
      const own = Object.entries(stack.config)
        .filter(([key]) => key.startsWith(`${projectName}:`))
        .map(([key, value]) => [key.slice(projectName.length + 1), value] as [string, unknown]);
      expect(() => parseConfig(Object.fromEntries(own)), file).to.not.throw();
      // Written as the CLI writes typed values: 1024 rather than "1024" for an integer, a list for an array,
      // a map for a key Pulumi.yaml cannot declare.
      for (const [key, value] of own) {
        const declared = pulumiYaml.config[key]?.type ?? "object";
        const actual = Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;
        expect(actual, `${file} ${key}`).to.equal(declared);
      }
    }
  });

  it("fails the program before it creates anything, with the message naming the key", async () => {
    const message = await renderError({ vcpu: "0.5", memoryMiB: "8192" });
    expect(message).to.equal(
      "Invalid stack configuration:\n" +
        "  - sagemaker-batch-bridge:memoryMiB must be 1024, 2048, 3072 or 4096 for vcpu 0.5 (Fargate), got 8192.",
    );
  });

  describe("a key the project does not declare", () => {
    const vcpusMessage =
      "sagemaker-batch-bridge:vcpus is not a setting of this stack: did you mean sagemaker-batch-bridge:vcpu? " +
      "(The README's configuration table lists every key.)";

    it("is rejected with the declared key nearest to it", () => {
      expect(configError({ vcpus: "2" })).to.include(vcpusMessage);
      expect(configError({ MemoryMib: "4096" })).to.include("did you mean sagemaker-batch-bridge:memoryMiB?");
    });

    it("fails the program when a stack sets it, as pulumi preview would run it", async () => {
      // Pulumi checks only the keys Pulumi.yaml declares and hands the program every key the stack sets.
      expect(await renderError({ vcpus: "2" })).to.equal(`Invalid stack configuration:\n  - ${vcpusMessage}`);
    });

    it("is matched ignoring case, by the fewest edits", () => {
      const keys = Object.keys(configKeys);
      expect(closestName("subnetId", keys)).to.equal("subnetIds");
      expect(closestName("JOBTIMEOUTSECONDS", keys)).to.equal("jobTimeoutSeconds");
      expect(closestName("callbackVisibilityTimeout", keys)).to.equal("callbackVisibilityTimeoutSeconds");
      expect(closestName("capacity", ["vpcId", "capacityType"])).to.equal("capacityType");
    });
  });

  it("rejects a vCPU value or a vCPU and memory pair Fargate does not offer, naming the memory allowed", () => {
    expect(configError({ vcpu: "3" })).to.include(
      "sagemaker-batch-bridge:vcpu must be one of 0.25, 0.5, 1, 2, 4, 8, 16 (Fargate), got 3.",
    );
    expect(configError({ vcpu: "0.25", memoryMiB: "1536" })).to.include(
      "sagemaker-batch-bridge:memoryMiB must be 512, 1024 or 2048 for vcpu 0.25 (Fargate), got 1536.",
    );
    expect(configError({ vcpu: "4", memoryMiB: "4096" })).to.include(
      "sagemaker-batch-bridge:memoryMiB must be 8192 to 30720 in steps of 1024 for vcpu 4 (Fargate), got 4096.",
    );
    expect(configError({ vcpu: "16", memoryMiB: "61440" })).to.include(
      "sagemaker-batch-bridge:memoryMiB must be 32768 to 122880 in steps of 8192 for vcpu 16 (Fargate), got 61440.",
    );
  });

  it("accepts exactly the vCPU and memory pairs of Batch's Fargate table", () => {
    // AWS Batch API Reference, ResourceRequirement, type MEMORY on Fargate: each memory value (MiB) and the
    // vCPU values it allows (the 32 vCPU rows left out: Fargate task sizes stop at 16 vCPU).
    const vcpusByMemory: [number[], string[]][] = [
      [[512], ["0.25"]],
      [[1024], ["0.25", "0.5"]],
      [[2048], ["0.25", "0.5", "1"]],
      [[3072], ["0.5", "1"]],
      [[4096], ["0.5", "1", "2"]],
      [
        [5120, 6144, 7168],
        ["1", "2"],
      ],
      [[8192], ["1", "2", "4"]],
      [
        [9216, 10240, 11264, 12288, 13312, 14336, 15360],
        ["2", "4"],
      ],
      [[16384], ["2", "4", "8"]],
      [[17408, 18432, 19456, 21504, 22528, 23552, 25600, 26624, 27648, 29696, 30720], ["4"]],
      [
        [20480, 24576, 28672],
        ["4", "8"],
      ],
      [[36864, 45056, 53248, 61440], ["8"]],
      [
        [32768, 40960, 49152, 57344],
        ["8", "16"],
      ],
      [[65536, 73728, 81920, 90112, 98304, 106496, 114688, 122880], ["16"]],
    ];
    const documented = new Set(
      vcpusByMemory.flatMap(([memories, vcpus]) => memories.flatMap((m) => vcpus.map((v) => `${v}/${m}`))),
    );
    const accepted = new Set<string>();
    for (const vcpu of ["0.25", "0.5", "1", "2", "4", "8", "16"]) {
      for (let memoryMiB = 512; memoryMiB <= 249856; memoryMiB += 512) {
        try {
          parseConfig({ vcpu, memoryMiB: String(memoryMiB), maxVcpus: "256" });
          accepted.add(`${vcpu}/${memoryMiB}`);
        } catch (error) {
          expect((error as Error).message).to.include(`sagemaker-batch-bridge:memoryMiB must be `);
        }
      }
    }
    expect([...accepted].sort()).to.deep.equal([...documented].sort());
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

  it("BatchBridge rejects settings given in code with the same messages, typed or as strings", () => {
    for (const config of [{ vcpu: 3 }, { vcpu: "3" }]) {
      expect(() => new BatchBridge("bridge", { config })).to.throw(
        "sagemaker-batch-bridge:vcpu must be one of 0.25, 0.5, 1, 2, 4, 8, 16 (Fargate), got 3.",
      );
    }
    // Derived values are worked out from the settings, never given.
    expect(() => new BatchBridge("bridge", { config: { callbackMaxReceiveCount: 5 } })).to.throw(
      "sagemaker-batch-bridge:callbackMaxReceiveCount is not a setting of this stack",
    );
  });

  describe("job kinds", () => {
    const kinds = (jobKinds: unknown, more: Record<string, string> = {}) =>
      parseConfig({ jobKinds: JSON.stringify(jobKinds), ...more }).kinds;

    it("are the default kind (the top-level keys) alone when none is declared", () => {
      const [only, ...others] = parseConfig({ vcpu: "2", memoryMiB: "4096" }).kinds;
      expect(others).to.deep.equal([]);
      expect(only).to.deep.include({
        name: "default",
        jobDefinitionName: "batch-bridge-job",
        vcpu: 2,
        memoryMiB: 4096,
        environment: {},
      });
    });

    it("take their own fields, the top-level keys for the others, and a job definition each", () => {
      const [, embed] = kinds(
        {
          embed: {
            image: "embedder:2",
            vcpu: 4,
            memoryMiB: 16384,
            submitMode: "jobs",
            environment: { MODEL: "small", BATCH: 32 },
          },
        },
        { containerCommand: '["run","Ref::inputUri"]', jobAttempts: "2" },
      );
      expect(embed).to.deep.equal({
        name: "embed",
        jobDefinitionName: "batch-bridge-job-embed",
        image: "embedder:2",
        command: ["run", "Ref::inputUri"],
        vcpu: 4,
        memoryMiB: 16384,
        jobTimeoutSeconds: 3600,
        jobAttempts: 2,
        submitMode: "jobs",
        minSuccessRatio: 1,
        environment: { MODEL: "small", BATCH: "32" },
      });
    });

    it("take numbers and lists as pulumi config set --path stores them, or as text", () => {
      const [, a] = kinds({ a: { vcpu: "0.5", memoryMiB: "1024", command: '["x"]', jobAttempts: "1" } });
      expect(a).to.deep.include({ vcpu: 0.5, memoryMiB: 1024, command: ["x"], jobAttempts: 1 });
    });

    it("are checked as the top-level keys are, each problem under the kind's field", () => {
      const message = configError({
        jobKinds: JSON.stringify({
          gpu: { vcpu: 4 },
          big: { memoryMiB: 1024, jobTimeoutSeconds: 30 },
          odd: { vcpus: 2, submitMode: "batch", environment: { AWS_BATCH_JOB_ID: "x" } },
        }),
      });
      expect(message).to.include(
        "sagemaker-batch-bridge:jobKinds.gpu.memoryMiB must be 8192 to 30720 in steps of 1024 for vcpu 4 " +
          "(Fargate), got 2048 (the top-level memoryMiB).",
      );
      expect(message).to.include(
        "sagemaker-batch-bridge:jobKinds.big.memoryMiB must be 2048 to 8192 in steps of 1024 for vcpu 1 " +
          "(Fargate; the top-level vcpu), got 1024.",
      );
      expect(message).to.include(
        "sagemaker-batch-bridge:jobKinds.big.jobTimeoutSeconds must be a whole number from 60 to 1209600, got 30.",
      );
      expect(message).to.include(
        "sagemaker-batch-bridge:jobKinds.odd.vcpus is not a field of a job kind: did you mean vcpu? (A kind " +
          "takes image, command, vcpu, memoryMiB, jobTimeoutSeconds, jobAttempts, submitMode, minSuccessRatio or environment.)",
      );
      expect(message).to.include(
        'sagemaker-batch-bridge:jobKinds.odd.submitMode must be array or jobs, got "batch".',
      );
      expect(message).to.include(
        "sagemaker-batch-bridge:jobKinds.odd.environment must name variables with letters, digits and " +
          "underscores, not starting with a digit, AWS_BATCH (Batch's) or BRIDGE_SHARD_ (the bridge's), got \"AWS_BATCH_JOB_ID\".",
      );
    });

    it("leave a kind without a size of its own to the default kind's checks", () => {
      expect(configError({ vcpu: "4", jobKinds: JSON.stringify({ light: { image: "x" } }) })).to.not.include(
        "jobKinds.light",
      );
    });

    it("need a compute environment that fits one job of each, and a wait that outlasts every attempt", () => {
      const message = configError({
        maxVcpus: "4",
        maxWaitSeconds: "7200",
        jobKinds: JSON.stringify({
          gpu: { vcpu: 8, memoryMiB: 16384, jobTimeoutSeconds: 3600, jobAttempts: 3 },
        }),
      });
      expect(message).to.include(
        "sagemaker-batch-bridge:maxVcpus must be a whole number of at least one job's vcpu (8 of job kind gpu), got 4.",
      );
      expect(message).to.include(
        "sagemaker-batch-bridge:maxWaitSeconds must be at least jobTimeoutSeconds x jobAttempts of job kind " +
          "gpu (10800 s)",
      );
    });

    it("reject the name default, names Batch and SageMaker would not take, and a value that is no map of maps", () => {
      expect(configError({ jobKinds: JSON.stringify({ default: { vcpu: 2 } }) })).to.include(
        "sagemaker-batch-bridge:jobKinds.default is the top-level keys' kind: set containerImage, vcpu and the others instead.",
      );
      expect(configError({ jobKinds: JSON.stringify({ "gpu kind": {} }) })).to.include(
        "sagemaker-batch-bridge:jobKinds.gpu kind must be named with 1-32 letters, digits, hyphens and underscores",
      );
      expect(configError({ jobKinds: '["gpu"]' })).to.include(
        "sagemaker-batch-bridge:jobKinds must be a map of maps (in the stack file, e.g. gpu: {vcpu: 4, " +
          'memoryMiB: 16384}), got "[\\"gpu\\"]".',
      );
    });

    it("reject more kinds than the submit function's 4 KB environment holds", () => {
      const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`kind-number-${i}`, {}]));
      expect(configError({ jobKinds: JSON.stringify(many) })).to.match(
        /sagemaker-batch-bridge:jobKinds holds too many kinds for the submit function's environment: their job definitions take up to \d+ bytes of it, and Lambda allows 4096 bytes/,
      );
      const fewer = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`kind-number-${i}`, {}]));
      expect(() => parseConfig({ jobKinds: JSON.stringify(fewer) })).to.not.throw();
    });
  });

  describe("pipelines", () => {
    it("serve the stack's own pipeline and those managed elsewhere, each once", () => {
      const config = parseConfig({
        externalPipelineNames: '["team-training","NightlyScoring","batch-bridge"]',
      });
      expect(config.bridgedPipelineNames).to.deep.equal(["batch-bridge", "team-training", "NightlyScoring"]);
    });

    it("reject an ARN or a name SageMaker would not take among externalPipelineNames", () => {
      expect(
        configError({ externalPipelineNames: '["arn:aws:sagemaker:eu-west-1:123456789012:pipeline/x"]' }),
      ).to.include("sagemaker-batch-bridge:externalPipelineNames must list pipeline names, not ARNs");
      expect(configError({ externalPipelineNames: '["team_training"]' })).to.include(
        "sagemaker-batch-bridge:externalPipelineNames must list SageMaker pipeline names (1-256 letters, " +
          'digits and hyphens, starting and ending with a letter or digit), got "team_training".',
      );
    });

    it("take a definition file as a .json path relative to the project", () => {
      for (const file of ["/etc/pipeline.json", "pipelines/definition.yaml"]) {
        expect(configError({ pipelineDefinitionFile: file })).to.include(
          `sagemaker-batch-bridge:pipelineDefinitionFile must be the path of a .json file relative to the project`,
        );
      }
      expect(
        parseConfig({ pipelineDefinitionFile: "pipelines/definition.json" }).pipelineDefinitionFile,
      ).to.equal("pipelines/definition.json");
    });
  });

  describe("completion events", () => {
    it("are on by default: the monitor checks every safetyNetCheckSeconds and the receive count follows", () => {
      const config = parseConfig({});
      expect(config.completionEvents).to.equal(true);
      expect(config.pollSchedule).to.deep.equal({
        initialDelaySeconds: 21600,
        maxDelaySeconds: 21600,
        maxWaitSeconds: 604800,
      });
      // 28 six-hour checks cover the 7-day wait, plus the first check and the error margin.
      expect(config.callbackMaxReceiveCount).to.equal(28 + 1 + receiveCountMargin);
      const hourly = parseConfig({ safetyNetCheckSeconds: "3600" });
      expect(hourly.pollSchedule.initialDelaySeconds).to.equal(3600);
      expect(hourly.callbackMaxReceiveCount).to.equal(checksToWait(hourly.pollSchedule) + receiveCountMargin);
      expect(hourly.callbackMaxReceiveCount).to.equal(168 + 1 + receiveCountMargin);
    });

    it("off: the monitor polls from pollInitialDelaySeconds doubling to the visibility timeout", () => {
      const config = parseConfig({ completionEvents: "false", safetyNetCheckSeconds: "3600" });
      expect(config.completionEvents).to.equal(false);
      expect(config.pollSchedule).to.deep.equal({
        initialDelaySeconds: 10,
        maxDelaySeconds: 1800,
        maxWaitSeconds: 604800,
      });
      expect(config.callbackMaxReceiveCount).to.equal(364);
    });

    it("completionEvents takes true or false", () => {
      expect(configError({ completionEvents: "yes" })).to.include(
        'sagemaker-batch-bridge:completionEvents must be true or false, got "yes".',
      );
    });

    it("rejects a safety-net interval outside 1-43200 s or shorter than one monitor run", () => {
      expect(configError({ safetyNetCheckSeconds: "43201" })).to.include(
        "sagemaker-batch-bridge:safetyNetCheckSeconds must be a whole number from 1 to 43200, got 43201.",
      );
      expect(configError({ safetyNetCheckSeconds: "0" })).to.include(
        "sagemaker-batch-bridge:safetyNetCheckSeconds must be a whole number from 1 to 43200, got 0.",
      );
      expect(configError({ safetyNetCheckSeconds: "600", monitorTimeoutSeconds: "900" })).to.include(
        "sagemaker-batch-bridge:safetyNetCheckSeconds must be at least monitorTimeoutSeconds (900): ",
      );
      expect(() =>
        parseConfig({ safetyNetCheckSeconds: "900", monitorTimeoutSeconds: "900" }),
      ).to.not.throw();
    });

    it("rejects a safety-net interval too short for maxWaitSeconds within 1,000 receives, naming one that fits", () => {
      const message = configError({ safetyNetCheckSeconds: "300" });
      const minimum = /raise it to at least (\d+) s or lower maxWaitSeconds/.exec(message);
      expect(message).to.include(
        "sagemaker-batch-bridge:safetyNetCheckSeconds is too short for maxWaitSeconds (604800 s): " +
          `waiting that long takes ${604800 / 300 + 1} checks`,
      );
      expect(minimum, message).to.not.equal(null);
      const fits = parseConfig({ safetyNetCheckSeconds: minimum![1] });
      expect(fits.callbackMaxReceiveCount).to.be.at.most(1000);
      // Polling alone does not use the safety-net interval, so it does not limit it.
      expect(() => parseConfig({ safetyNetCheckSeconds: "300", completionEvents: "false" })).to.not.throw();
    });

    it("takes a DynamoDB table name: 3-255 letters, digits, underscores, hyphens and dots", () => {
      expect(parseConfig({ statusTableName: "team.bridge_steps-1" }).statusTableName).to.equal(
        "team.bridge_steps-1",
      );
      for (const statusTableName of ["ab", "bridge steps", "bridge/steps", "x".repeat(256)]) {
        expect(configError({ statusTableName }), statusTableName).to.include(
          "sagemaker-batch-bridge:statusTableName must be 3-255 letters, digits, underscores, hyphens and dots",
        );
      }
    });
  });

  it("lists every problem at once", () => {
    const message = configError({ capacityType: "EC2", pipelineName: "Bad_Name", jobAttempts: "11" });
    expect(message.match(/^ {2}- /gm)).to.have.length(3);
  });
});
