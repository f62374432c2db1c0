/**
 * Types for `@20minutes/s3rver` (it ships none): the part of its programmatic API that local/s3/server.ts
 * uses, and the module that holds the access keys it accepts.
 */
declare module "@20minutes/s3rver" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface S3rverOptions {
    /** Folder the objects are kept in, one file per object and one for its metadata. */
    directory: string;
    /** No request log on stdout. */
    silent?: boolean;
    /** Buckets created by `configureBuckets()`. */
    configureBuckets?: { name: string }[];
    /** Read `<bucket>.<host>` as a bucket (virtual-hosted-style addressing). */
    vhostBuckets?: boolean;
    /** Accept a request whose signature does not match its known access key. */
    allowMismatchedSignatures?: boolean;
  }

  class S3rver {
    constructor(options: S3rverOptions);
    /** Creates the `configureBuckets` buckets. */
    configureBuckets(): Promise<void>;
    /** The request handler, to serve from a server of one's own. */
    getMiddleware(): (request: IncomingMessage, response: ServerResponse) => void;
  }
  export = S3rver;
}

declare module "@20minutes/s3rver/lib/models/account" {
  /** The one account s3rver knows; requests must be signed with one of its access keys. */
  export const DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}
