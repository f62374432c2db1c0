/** Types for `dynalite` (it ships none): the part of its programmatic API that local/dynamodb/server.ts uses. */
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    /** LevelDB directory; in memory when left out. */
    path?: string;
    /** Wall ms a table stays CREATING / DELETING / UPDATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** Largest item in KB (default 400, as DynamoDB). */
    maxItemSizeKb?: number;
  }

  /** An HTTP server speaking the DynamoDB API; `close()` also closes its store. */
  function dynalite(options?: DynaliteOptions): Server;
  export = dynalite;
}
