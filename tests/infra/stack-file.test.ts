import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { projectName } from "../../infra/config";
import { stackFileTypeProblems } from "../../infra/config/stack-file";
import { repoRoot, stackConfig } from "../../render/stack-files";

const project = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8")) as {
  config: Record<string, unknown>;
};

/** The problems `pulumi preview` would report for a stack file with this `config:` block (YAML text). */
function problemsOf(configYaml: string, stack = "prod"): string[] {
  const file = parseYaml(`config:\n${configYaml}`) as { config: Record<string, unknown> };
  return stackFileTypeProblems(projectName, project.config, { stack, config: file.config });
}

/** Splits a command line as a POSIX shell does for the words it uses: bare words and '...' quoting. */
function shellWords(command: string): string[] {
  const words: string[] = [];
  for (const match of command.matchAll(/(?:[^\s']+|'(?:[^']|'\\'')*')+/g)) {
    words.push(
      match[0].replace(/'((?:[^']|'\\'')*)'/g, (_, quoted: string) => quoted.replace(/'\\''/g, "'")),
    );
  }
  return words;
}

/** The flags and words of one `pulumi config set` command line. */
function parseConfigSet(command: string): { type?: string; usesPath: boolean; key: string; value: string } {
  const words = shellWords(command);
  expect(words.slice(0, 3), command).to.deep.equal(["pulumi", "config", "set"]);
  const parsed = { type: undefined as string | undefined, usesPath: false, positional: [] as string[] };
  let i = 3;
  while (i < words.length) {
    const word = words[i++];
    if (word === "--") {
      parsed.positional.push(...words.slice(i));
      break;
    }
    if (word === "--stack") i++;
    else if (word === "--type") parsed.type = words[i++];
    else if (word === "--path") parsed.usesPath = true;
    else if (word.startsWith("-")) expect.fail(`${command}: the CLI would read ${word} as a flag`);
    else parsed.positional.push(word);
  }
  const [key, value] = parsed.positional;
  return { type: parsed.type, usesPath: parsed.usesPath, key, value };
}

/**
 * Runs `pulumi config set --path 'key[i]' value` commands against a stack's config as the CLI documents it
 * (pulumi.com/docs/iac/cli/commands/pulumi_config_set): with --path, "true" and "false" become booleans and
 * integers numbers unless --type string is given; "--" ends the flags.
 */
function runConfigSets(commands: string[], config: Record<string, unknown>): void {
  for (const command of commands) {
    const { type, usesPath, key, value } = parseConfigSet(command);
    const indexed = /^(\w+)\[(\d+)\]$/.exec(key);
    expect(usesPath && indexed, command).to.not.equal(null);
    const typed =
      type === "string"
        ? value
        : /^[1-9]\d*$/.test(value)
          ? Number(value)
          : /^(true|false)$/.test(value)
            ? value === "true"
            : value;
    const qualified = `${projectName}:${indexed![1]}`;
    const list = Array.isArray(config[qualified]) ? (config[qualified] as unknown[]) : [];
    list[Number(indexed![2])] = typed;
    config[qualified] = list;
  }
}

describe("a stack file as pulumi preview checks it", () => {
  it("accepts the shipped stack files", () => {
    for (const file of fs.readdirSync(repoRoot).filter((f) => /^Pulumi\..+\.yaml$/.test(f))) {
      const stack = /^Pulumi\.(.+)\.yaml$/.exec(file)![1];
      const { config } = parseYaml(fs.readFileSync(path.join(repoRoot, file), "utf8")) as {
        config: Record<string, unknown>;
      };
      expect(stackFileTypeProblems(projectName, project.config, { stack, config }), file).to.deep.equal([]);
    }
  });

  it("accepts what the CLI accepts: a scalar's text for scalars, YAML lists of strings for arrays", () => {
    const accepted = [
      `  ${projectName}:memoryMiB: 4096`,
      `  ${projectName}:memoryMiB: "4096"`,
      // YAML reads 1e3 as the number 1000, whose text the CLI checks.
      `  ${projectName}:maxVcpus: 1e3`,
      `  ${projectName}:vcpu: 0.5`,
      `  ${projectName}:vcpu: "0.5"`,
      `  ${projectName}:pipelineName: 42`,
      `  ${projectName}:assignPublicIp: "false"`,
      `  ${projectName}:completionEvents: True`,
      `  ${projectName}:subnetIds: [subnet-1, subnet-2]`,
      `  ${projectName}:containerCommand:\n    - python\n    - "4"`,
      `  ${projectName}:dataBucketName: {secure: AAABAJ4=}`,
      `  aws:region: eu-west-1`,
    ];
    for (const line of accepted) expect(problemsOf(line), line).to.deep.equal([]);
  });

  it("rejects an array set as a JSON string, with the YAML list and the commands that fix it", () => {
    const [problem, ...rest] = problemsOf(
      `  ${projectName}:containerCommand: '["python","work.py","--shard-count","Ref::shardCount","7","it''s $HOME"]'`,
    );
    expect(rest).to.deep.equal([]);
    expect(problem).to.match(
      new RegExp(
        `^${projectName}:containerCommand must be a YAML list \\(Pulumi.yaml declares it array<string>\\), ` +
          `got the string "\\[\\\\"python\\\\",.*\\]"\\. In Pulumi\\.prod\\.yaml, drop the quotes around it`,
      ),
    );
    // Both fixes, applied, give a stack file Pulumi accepts with the same command.
    const snippet = /drop the quotes around it \((.+) is a list\)/.exec(problem)![1];
    const fixedByHand = parseYaml(snippet) as Record<string, unknown>;
    const commands = /set it item by item: (.+)\.$/.exec(problem)![1].split(" && ");
    const fixedByCli: Record<string, unknown> = {};
    runConfigSets(commands, fixedByCli);
    const command = ["python", "work.py", "--shard-count", "Ref::shardCount", "7", "it's $HOME"];
    // A string with double quotes and no single quote is shown in single quotes, as a user wrote it.
    expect(problemsOf(`  ${projectName}:subnetIds: '["subnet-1"]'`)[0]).to.include(
      `got the string '["subnet-1"]'. In Pulumi.prod.yaml, drop the quotes around it`,
    );
    for (const config of [fixedByHand, fixedByCli]) {
      expect(config).to.deep.equal({ [`${projectName}:containerCommand`]: command });
      expect(stackFileTypeProblems(projectName, project.config, { stack: "prod", config })).to.deep.equal([]);
    }
  });

  it("rejects an array set as any other string, with how to write a list", () => {
    expect(problemsOf(`  ${projectName}:subnetIds: subnet-1,subnet-2`)).to.deep.equal([
      `${projectName}:subnetIds must be a YAML list (Pulumi.yaml declares it array<string>), got the string ` +
        `"subnet-1,subnet-2". In Pulumi.prod.yaml, write it as a list (${projectName}:subnetIds: ["a", "b"]), ` +
        `or set it item by item: pulumi config set --stack prod --path 'subnetIds[0]' <first item>, then [1] ` +
        `and so on.`,
    ]);
  });

  it("rejects a list item that is not a string, naming its index and how to keep it a string", () => {
    expect(problemsOf(`  ${projectName}:containerCommand: [python, work.py, --shards, 4]`)).to.deep.equal([
      `${projectName}:containerCommand[3] must be a string (Pulumi.yaml declares containerCommand ` +
        `array<string>), got the number 4: write it as "4" in Pulumi.prod.yaml, or set it with pulumi config ` +
        `set --stack prod --type string --path 'containerCommand[3]' 4 (--type needs Pulumi CLI 3.148 or later).`,
    ]);
  });

  it("rejects a scalar of the wrong type, naming the key, the type and the command that sets it", () => {
    const cases: [string, string][] = [
      [
        `memoryMiB: 4 GiB`,
        `memoryMiB must be a whole number (Pulumi.yaml declares it integer), got the string "4 GiB"`,
      ],
      [
        `jobAttempts: 2.5`,
        `jobAttempts must be a whole number (Pulumi.yaml declares it integer), got the number 2.5`,
      ],
      [
        `maxVcpus: "1e3"`,
        `maxVcpus must be a whole number (Pulumi.yaml declares it integer), got the string "1e3"`,
      ],
      [
        `assignPublicIp: "yes"`,
        `assignPublicIp must be true or false (Pulumi.yaml declares it boolean), got the string "yes"`,
      ],
      [
        `pipelineName: [a, b]`,
        `pipelineName must be a string (Pulumi.yaml declares it string), got a list (["a","b"])`,
      ],
      [`jobQueueName:`, `jobQueueName must be a string (Pulumi.yaml declares it string), got no value`],
    ];
    for (const [line, message] of cases) {
      const problems = problemsOf(`  ${projectName}:${line}`);
      expect(problems, line).to.have.length(1);
      expect(problems[0], line).to.include(
        `${projectName}:${message}: set it with pulumi config set --stack prod `,
      );
    }
    expect(problemsOf(`  ${projectName}:memoryMiB: 4 GiB`)[0]).to.match(
      /memoryMiB <value> \(its default: pulumi config set --stack prod memoryMiB 2048\)\.$/,
    );
  });

  it("leaves keys Pulumi.yaml does not declare to the program, which names the nearest declared key", () => {
    expect(problemsOf(`  ${projectName}:vcpus: [2]`)).to.deep.equal([]);
  });

  it("stops npm run plan's reading of the stack file with every problem", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
    try {
      fs.copyFileSync(path.join(repoRoot, "Pulumi.yaml"), path.join(root, "Pulumi.yaml"));
      fs.writeFileSync(
        path.join(root, "Pulumi.typo.yaml"),
        `config:\n  ${projectName}:subnetIds: '["subnet-1"]'\n  ${projectName}:memoryMiB: lots\n`,
      );
      expect(() => stackConfig("typo", {}, root))
        .to.throw(/^Invalid stack configuration:\n {2}- .*:subnetIds must be a YAML list/)
        .with.property("message")
        .that.includes(`\n  - ${projectName}:memoryMiB must be a whole number`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
