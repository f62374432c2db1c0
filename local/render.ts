/**
 * Runs the Pulumi program under the mock engine, with no CLI and no AWS credentials, and records what it
 * would create: every resource with its inputs resolved, the stack outputs, and each Lambda function's
 * archive. The mocked IDs, names and ARNs look like real ones (account 123456789012, the stack's region,
 * the names the stack gives), so policies and the pipeline definition read as they will in AWS.
 *
 * Used by `npm run plan`, by the infrastructure tests, and by local mode (which loads the functions'
 * serialized closures and the pipeline definition from here).
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import JSZip from "jszip";
import { createRequire } from "module";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { checkStackFileTypes } from "../infra/config/stack-file";
import type { PipelineDefinition } from "../infra/pipeline-definition";

/** The repository root: where Pulumi.yaml, index.ts and node_modules are. */
export const repoRoot = path.resolve(__dirname, "..");

/** The account ID every mocked ARN carries (the example account of the AWS documentation). */
export const mockAccountId = "123456789012";

/** Region when the stack file sets no `aws:region`. */
const fallbackRegion = "us-east-1";

export type ConfigValue = string | number | boolean | string[];

export interface RenderOptions {
  /** Stack name: config comes from `Pulumi.<stack>.yaml` over the `Pulumi.yaml` defaults. Default "dev". */
  stack?: string;
  /** Config values set over the stack file's, by key (`pipelineName` or `aws:region`). */
  config?: Record<string, ConfigValue>;
  /** Run as a preview (outputs of resources may be unknown). Default false. */
  preview?: boolean;
  /** Where Pulumi.yaml and index.ts are. Default: this repository. */
  root?: string;
}

/** One resource the program registered. */
export interface RenderedResource {
  /** Pulumi type token, e.g. `aws:sqs/queue:Queue`. */
  type: string;
  /** Logical (Pulumi) name. */
  name: string;
  urn: string;
  /** The parent's logical name; undefined for top-level resources. */
  parent?: string;
  parentUrn?: string;
  /** The mocked physical ID (empty for components). */
  id: string;
  /** False for component resources. */
  custom: boolean;
  /** Inputs with every Output resolved; assets and archives as `{asset: ...}` / `{archive: [...]}`. */
  inputs: Record<string, unknown>;
  /** The mocked state after creation (inputs plus the IDs, ARNs and URLs AWS would assign). */
  state: Record<string, unknown>;
}

/** A Lambda function and the archive Pulumi would upload for it. */
export interface RenderedFunction {
  /** Logical name. */
  name: string;
  /** The function's name in AWS (as mocked). */
  functionName: string;
  runtime: string;
  handler: string;
  /** The function's environment variables. */
  environment: Record<string, string>;
  /** Every file path in the archive, sorted. */
  files: string[];
  /** Size of the archive zipped (deflate). */
  archiveBytes: number;
  /** `__index.js`: the serialized closure (ends with `exports.handler = __f0();`). */
  indexJs: string;
}

export interface RenderedStack {
  stack: string;
  /** The config the program ran with, as `pulumi config` holds it (`project:key` -> string). */
  config: Record<string, string>;
  resources: RenderedResource[];
  /** The program's exports, resolved. */
  outputs: Record<string, unknown>;
  functions: RenderedFunction[];
}

/** The Pulumi project's name (from Pulumi.yaml). */
export function projectName(root = repoRoot): string {
  return readYaml(path.join(root, "Pulumi.yaml")).name as string;
}

/**
 * The config a stack runs with: the defaults declared in Pulumi.yaml's `config:` block, then the values of
 * `Pulumi.<stack>.yaml`, then `overrides`; keys qualified (`project:key`) and values as strings, the way
 * `pulumi config` stores them. Throws if the stack file does not exist.
 */
export function stackConfig(
  stack: string,
  overrides: Record<string, ConfigValue> = {},
  root = repoRoot,
): Record<string, string> {
  const project = readYaml(path.join(root, "Pulumi.yaml"));
  const projectKey = (key: string) => (key.includes(":") ? key : `${project.name}:${key}`);
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) {
    throw new Error(
      `No stack file Pulumi.${stack}.yaml in ${root} (Pulumi writes it on the stack's first ` +
        `"pulumi config set"); stacks with a file: ${stackNames(root).join(", ") || "(none)"}.`,
    );
  }
  const config: Record<string, string> = {};
  const declared = (project.config ?? {}) as Record<string, { default?: ConfigValue }>;
  for (const [key, spec] of Object.entries(declared)) {
    if (spec && typeof spec === "object" && spec.default !== undefined) {
      config[projectKey(key)] = configString(spec.default);
    }
  }
  const values = (readYaml(stackFile).config ?? {}) as Record<string, ConfigValue>;
  // What pulumi preview rejects before the program runs.
  checkStackFileTypes(String(project.name), declared, { stack, config: values });
  for (const [key, value] of Object.entries({ ...values, ...overrides })) {
    config[projectKey(key)] = configString(value);
  }
  return config;
}

/** Stacks with a `Pulumi.<stack>.yaml` file. */
export function stackNames(root = repoRoot): string[] {
  return fs
    .readdirSync(root)
    .map((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/**
 * Runs index.ts under the mock engine with the stack's config and returns what it registered. Several
 * renders may run one after another in one process (not concurrently): each loads the program afresh.
 */
export async function renderStack(options: RenderOptions = {}): Promise<RenderedStack> {
  const root = options.root ?? repoRoot;
  const stack = options.stack ?? "dev";
  const project = projectName(root);
  const config = stackConfig(stack, options.config, root);
  const region = config["aws:region"] ?? fallbackRegion;

  const records = new Map<string, Omit<RenderedResource, "parent" | "parentUrn" | "urn">>();
  const parents = new Map<string, { urn: string; parentUrn?: string }>();
  const mocks = new AwsMocks(region, (args, id, state) => {
    records.set(resourceKey(args.type, args.name), {
      type: args.type,
      name: args.name,
      id,
      custom: args.custom !== false,
      inputs: args.inputs,
      state,
    });
  });

  pulumi.runtime.setAllConfig(config);
  await pulumi.runtime.setMocks(mocks, project, stack, options.preview ?? false);
  captureParents(parents);

  // Resources created before setMocks bypass the mocks, and a module creates its resources once: load the
  // program and its infra/ modules afresh for every render.
  for (const file of Object.keys(require.cache)) {
    if (file.startsWith(path.join(root, "infra") + path.sep) || file === path.join(root, "index.ts")) {
      delete require.cache[file];
    }
  }
  const program = require(path.join(root, "index.ts")) as Record<string, unknown>;

  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = await resolved(value);
  }
  await waitForRegistrations();

  const resources: RenderedResource[] = [];
  for (const [key, record] of records) {
    const place = parents.get(key);
    const parentName = place?.parentUrn ? place.parentUrn.split("::").pop() : undefined;
    resources.push({
      ...record,
      urn: place?.urn ?? "",
      ...(place?.parentUrn ? { parent: parentName, parentUrn: place.parentUrn } : {}),
      inputs: (await plainValue(record.inputs)) as Record<string, unknown>,
    });
  }
  // Registrations complete in no fixed order: sort so that every render of a config reads the same.
  resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
  const functions: RenderedFunction[] = [];
  for (const resource of resources) {
    if (resource.type === "aws:lambda/function:Function") {
      const record = records.get(resourceKey(resource.type, resource.name));
      functions.push(await renderFunction(resource, record?.inputs.code, root));
    }
  }
  return { stack, config, resources, outputs, functions };
}

/**
 * Loads a function's serialized closure the way Lambda does (`require` rooted at the repository, with the
 * function's environment set while the factory runs) and returns its handler.
 */
export function loadHandler(
  fn: Pick<RenderedFunction, "indexJs" | "environment">,
  env: Record<string, string> = {},
  root = repoRoot,
): unknown {
  const filename = path.join(root, "__index.js");
  const module = { exports: {} as Record<string, unknown> };
  const variables = { ...fn.environment, ...env };
  const previous = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
  Object.assign(process.env, variables);
  try {
    new Function("exports", "require", "module", "__filename", "__dirname", fn.indexJs)(
      module.exports,
      createRequire(filename),
      module,
      filename,
      root,
    );
  } finally {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  return module.exports.handler;
}

/** The resources of one type, in registration order. */
export function resourcesOfType(rendered: RenderedStack, type: string): RenderedResource[] {
  return rendered.resources.filter((r) => r.type === type);
}

/** The pipeline definition the stack gives SageMaker, parsed. Throws if the stack has no pipeline. */
export function pipelineDefinitionOf(rendered: RenderedStack): PipelineDefinition {
  const pipeline = rendered.resources.find((r) => r.type === "aws:sagemaker/pipeline:Pipeline");
  if (typeof pipeline?.inputs.pipelineDefinition !== "string") {
    throw new Error(`The ${rendered.stack} stack has no SageMaker pipeline definition.`);
  }
  return JSON.parse(pipeline.inputs.pipelineDefinition) as PipelineDefinition;
}

// ---------------------------------------------------------------------------------------------------------

type Recorder = (args: pulumi.runtime.MockResourceArgs, id: string, state: Record<string, unknown>) => void;

/** Answers resource registrations and provider calls with values shaped like AWS's. */
class AwsMocks implements pulumi.runtime.Mocks {
  private readonly partition: string;

  constructor(
    private readonly region: string,
    private readonly record: Recorder,
  ) {
    this.partition = region.startsWith("cn-")
      ? "aws-cn"
      : region.startsWith("us-gov-")
        ? "aws-us-gov"
        : "aws";
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return {
          id: mockAccountId,
          accountId: mockAccountId,
          arn: `arn:${this.partition}:iam::${mockAccountId}:user/plan`,
          userId: "AIDAEXAMPLEPLANUSER",
        };
      case "aws:index/getRegion:getRegion":
        return {
          id: this.region,
          name: this.region,
          region: this.region,
          endpoint: `ec2.${this.region}.amazonaws.com`,
        };
      case "aws:index/getPartition:getPartition":
        return {
          id: this.partition,
          partition: this.partition,
          dnsSuffix: "amazonaws.com",
          reverseDnsPrefix: "com.amazonaws",
        };
      default:
        throw new Error(`The mock engine does not know the call ${args.token}.`);
    }
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const { id, state } = this.mockedState(args);
    this.record(args, id, state);
    return { id, state };
  }

  private arn(service: string, resource: string, region = this.region, account = mockAccountId): string {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  private mockedState(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = args.inputs as Record<string, unknown>;
    const named = (typeof inputs.name === "string" && inputs.name) || autoName(args.type, args.name);
    const withState = (id: string, computed: Record<string, unknown>) => ({
      id,
      state: { ...inputs, ...computed },
    });
    switch (args.type) {
      case "aws:iam/role:Role":
        return withState(named, {
          name: named,
          arn: `arn:${this.partition}:iam::${mockAccountId}:role/${named}`,
          uniqueId: `AROA${hex(args.name, 17).toUpperCase()}`,
        });
      case "aws:iam/rolePolicy:RolePolicy":
        return withState(`${inputs.role}:${named}`, { name: named });
      case "aws:cloudwatch/logGroup:LogGroup":
        return withState(named, { name: named, arn: this.arn("logs", `log-group:${named}`) });
      case "aws:lambda/function:Function": {
        const arn = this.arn("lambda", `function:${named}`);
        return withState(named, {
          name: named,
          arn,
          qualifiedArn: `${arn}:$LATEST`,
          version: "$LATEST",
          invokeArn: `arn:${this.partition}:apigateway:${this.region}:lambda:path/2015-03-31/functions/${arn}/invocations`,
        });
      }
      case "aws:lambda/permission:Permission":
        return withState(named, { statementId: named });
      case "aws:lambda/eventSourceMapping:EventSourceMapping": {
        const uuid = [8, 4, 4, 4, 12].reduce<string[]>(
          (parts, length) => [...parts, hex(`${args.name}-${parts.length}`, length)],
          [],
        );
        return withState(uuid.join("-"), {
          uuid: uuid.join("-"),
          functionArn: this.arn("lambda", `function:${inputs.functionName}`),
          state: "Enabled",
        });
      }
      case "aws:sqs/queue:Queue": {
        const url = `https://sqs.${this.region}.amazonaws.com/${mockAccountId}/${named}`;
        return withState(url, { name: named, url, arn: this.arn("sqs", named) });
      }
      case "aws:batch/computeEnvironment:ComputeEnvironment": {
        const arn = this.arn("batch", `compute-environment/${named}`);
        return withState(arn, { name: named, arn, ecsClusterArn: this.arn("ecs", `cluster/${named}`) });
      }
      case "aws:batch/jobQueue:JobQueue": {
        const arn = this.arn("batch", `job-queue/${named}`);
        return withState(arn, { name: named, arn });
      }
      case "aws:batch/jobDefinition:JobDefinition": {
        const arnPrefix = this.arn("batch", `job-definition/${named}`);
        return withState(`${arnPrefix}:1`, { name: named, arn: `${arnPrefix}:1`, arnPrefix, revision: 1 });
      }
      case "aws:s3/bucket:Bucket": {
        const bucket = (typeof inputs.bucket === "string" && inputs.bucket) || autoName(args.type, args.name);
        return withState(bucket, {
          bucket,
          arn: `arn:${this.partition}:s3:::${bucket}`,
          bucketDomainName: `${bucket}.s3.amazonaws.com`,
          region: this.region,
        });
      }
      case "aws:ec2/securityGroup:SecurityGroup": {
        const id = `sg-${hex(args.name, 17)}`;
        return withState(id, { name: named, arn: this.arn("ec2", `security-group/${id}`) });
      }
      case "aws:dynamodb/table:Table": {
        const arn = this.arn("dynamodb", `table/${named}`);
        return withState(named, { name: named, arn });
      }
      case "aws:cloudwatch/eventRule:EventRule":
        // Rules on the default bus: the ID is the name.
        return withState(named, { name: named, arn: this.arn("events", `rule/${named}`) });
      case "aws:sagemaker/pipeline:Pipeline": {
        const pipelineName = String(inputs.pipelineName);
        // SageMaker lowercases pipeline names in ARNs.
        return withState(pipelineName, {
          arn: this.arn("sagemaker", `pipeline/${pipelineName.toLowerCase()}`),
        });
      }
      case "awsx:ec2:DefaultVpc":
        return withState(`${args.name}-id`, {
          vpcId: `vpc-${hex("default-vpc", 17)}`,
          publicSubnetIds: ["a", "b", "c"].map((zone) => `subnet-${hex(`default-${zone}`, 17)}`),
          privateSubnetIds: [],
        });
      default:
        return withState(args.custom === false ? "" : `${named}-id`, {});
    }
  }
}

/** Pulumi's auto-naming: the logical name and 7 random hex characters (here derived, so renders agree). */
function autoName(type: string, name: string): string {
  return `${name}-${hex(`${type}::${name}`, 7)}`;
}

function hex(seed: string, length: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}

function resourceKey(type: string, name: string): string {
  return `${type}::${name}`;
}

/**
 * The mock engine hands the mocks a resource's type, name and inputs but not its parent: read the parent
 * from the registration request itself.
 */
function captureParents(parents: Map<string, { urn: string; parentUrn?: string }>): void {
  interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
  }
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(request: RegisterRequest, callback: (error: unknown, response?: unknown) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) => {
    register(request, (error, response) => {
      const urn = (response as { getUrn?: () => string } | undefined)?.getUrn?.() ?? "";
      const parentUrn = request.getParent() || undefined;
      parents.set(resourceKey(request.getType(), request.getName()), { urn, parentUrn });
      callback(error, response);
    });
  };
}

/**
 * Waits until the engine has answered every registration, including those of resources no output depends
 * on (the SDK's own drain, exported by its runtime but left out of its typings).
 */
async function waitForRegistrations(): Promise<void> {
  const runtime = pulumi.runtime as unknown as { waitForRPCs(): Promise<void> };
  await runtime.waitForRPCs();
}

/** The value of an export: Outputs resolved (undefined if unknown in a preview), the rest as is. */
async function resolved(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    // `promise()` yields undefined for an unknown value where `apply` would never run.
    return (value as unknown as { promise(): Promise<unknown> }).promise();
  }
  return value;
}

/** Inputs as plain JSON: assets and archives replaced by what they hold. */
async function plainValue(value: unknown): Promise<unknown> {
  if (pulumi.asset.Archive.isInstance(value)) {
    const entries = await archiveEntries(value);
    return { archive: entries.map((e) => e.name) };
  }
  if (pulumi.asset.Asset.isInstance(value)) {
    return { asset: await assetDescription(value) };
  }
  if (Array.isArray(value)) return Promise.all((value as unknown[]).map(plainValue));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await plainValue(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

async function assetDescription(asset: pulumi.asset.Asset): Promise<string> {
  const fields = asset as unknown as {
    path?: Promise<string>;
    text?: Promise<string>;
    uri?: Promise<string>;
  };
  if (fields.text !== undefined) return `text (${(await fields.text).length} characters)`;
  if (fields.path !== undefined) return `file ${await fields.path}`;
  return `uri ${await fields.uri}`;
}

interface ArchiveEntry {
  name: string;
  text?: string;
  file?: string;
}

/** The top-level entries of an archive: `__index.js` and one folder per package. */
async function archiveEntries(archive: pulumi.asset.Archive): Promise<ArchiveEntry[]> {
  const fields = archive as unknown as {
    assets?: Promise<Record<string, pulumi.asset.Asset | pulumi.asset.Archive>>;
    path?: Promise<string>;
  };
  if (fields.assets === undefined) return [{ name: `archive ${await fields.path}` }];
  const assets = await fields.assets;
  const entries: ArchiveEntry[] = [];
  for (const name of Object.keys(assets).sort()) {
    const item = assets[name] as unknown as { text?: Promise<string>; path?: Promise<string> };
    if (item.text !== undefined) entries.push({ name, text: await item.text });
    else if (item.path !== undefined) entries.push({ name, file: await item.path });
  }
  return entries;
}

interface ZippedArchive {
  indexJs: string;
  files: string[];
  archiveBytes: number;
}

/** Archives already zipped in this process, by content: the same closure and packages zip the same. */
const zippedArchives = new Map<string, ZippedArchive>();

/** The archive zipped in memory (deflate), as Pulumi would upload it. */
async function zipArchive(code: unknown, root: string): Promise<ZippedArchive> {
  const entries = pulumi.asset.Archive.isInstance(code) ? await archiveEntries(code) : [];
  const key = createHash("sha256")
    .update(JSON.stringify([root, entries]))
    .digest("hex");
  const cached = zippedArchives.get(key);
  if (cached) return cached;
  const zip = new JSZip();
  for (const entry of entries) {
    if (entry.text !== undefined) zip.file(entry.name, entry.text);
    else if (entry.file !== undefined) addPath(zip, entry.name, path.resolve(root, entry.file));
  }
  const zipped = {
    indexJs: entries.find((e) => e.name === "__index.js")?.text ?? "",
    files: Object.values(zip.files)
      .filter((f) => !f.dir)
      .map((f) => f.name)
      .sort(),
    archiveBytes: (await zip.generateAsync({ type: "uint8array", compression: "DEFLATE" })).byteLength,
  };
  zippedArchives.set(key, zipped);
  return zipped;
}

/** A function's settings and archive. */
async function renderFunction(
  resource: RenderedResource,
  code: unknown,
  root: string,
): Promise<RenderedFunction> {
  const { indexJs, files, archiveBytes } = await zipArchive(code, root);
  const inputs = resource.inputs as {
    name?: string;
    runtime?: string;
    handler?: string;
    environment?: { variables?: Record<string, string> };
  };
  return {
    name: resource.name,
    functionName: String(resource.state.name ?? inputs.name ?? resource.name),
    runtime: String(inputs.runtime),
    handler: String(inputs.handler),
    environment: inputs.environment?.variables ?? {},
    files,
    archiveBytes,
    indexJs,
  };
}

function addPath(zip: JSZip, name: string, file: string): void {
  const stat = fs.statSync(file);
  if (stat.isDirectory()) {
    for (const child of fs.readdirSync(file).sort()) addPath(zip, `${name}/${child}`, path.join(file, child));
  } else {
    zip.file(name, fs.readFileSync(file));
  }
}

function configString(value: ConfigValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function readYaml(file: string): Record<string, unknown> {
  return (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as Record<string, unknown>;
}
