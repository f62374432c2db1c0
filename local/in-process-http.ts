/**
 * An AWS SDK client's transport to a local server in the same process, without a socket: each request the
 * client has serialized and passed through its middleware (retries, throttling errors included) is handed
 * to the request listener the server's socket would call, and the answer comes back to the client's
 * deserializers. Only Node.js's HTTP and TCP layers (and a worker thread's hand-over) are left out, and,
 * with `unsignedSigner`, Signature Version 4's hashing: for code that makes thousands of calls. Each
 * service keeps tests that reach its server over a real socket with signed requests.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { channel } from "node:diagnostics_channel";
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import type {
  DateInput,
  HttpHandlerOptions,
  HttpRequest,
  HttpResponse,
  RequestHandler,
  RequestSigner,
  RequestSigningArguments,
} from "@smithy/types";

/** What a Node.js HTTP server calls for each request. */
export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

/** What `inProcessRequests` publishes for each request, as Node.js's `http.client.request.start` does. */
export interface InProcessRequestStart {
  /** The request's `host` header (`127.0.0.1:<port>`), as a socket request carries it. */
  host: string;
  headers: Record<string, string>;
  /** Settles once the answer has been collected (or the request failed). */
  done: Promise<unknown>;
}

/** Where every in-process request is announced as it starts, for those who count requests in flight. */
export const inProcessRequests = channel("sagemaker-batch-bridge.in-process-request.start");

/** An SDK client's `requestHandler`, as the SDK's own HTTP handlers are. */
export interface InProcessRequestHandler extends RequestHandler<
  HttpRequest,
  HttpResponse,
  HttpHandlerOptions
> {
  updateHttpClientConfig(): void;
  httpHandlerConfigs(): Record<string, never>;
}

/** A client's `requestHandler` that hands every request to `listener` in this process. */
export function inProcessRequestHandler(listener: RequestListener): InProcessRequestHandler {
  return {
    handle: (request) => {
      const done = exchange(listener, request).then((response) => ({ response }));
      if (inProcessRequests.hasSubscribers) {
        const start: InProcessRequestStart = {
          host: request.headers.host ?? request.headers.Host ?? `${request.hostname}:${request.port ?? ""}`,
          headers: request.headers,
          done: done.catch(() => undefined),
        };
        inProcessRequests.publish(start);
      }
      return done;
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
}

/**
 * A client's `signer` for requests to `service` (its signing name: `batch`, `dynamodb`, ...) that no one
 * verifies (the local servers check no signature): it sets the headers of a Signature Version 4 request,
 * `Authorization` with the credential scope naming the service (dynalite requires the header's form, the
 * endpoint router reads the service) and `X-Amz-Date`, without hashing the request. The clients Lambda runs
 * in AWS keep the SDK's own signer.
 */
export function unsignedSigner(service: string): RequestSigner {
  return {
    sign: (request: HttpRequest, options: RequestSigningArguments = {}) => {
      const date = signingTime(options.signingDate)
        .toISOString()
        .replace(/[-:]|\.\d{3}/g, "");
      const scope = `${date.slice(0, 8)}/${options.signingRegion ?? "us-east-1"}/${options.signingService ?? service}`;
      request.headers["x-amz-date"] = date;
      request.headers.authorization =
        `AWS4-HMAC-SHA256 Credential=local/${scope}/aws4_request, SignedHeaders=host;x-amz-date, ` +
        `Signature=${"0".repeat(64)}`;
      return Promise.resolve(request);
    },
  };
}

/** The SDK's `DateInput`: a Date, a date string, or seconds since the epoch. */
function signingTime(date: DateInput | undefined): Date {
  if (date === undefined) return new Date();
  return typeof date === "number" ? new Date(date * 1000) : new Date(date);
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
  // Node.js stamps every answer with the time (the simulated one in a local run); the SDK reads it for skew.
  response.setHeader("date", new Date().toUTCString());
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
  for (const [name, value] of Object.entries(query ?? {})) {
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
