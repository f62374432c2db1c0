/**
 * Runs the Pulumi program under the mock engine, with no CLI and no AWS credentials, and records what it
 * would create: every resource with its inputs resolved, the stack outputs, and each Lambda function's
 * archive. The mocked IDs, names and ARNs look like real ones (account 123456789012, the stack's region,
 * the names the stack gives), so policies and the pipeline definition read as they will in AWS.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { plainValue, renderFunction } from "./archives";
import { AwsMocks } from "./aws-mocks";
import type { RenderedFunction, RenderedResource, RenderedStack } from "./rendered-stack";
import { projectName, repoRoot, stackConfig, type ConfigValue } from "./stack-files";

/** Region when the stack file sets no `aws:region`. */
const fallbackRegion = "us-east-1";

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

/**
 * Runs index.ts under the mock engine with the stack's config and returns what it registered. Several
 * renders may run one after another in one process (not concurrently): each loads the program afresh.
 */
export async function renderStack(options: RenderOptions = {}): Promise<RenderedStack> {
  // Pulumi reads a stack trace for every resource and every promise it makes; under ts-node each is mapped
  // through source maps, a quarter of a render. Its traces only feed its own diagnostics: V8's plain ones do.
  const mappedStackTrace = Error.prepareStackTrace;
  delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
  try {
    return await render(options);
  } finally {
    Error.prepareStackTrace = mappedStackTrace;
  }
}

async function render(options: RenderOptions): Promise<RenderedStack> {
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
