/**
 * What the local servers share: listening on a loopback port, reading a request body, answering JSON,
 * checking a required string field, and counting calls by operation.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";

/** A server listening on loopback, as every local server returns it. */
export interface RunningServer {
  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_<SERVICE>` is set to. */
  endpoint: string;
  /** Closes the listener and every open connection; resolves once closed. */
  stop(): Promise<void>;
}

/** Requests larger than this are refused (AWS request bodies for these APIs are far smaller). */
const maxBodyBytes = 10 * 1024 * 1024;

/** Starts `handler` on `host` (default 127.0.0.1) and port 0 (any free port). */
export function listenOnLoopback(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  host = "127.0.0.1",
): Promise<{ server: Server; port: number } & RunningServer> {
  const server = createServer(handler);
  // SDK clients keep connections alive; stop() drops them rather than waiting for them to go idle.
  server.keepAliveTimeout = 5_000;
  return listen(server, host);
}

/** Makes `server` listen on `host` and `port` (default 0: a free port). */
export async function listen(
  server: Server,
  host = "127.0.0.1",
  port = 0,
): Promise<{ server: Server; port: number } & RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("local server did not get a TCP port");
  return {
    server,
    port: address.port,
    endpoint: `http://${host}:${address.port}`,
    stop: () => closeServer(server),
  };
}

/** Closes a server and drops its keep-alive connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/** Reads a whole request body. */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new Error(`request body is larger than ${maxBodyBytes} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Parses a JSON request body; an empty body is `{}`. Throws a plain Error for bad JSON. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const parsed: unknown = JSON.parse(body.toString("utf8"));
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** Answers with a JSON body and a request id, as AWS does. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  contentType = "application/json",
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    ...headers,
  });
  response.end(text);
}

/** Checks a required string field: returns it, or throws the service's error for a missing field. */
export type RequireString = (value: unknown, field: string, allowEmpty?: boolean) => string;

/**
 * A service's `RequireString`: a value that is not a string, or is empty (unless `allowEmpty`), throws
 * `missingField(field)`, the error that service answers with.
 */
export function makeRequireString(missingField: (field: string) => Error): RequireString {
  return (value, field, allowEmpty = false) => {
    if (typeof value !== "string" || (!allowEmpty && value.length === 0)) throw missingField(field);
    return value;
  };
}

/** Counts calls by operation name (and anything else keyed by a string). */
export class CallCounter {
  private readonly counts = new Map<string, number>();

  add(key: string, by = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** The counts as a plain object, keys sorted. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
