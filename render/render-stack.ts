/**
 * Runs the Pulumi program under the mock engine, with no CLI and no AWS credentials, and records what it
 * would create: every resource with its inputs resolved, the stack outputs, and each Lambda function's
 * archive. The mocked IDs, names and ARNs look like real ones (account 123456789012, the stack's region,
 * the names the stack gives), so policies and the pipeline definition read as they will in AWS. A render
 * is made by fresh-render.ts, loaded only when the render cache does not hold it.
 */
import {
  awaitClaimedRender,
  cachedRenderFile,
  claimRender,
  readCachedRender,
  releaseRender,
  renderKey,
  sourcesDigest,
  writeCachedRender,
} from "./render-cache";
import type { RenderRequest } from "./fresh-render";
import type { RenderedStack } from "./rendered-stack";
import { repoRoot, stackConfig, type ConfigValue } from "./stack-files";

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

/** Renders of this process by key, as JSON text: each caller parses its own copy. */
const renders = new Map<string, Promise<string>>();
/** The mock engine is one per process: renders run one after another. */
let lastRender: Promise<unknown> = Promise.resolve();
/** The digest of each root's sources, read once per process (the modules a render loads are, too). */
const sourceDigests = new Map<string, string>();

/** What `options` ask to render, and its key. Throws if the stack has no file or a value of a wrong type. */
function renderRequest(options: RenderOptions): RenderRequest {
  const root = options.root ?? repoRoot;
  const stack = options.stack ?? "dev";
  const config = stackConfig(stack, options.config, root);
  const preview = options.preview ?? false;
  let sources = sourceDigests.get(root);
  if (sources === undefined) {
    sources = sourcesDigest(root);
    sourceDigests.set(root, sources);
  }
  return { root, stack, config, preview, key: renderKey(root, sources, { stack, config, preview }) };
}

/** The file where the render `options` ask for is kept (see render-cache.ts). */
export function renderCacheFile(options: RenderOptions = {}): string {
  const { root, key } = renderRequest(options);
  return cachedRenderFile(root, key);
}

/**
 * Runs index.ts under the mock engine with the stack's config and returns what it registered. The same
 * stack and config render once: later calls in this process, and in any process of the same sources (see
 * render-cache.ts), get a copy of that render; a process that asks while another makes it waits for it.
 */
export async function renderStack(options: RenderOptions = {}): Promise<RenderedStack> {
  const request = renderRequest(options);
  let rendered = renders.get(request.key);
  if (!rendered) {
    rendered = lastRender
      .catch(() => undefined)
      .then(async () => {
        const cached = readCachedRender(request.root, request.key);
        if (cached !== undefined) return cached;
        // Another process making the same render: its entry, rather than a second render.
        if (!claimRender(request.root, request.key)) {
          const made = await awaitClaimedRender(request.root, request.key);
          if (made !== undefined) return made;
        }
        try {
          // Pulumi and the program load only for a render not kept (half a second before any render).
          const { renderFresh } = await import("./fresh-render");
          const text = JSON.stringify(await renderFresh(request));
          writeCachedRender(request.root, request.key, text);
          return text;
        } finally {
          releaseRender(request.root, request.key);
        }
      });
    lastRender = rendered;
    renders.set(request.key, rendered);
    rendered.catch(() => renders.delete(request.key));
  }
  return JSON.parse(await rendered) as RenderedStack;
}
