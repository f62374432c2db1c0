/**
 * An AWS SDK client's transport to a local server in the same process, without a socket: each request the
 * client has serialized, signed and passed through its middleware (retries, throttling errors included)
 * is handed to the request listener the server's socket would call, and the answer comes back to the
 * client's deserializers. Only Node.js's HTTP and TCP layers (and a worker thread's hand-over) are left
 * out: for tests that make thousands of calls. The servers' own tests keep reaching them over a real socket.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import type { HttpHandler, HttpRequest, HttpResponse } from "@smithy/core/protocols";

/** What a Node.js HTTP server calls for each request. */
export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

/** A client's `requestHandler` that hands every request to `listener` in this process. */
export function inProcessRequestHandler(listener: RequestListener): HttpHandler {
  return {
    handle: async (request) => ({ response: await exchange(listener, request) }),
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
}

async function exchange(listener: RequestListener, request: HttpRequest): Promise<HttpResponse> {
  const body = await bodyBytes(request.body);
  const incoming = Object.assign(new Readable({ read: () => {} }), {
    method: request.method,
    url: request.path + queryString(request.query),
    headers: Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
    ) as IncomingHttpHeaders,
  });
  if (body.length > 0) incoming.push(body);
  incoming.push(null);
  const response = new CollectedResponse();
  listener(incoming as unknown as IncomingMessage, response as unknown as ServerResponse);
  return response.done;
}

/** The request body as bytes: the SDK's JSON protocols give a string, uploads a buffer or a stream. */
async function bodyBytes(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function queryString(query: HttpRequest["query"]): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) params.append(name, one ?? "");
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The part of `ServerResponse` the local servers use, collecting the status, headers and body. */
class CollectedResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  private readonly headers = new Map<string, string>();
  private readonly chunks: Buffer[] = [];
  private resolve!: (response: HttpResponse) => void;
  readonly done = new Promise<HttpResponse>((resolve) => (this.resolve = resolve));

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(", ") : String(value));
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.headers.get(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.headers.delete(name.toLowerCase());
  }

  writeHead(statusCode: number, headers: Record<string, number | string | string[]> = {}): this {
    this.statusCode = statusCode;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    this.headersSent = true;
    return this;
  }

  write(chunk: string | Uint8Array): boolean {
    this.headersSent = true;
    this.chunks.push(Buffer.from(chunk));
    return true;
  }

  end(chunk?: string | Uint8Array | (() => void)): this {
    if (chunk !== undefined && typeof chunk !== "function") this.write(chunk);
    this.headersSent = true;
    this.resolve({
      statusCode: this.statusCode,
      headers: Object.fromEntries(this.headers),
      body: Buffer.concat(this.chunks),
    });
    this.emit("finish");
    this.emit("close");
    return this;
  }
}
