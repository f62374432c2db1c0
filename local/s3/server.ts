/**
 * S3 on loopback: the `@20minutes/s3rver` emulator (buckets and objects in a folder of its own, removed on
 * stop), behind a thin front of ours that counts calls by operation and decodes the `aws-chunked` uploads
 * that current SDKs send and the emulator cannot read (see aws-chunked.ts).
 *
 * Addressing is path-style (`http://127.0.0.1:<port>/<bucket>/<key>`): the endpoint is an IP address, and
 * S3's endpoint rules, which the AWS SDKs and CLI share, address a bucket path-style whenever the endpoint
 * is an IP (`<bucket>.127.0.0.1` would need a DNS name for every bucket). Requests must be signed (SigV4)
 * with the dummy credentials every local server takes (`local`/`local`); signatures are not compared,
 * because a decoded upload no longer matches the payload hash it was signed with.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import S3rver from "@20minutes/s3rver";
import { DUMMY_ACCOUNT } from "@20minutes/s3rver/lib/models/account";
import { CallCounter, listenOnLoopback, sendJson, type RunningServer } from "../http";
import { AwsChunkedDecoder, unsignedTrailerPayload } from "./aws-chunked";

/** The dummy access key every local server accepts. */
export const localCredentials = { accessKeyId: "local", secretAccessKey: "local" } as const;

export interface S3ServerOptions {
  /** Buckets that exist from the start (e.g. the stack's data bucket). */
  buckets?: string[];
}

/** A running S3 emulator. */
export interface S3Server extends RunningServer {
  /** Calls received so far, by operation (`PutObject`, `ListObjectsV2`, ...). */
  calls(): Record<string, number>;
}

/** Starts the emulator on 127.0.0.1 and a free port, with `buckets` created. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "sagemaker-batch-bridge-s3-"));
  const emulator = new S3rver({
    directory,
    silent: true,
    vhostBuckets: false,
    allowMismatchedSignatures: true,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  DUMMY_ACCOUNT.createKeyPair(localCredentials.accessKeyId, localCredentials.secretAccessKey);
  await emulator.configureBuckets();
  const emulate = emulator.getMiddleware();
  const calls = new CallCounter();

  const listening = await listenOnLoopback((request, response) => {
    calls.add(operationOf(request));
    try {
      emulate(decodedUpload(request), response);
    } catch (error) {
      if (!response.headersSent) sendJson(response, 500, { message: String(error) });
    }
  });

  return {
    endpoint: listening.endpoint,
    stop: async () => {
      await listening.stop();
      await rm(directory, { recursive: true, force: true });
    },
    calls: () => calls.toJSON(),
  };
}

/**
 * The request as the emulator can read it: an upload in the unsigned `aws-chunked` encoding becomes a plain
 * body with its decoded length; any other request is passed on as it is.
 */
function decodedUpload(request: IncomingMessage): IncomingMessage {
  const headers = request.headers;
  if (headers["x-amz-content-sha256"] !== unsignedTrailerPayload) return request;
  const decodedLength = Number(headers["x-amz-decoded-content-length"]);
  const decoder = new AwsChunkedDecoder(decodedLength);
  request.pipe(decoder);
  const encodings = String(headers["content-encoding"] ?? "")
    .split(",")
    .map((encoding) => encoding.trim())
    .filter((encoding) => encoding !== "" && encoding !== "aws-chunked");
  const plainHeaders: IncomingHttpHeaders = { ...headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" };
  plainHeaders["content-length"] = String(decodedLength);
  delete plainHeaders["x-amz-decoded-content-length"];
  delete plainHeaders["x-amz-trailer"];
  delete plainHeaders["transfer-encoding"];
  if (encodings.length > 0) plainHeaders["content-encoding"] = encodings.join(",");
  else delete plainHeaders["content-encoding"];
  // The emulator reads the request's fields and body; the decoder stands in for the body.
  return Object.assign(decoder, {
    headers: plainHeaders,
    method: request.method,
    url: request.url,
    socket: request.socket,
    connection: request.socket,
    httpVersion: request.httpVersion,
    httpVersionMajor: request.httpVersionMajor,
    httpVersionMinor: request.httpVersionMinor,
  }) as unknown as IncomingMessage;
}

/** The S3 operation a request is, from the SDK's `x-id` query parameter or its method, path and query. */
export function operationOf(request: Pick<IncomingMessage, "method" | "url" | "headers">): string {
  const url = new URL(request.url ?? "/", "http://s3.local");
  const named = url.searchParams.get("x-id");
  if (named) return named;
  const query = url.searchParams;
  const hasKey = url.pathname.split("/").filter((part) => part !== "").length > 1;
  switch (request.method) {
    case "GET":
      if (url.pathname === "/") return "ListBuckets";
      if (hasKey) return "GetObject";
      return query.get("list-type") === "2"
        ? "ListObjectsV2"
        : query.has("uploads")
          ? "ListMultipartUploads"
          : "ListObjects";
    case "HEAD":
      return hasKey ? "HeadObject" : "HeadBucket";
    case "PUT":
      if (!hasKey) return "CreateBucket";
      if (query.has("partNumber")) return "UploadPart";
      return request.headers["x-amz-copy-source"] ? "CopyObject" : "PutObject";
    case "POST":
      if (query.has("uploads")) return "CreateMultipartUpload";
      if (query.has("uploadId")) return "CompleteMultipartUpload";
      return query.has("delete") ? "DeleteObjects" : "Unknown";
    case "DELETE":
      if (query.has("uploadId")) return "AbortMultipartUpload";
      return hasKey ? "DeleteObject" : "DeleteBucket";
    default:
      return "Unknown";
  }
}
