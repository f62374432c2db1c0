import { expect } from "chai";
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { api, apiCommand } from "../../scripts/api";
import { benchCommand, bench } from "../../scripts/bench";
import { bridge, bridgeCommand } from "../../scripts/bridge";
import { check, checkCommand } from "../../scripts/check";
import {
  npmSwallowedOptions,
  parseArgs,
  UsageError,
  type CliCommand,
  type CliOutput,
} from "../../scripts/cli";
import { plan, planCommand } from "../../scripts/plan";
import { readme, readmeCommand } from "../../scripts/readme";
import { start, startCommand } from "../../scripts/start";
import { npmScriptNodeArgs } from "../support/npm-script";

const repoRoot = path.resolve(__dirname, "..", "..");
const packageScripts = (
  JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts;

/** Every script's command and entry point, by the file package.json runs. */
const scripts: Record<
  string,
  { command: CliCommand; main: (argv: string[], o: CliOutput) => Promise<number> }
> = {
  "scripts/check.ts": { command: checkCommand, main: (argv, o) => check(argv, o, {}) },
  "scripts/plan.ts": { command: planCommand, main: plan },
  "scripts/start.ts": { command: startCommand, main: start },
  "scripts/bench.ts": { command: benchCommand, main: (argv, o) => bench(argv, o) },
  "scripts/readme.ts": { command: readmeCommand, main: readme },
  "scripts/api.ts": { command: apiCommand, main: (argv, o) => api(argv, o, { stopped: Promise.resolve() }) },
  "scripts/bridge.ts": { command: bridgeCommand, main: bridge },
};

async function capture(main: (argv: string[], o: CliOutput) => Promise<number>, argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

/** The environment without what the npm running these tests set, as a user's shell has it. */
function userEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

describe("the command-line scripts", function () {
  this.timeout(60_000);

  it("every npm script prints its usage with --help and exits 0; each usage line and example is a command that exists", async () => {
    for (const [script, line] of Object.entries(packageScripts)) {
      const file = Object.keys(scripts).find((f) => line.endsWith(f) || line.includes(`${f} `));
      expect(file, `npm run ${script} runs one of the project's scripts`).to.not.equal(undefined);
      const { command, main } = scripts[file!];
      expect(command.npmScripts, file).to.include(script);
      const help = await capture(main, ["--help"]);
      expect(help.code, script).to.equal(0);
      expect(help.err, script).to.equal("");
      expect(help.out, script).to.match(/^Usage: npm /);
      for (const example of [...command.usage, ...command.examples]) {
        for (const named of example.matchAll(/npm (?:run ([a-z]+)|(start|test))/g)) {
          expect(packageScripts, `"${example}"`).to.have.property(named[1] ?? named[2]);
        }
      }
    }
  });

  it("suggests the nearest option for a typo, and only a near one", () => {
    const refusal = (argv: string[]) => {
      try {
        parseArgs(argv, startCommand);
      } catch (error) {
        if (error instanceof UsageError) return error.message;
        throw error;
      }
      return "accepted";
    };
    expect(refusal(["--shard", "5"])).to.equal('Unknown option "--shard": did you mean --shards?');
    expect(refusal(["--job-durration=2h"])).to.equal(
      'Unknown option "--job-durration": did you mean --job-duration?',
    );
    expect(refusal(["--verbose"])).to.equal('Unknown option "--verbose".');
    expect(refusal(["--json=yes"])).to.equal('--json takes no value, got "--json=yes".');
    expect(refusal(["5"])).to.equal('Unexpected argument "5": options start with --.');
  });

  it("tells how to pass options npm kept for itself, from the environment npm gives the script", () => {
    const npm = (event: string, config: Record<string, string>) => ({
      npm_lifecycle_event: event,
      npm_config_loglevel: "silent",
      npm_config_cafile: "/etc/ssl/certs/ca-certificates.crt",
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`npm_config_${k}`, v])),
    });
    expect(npmSwallowedOptions(startCommand, ["5"], npm("start", { shards: "true" }))).to.equal(
      'npm took --shards as its own setting and passed the script only "5". Put -- between the script ' +
        "and its options:\n  npm start -- --shards 5",
    );
    expect(npmSwallowedOptions(startCommand, ["5"], npm("start", { shard: "true" }))).to.include(
      "--shard is not an option: did you mean --shards?",
    );
    expect(npmSwallowedOptions(planCommand, [], npm("plan", { json: "true" }))).to.match(
      /npm took --json as its own setting\. .*\n {2}npm run plan -- --json$/,
    );
    expect(
      npmSwallowedOptions(startCommand, ["--seed", "3"], npm("start", { duplicate_deliveries: "true" })),
    ).to.match(/\n {2}npm start -- --duplicate-deliveries --seed 3$/);
    // Nothing kept, or not run by npm as this script: nothing to say.
    expect(npmSwallowedOptions(startCommand, [], npm("start", {}))).to.equal(undefined);
    expect(npmSwallowedOptions(startCommand, ["5"], npm("unit", { shards: "true" }))).to.equal(undefined);
  });

  it("npm start --shards 5, the -- forgotten, says how to pass the option (real npm, exit code 2)", async () => {
    const npmCli = process.env.npm_execpath;
    const [file, args] = npmCli?.endsWith(".js")
      ? [process.execPath, [npmCli, "start", "--shards", "5"]]
      : ["npm", ["start", "--shards", "5"]];
    const result = await promisify(execFile)(file, args, { cwd: repoRoot, env: userEnvironment() }).then(
      () => ({ code: 0, stdout: "", stderr: "" }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(result.code).to.equal(2);
    expect(result.stdout).to.equal("");
    expect(result.stderr).to.include("npm took --shards as its own setting");
    expect(result.stderr).to.include("\n  npm start -- --shards 5\n");
  });

  it("ends quietly with exit code 0 when the reader closes the pipe (| head)", async () => {
    const child = spawn(process.execPath, npmScriptNodeArgs("test", ["--help"]), {
      cwd: repoRoot,
      env: userEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    // The reader is gone before the script writes a byte: its first write fails with EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(stderr).to.equal("");
    expect(code).to.equal(0);
  });
});
