/**
 * A render made afresh: the program run under Pulumi's mock engine, every resource it registers recorded
 * with its inputs resolved, the stack outputs, and each Lambda function's archive. Loaded by
 * render-stack.ts only when a render is not kept, so that a process served from the render cache never
 * loads Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { plainValue, renderFunction } from "./archives";
import { AwsMocks } from "./aws-mocks";
import type { RenderedFunction, RenderedResource, RenderedStack } from "./rendered-stack";
import { projectName } from "./stack-files";

/** Region when the stack file sets no `aws:region`. */
const fallbackRegion = "us-east-1";

export interface RenderRequest {
  root: string;
  stack: string;
  /** The config the program runs with: the stack file's over the defaults, then the options'. */
  config: Record<string, string>;
  preview: boolean;
  /** Names the render in this process and on disk. */
  key: string;
}

/** Runs the program for `request` and records what it registers. */
export async function renderFresh(request: RenderRequest): Promise<RenderedStack> {
  // Pulumi reads a stack trace for every resource and every promise it makes; ts-register.js maps each
  // through source maps, a quarter of a render. Its traces only feed its own diagnostics: V8's plain ones do.
  const mappedStackTrace = Error.prepareStackTrace;
  delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
  const runtime = pulumi.runtime as PulumiRuntimeFunctions;
  const { serializeFunction, computeCodePaths } = runtime;
  runtime.serializeFunction = reusedClosure(serializeFunction);
  runtime.computeCodePaths = reusedCodePaths(computeCodePaths);
  const { debuggablePromise } = debuggable;
  debuggable.debuggablePromise = untracedPromise(debuggablePromise);
  try {
    return await render(request);
  } finally {
    Error.prepareStackTrace = mappedStackTrace;
    debuggable.debuggablePromise = debuggablePromise;
    runtime.serializeFunction = serializeFunction;
    runtime.computeCodePaths = computeCodePaths;
  }
}

/** Pulumi's module that labels each promise it makes (its calls go through this object). */
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
  debuggablePromise<T>(promise: Promise<T>, context: unknown): Promise<T>;
};

/**
 * Pulumi takes a stack trace for every promise it makes, a third of a render's CPU after the first: it is
 * read only to report a promise still pending at exit, and a render awaits every registration. The
 * program's own errors keep their traces.
 */
function untracedPromise(label: typeof debuggable.debuggablePromise): typeof debuggable.debuggablePromise {
  return (promise, context) => {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return label(promise, context);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  };
}

type PulumiRuntimeFunctions = {
  serializeFunction: typeof pulumi.runtime.serializeFunction;
  computeCodePaths: (options?: pulumi.runtime.CodePathOptions) => Promise<Map<string, unknown>>;
};

/** Closures serialized in this process, by function and options. */
const closures = new WeakMap<object, Map<string, Promise<pulumi.runtime.SerializedFunction>>>();

/**
 * Pulumi serializes a CallbackFunction's factory anew for each function of each render, a second of a
 * render's CPU. The bridge's factories are module-level functions of code that does not change while the
 * process runs (no module is reloaded but index.ts), so the same function serializes to the same text.
 */
function reusedClosure(serialize: PulumiRuntimeFunctions["serializeFunction"]) {
  return (func: Parameters<typeof serialize>[0], args: pulumi.runtime.SerializeFunctionArgs = {}) => {
    const byOptions = closures.get(func) ?? new Map<string, Promise<pulumi.runtime.SerializedFunction>>();
    closures.set(func, byOptions);
    const key = JSON.stringify(args);
    let serialized = byOptions.get(key);
    if (!serialized) {
      serialized = serialize(func, args);
      byOptions.set(key, serialized);
      serialized.catch(() => byOptions.delete(key));
    }
    return serialized;
  };
}

/** Package folders of a Lambda archive in this process, by options and working folder. */
const codePaths = new Map<string, Promise<Map<string, unknown>>>();

/**
 * Pulumi reads every package.json under node_modules for each CallbackFunction's archive (npm's
 * Arborist), a second of a render's CPU: the packages do not change while the process runs.
 */
function reusedCodePaths(compute: PulumiRuntimeFunctions["computeCodePaths"]) {
  return (options?: pulumi.runtime.CodePathOptions) => {
    const key = JSON.stringify([process.cwd(), options ?? {}]);
    let paths = codePaths.get(key);
    if (!paths) {
      paths = compute(options);
      codePaths.set(key, paths);
      paths.catch(() => codePaths.delete(key));
    }
    return paths;
  };
}

async function render({ root, stack, config, preview }: RenderRequest): Promise<RenderedStack> {
  const project = projectName(root);
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
  await pulumi.runtime.setMocks(mocks, project, stack, preview);
  captureParents(parents);

  // Resources created before setMocks bypass the mocks, and index.ts creates its resources as it loads:
  // load it afresh for every render (infra/ creates nothing as it loads).
  delete require.cache[path.join(root, "index.ts")];
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
      state: (await plainValue(record.state)) as Record<string, unknown>,
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
