/**
 * The transport local mode gives an SDK client of its own or of a simulated function to a local server in
 * this process (in-process-http.ts): no socket, no Signature Version 4 hashing. What the functions depend
 * on behaves as over HTTP: the server answers (throttling included) and the SDK retries as it would; the
 * request counts as in flight until its answer is in, so simulated time waits for it; and a call of an
 * invocation Lambda has stopped fails before it reaches the server, as a frozen function's sockets do.
 */
import type { ClientService, ClientTransport } from "../../functions/entrypoints";
import type { ModuleLoader } from "../../render/load-handler";
import { inProcessRequestHandler, unsignedSigner, type RequestListener } from "../in-process-http";
import { outsideInvocation, refuseIfInvocationEnded } from "./invocation-context";

/**
 * A client transport that hands each request to `listener`, the local server's request listener; `service`
 * is the service's signing name (`batch`, `sqs`, ...).
 */
export function inProcessTransport(listener: RequestListener, service: string): ClientTransport {
  // The server's work is its own, not the calling invocation's: its timers outlive a stopped function.
  const inProcess = inProcessRequestHandler((request, response) =>
    outsideInvocation(() => listener(request, response)),
  );
  return {
    requestHandler: {
      ...inProcess,
      handle: async (request, options) => {
        refuseIfInvocationEnded();
        return inProcess.handle(request, options);
      },
    },
    signer: unsignedSigner(service),
  };
}

/** The SDK packages the functions use, by the service their endpoint variable names. */
const clientPackages: Record<string, ClientService> = {
  "@aws-sdk/client-batch": "BATCH",
  "@aws-sdk/client-dynamodb": "DYNAMODB",
  "@aws-sdk/client-s3": "S3",
  "@aws-sdk/client-sagemaker": "SAGEMAKER",
  "@aws-sdk/client-sqs": "SQS",
};

/** A local server a client may reach in process: its endpoint, and the transport to it. */
export interface InProcessServer {
  endpoint: string;
  transport: ClientTransport;
}

/**
 * What the functions' closures `require` packages with in a local run (render/load-handler.ts `loadHandler`):
 * the SDK packages of the services in `servers` with client classes that take the server's transport when
 * they are created with its endpoint (which the function's `clientConfig` reads from the environment local
 * mode sets). Every other setting is the function's own, and every other package is the real one.
 */
export function clientModulesInProcess(
  servers: Partial<Record<ClientService, InProcessServer>>,
): ModuleLoader {
  const loaded = new Map<string, unknown>();
  return (id, require) => {
    const service = clientPackages[/^@aws-sdk\/client-[a-z0-9-]+/.exec(id)?.[0] ?? ""];
    const server = service === undefined ? undefined : servers[service];
    if (!server) return require(id);
    if (!loaded.has(id)) loaded.set(id, withTransport(require(id) as Record<string, unknown>, server));
    return loaded.get(id);
  };
}

/** The package's exports with each `...Client` class replaced by one that takes `server`'s transport. */
function withTransport(exports: Record<string, unknown>, server: InProcessServer): Record<string, unknown> {
  const clients = Object.entries(exports).flatMap(([name, value]) =>
    name.endsWith("Client") && typeof value === "function" ? [[name, value] as const] : [],
  );
  return {
    ...exports,
    ...Object.fromEntries(
      clients.map(([name, Client]) => {
        const SdkClient = Client as new (config?: { endpoint?: unknown }) => object;
        const InProcessClient = class extends SdkClient {
          constructor(config: { endpoint?: unknown } = {}) {
            super(config.endpoint === server.endpoint ? { ...config, ...server.transport } : config);
          }
        };
        Object.defineProperty(InProcessClient, "name", { value: name });
        return [name, InProcessClient];
      }),
    ),
  };
}

/** A local server of `service` with its in-process transport. */
export function inProcessServer(
  server: { endpoint: string; requestListener: RequestListener },
  service: ClientService,
): InProcessServer {
  return {
    endpoint: server.endpoint,
    transport: inProcessTransport(server.requestListener, service.toLowerCase()),
  };
}
