import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import {
  awaitClaimedRender,
  cachedRenderFile,
  claimFileOf,
  claimRender,
  releaseRender,
  renderedSourceFiles,
  sourcesDigest,
  writeCachedRender,
} from "../../render/render-cache";
import { renderCacheFile, renderStack } from "../../render/render-stack";
import { repoRoot } from "../../render/stack-files";

/** The repository files `file` imports by relative path (import/export ... from, require, import()). */
function localImports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)"(\.{1,2}\/[^"]*)"/g)].map(
    (m) => m[1],
  );
  return specifiers.map((specifier) => {
    const target = path.resolve(path.dirname(file), specifier);
    const candidates = [target, `${target}.ts`, `${target}.json`, path.join(target, "index.ts")];
    const found = candidates.find((candidate) => fs.existsSync(candidate) && fs.statSync(candidate).isFile());
    if (!found) throw new Error(`${path.relative(repoRoot, file)} imports ${specifier}: no such file`);
    return found;
  });
}

/** Every repository file reachable from `entries` through relative imports. */
function importGraph(entries: string[]): string[] {
  const seen = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (file.endsWith(".ts")) pending.push(...localImports(file));
  }
  return [...seen].map((file) => path.relative(repoRoot, file)).sort();
}

describe("the render cache", () => {
  it("covers in its digest every repository file the program and the render import", () => {
    const renderModules = fs
      .readdirSync(path.join(repoRoot, "render"))
      .map((name) => path.join(repoRoot, "render", name));
    const imported = importGraph([path.join(repoRoot, "index.ts"), ...renderModules]);
    expect(imported).to.include.members(["index.ts", "infra/functions.ts", "functions/entrypoints.ts"]);
    const covered = renderedSourceFiles(repoRoot);
    expect(imported.filter((file) => !covered.includes(file))).to.deep.equal([]);
  });

  describe("its digest, on a copy of the repository's sources", () => {
    let copy: string;
    before(() => {
      copy = fs.mkdtempSync(path.join(os.tmpdir(), "render-cache-"));
      for (const file of [...renderedSourceFiles(repoRoot), "tests/readme.test.ts"]) {
        const from = path.join(repoRoot, file);
        if (!fs.existsSync(from)) continue;
        fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
        fs.copyFileSync(from, path.join(copy, file));
      }
    });
    after(() => fs.rmSync(copy, { recursive: true, force: true }));

    /** The digest with `file` changed by one character, then the file restored. */
    function digestWithChange(file: string): string {
      const full = path.join(copy, file);
      const text = fs.readFileSync(full, "utf8");
      fs.writeFileSync(full, `${text} `);
      try {
        return sourcesDigest(copy);
      } finally {
        fs.writeFileSync(full, text);
      }
    }

    it("changes with any file a render reads: the program, a closure's code, the stack files, the packages", () => {
      const digest = sourcesDigest(copy);
      for (const file of [
        "index.ts",
        "infra/functions.ts",
        "functions/monitor.ts",
        "render/aws-mocks.ts",
        "Pulumi.yaml",
        "package.json",
        "node_modules/.package-lock.json",
      ]) {
        expect(digestWithChange(file), file).to.not.equal(digest);
      }
      expect(sourcesDigest(copy), "restored").to.equal(digest);
    });

    it("stays the same when only files a render never reads change (tests, docs)", () => {
      expect(digestWithChange("tests/readme.test.ts")).to.equal(sourcesDigest(copy));
    });
  });

  describe("claims: one process makes a render that several want at once", () => {
    let root: string;
    beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "render-claims-"))));
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
    const claim = (key: string) => claimFileOf(cachedRenderFile(root, key));
    /** The ID of a process that has exited. */
    const exitedPid = () => spawnSync(process.execPath, ["-e", ""]).pid;

    it("gives the render to the first claimant; a second waits while the holder lives, until released", () => {
      expect(claimRender(root, "k1")).to.equal(true);
      expect(claimRender(root, "k1"), "held by a live process").to.equal(false);
      expect(claimRender(root, "k2"), "another render").to.equal(true);
      releaseRender(root, "k1");
      expect(fs.existsSync(claim("k1"))).to.equal(false);
      expect(claimRender(root, "k1")).to.equal(true);
    });

    it("takes over the claim of a process that has exited", () => {
      fs.mkdirSync(path.dirname(claim("k1")), { recursive: true });
      fs.writeFileSync(claim("k1"), String(exitedPid()));
      expect(claimRender(root, "k1")).to.equal(true);
      expect(fs.readFileSync(claim("k1"), "utf8")).to.equal(String(process.pid));
    });

    it("waits for the holder's entry, and stops waiting when the holder exits without one", async () => {
      fs.mkdirSync(path.dirname(claim("k1")), { recursive: true });
      fs.writeFileSync(claim("k1"), String(process.ppid));
      setTimeout(() => writeCachedRender(root, "k1", '{"made": "elsewhere"}'), 300);
      expect(await awaitClaimedRender(root, "k1")).to.equal('{"made": "elsewhere"}');

      fs.writeFileSync(claim("k2"), String(exitedPid()));
      expect(await awaitClaimedRender(root, "k2")).to.equal(undefined);
    });
  });

  describe("on disk, for a small program", () => {
    // What these tests check does not depend on the program: tests/render/small-program renders in a
    // fraction of the stack's time, and its entries stay out of the stack's cache.
    const root = path.join(__dirname, "small-program");
    after(() => fs.rmSync(path.join(root, "node_modules"), { recursive: true, force: true }));

    it("serves a render kept under its key without running the program", async () => {
      const options = { root, stack: "dev", config: { logRetentionDays: 96 } };
      const file = renderCacheFile(options);
      const kept = await renderStack({ root, stack: "dev" });
      kept.outputs = { ...kept.outputs, queueUrl: "kept-on-disk" };
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(kept));
      try {
        expect((await renderStack(options)).outputs.queueUrl).to.equal("kept-on-disk");
      } finally {
        fs.rmSync(file, { force: true });
      }
    });

    it("waits for a render another process is making rather than make it again", async () => {
      const options = { root, stack: "dev", config: { logRetentionDays: 80 } };
      const file = renderCacheFile(options);
      const made = await renderStack({ root, stack: "dev" });
      made.outputs = { ...made.outputs, queueUrl: "made-by-another-process" };
      // The process that runs this test's process (alive while it runs) holds the claim.
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(claimFileOf(file), String(process.ppid));
      setTimeout(() => {
        fs.writeFileSync(file, JSON.stringify(made));
        fs.rmSync(claimFileOf(file));
      }, 500);
      try {
        expect((await renderStack(options)).outputs.queueUrl).to.equal("made-by-another-process");
      } finally {
        fs.rmSync(file, { force: true });
        fs.rmSync(claimFileOf(file), { force: true });
      }
    });

    it("serves a kept render to another process without loading Pulumi there", async () => {
      await renderStack({ root, stack: "dev" });
      const script =
        `require("./render/render-stack").renderStack({ root: ${JSON.stringify(root)}, stack: "dev" })` +
        ".then((r) => console.log(r.resources.length, Object.keys(require.cache)" +
        ".filter((f) => /[/\\\\]node_modules[/\\\\]@pulumi[/\\\\]/.test(f)).length))";
      const ran = spawnSync(process.execPath, ["-r", "./scripts/ts-register.js", "-e", script], {
        cwd: repoRoot,
        encoding: "utf8",
      });
      expect(ran.stderr).to.equal("");
      const [resources, pulumiModules] = ran.stdout.trim().split(" ").map(Number);
      expect(resources, "the kept render's resources").to.be.above(0);
      expect(pulumiModules, "Pulumi's modules loaded").to.equal(0);
    });

    it("renders afresh over an entry that does not parse (a write cut short), and keeps the new render", async () => {
      const options = { root, stack: "dev", config: { logRetentionDays: 400 } };
      const file = renderCacheFile(options);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '{"stack": "dev", "resou');
      const rendered = await renderStack(options);
      expect(rendered.config["small-program:logRetentionDays"]).to.equal("400");
      const logGroup = rendered.resources.find((r) => r.type === "aws:cloudwatch/logGroup:LogGroup");
      expect(logGroup?.inputs.retentionInDays).to.equal(400);
      expect(JSON.parse(fs.readFileSync(file, "utf8"))).to.deep.equal(rendered);
    });
  });
});
