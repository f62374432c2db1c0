/**
 * A status table on local DynamoDB for code that runs the functions outside a full local execution (tests,
 * the bench's submit measurements).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { statusTableDefinition } from "../../functions/status-table-items";
import type { RunningServer } from "../http";
import { createActiveTable } from "./tables";
import { inProcessRequestHandler, unsignedSigner, type RequestListener } from "../in-process-http";

const region = "eu-west-1";

/**
 * local mode's DynamoDB (`startDynamoDb`, dynalite) on loopback, run in a worker thread so that the server
 * and the handlers under test use a core each, and a client to it; one table per test keeps tests apart.
 * The servers of one process share the worker (see `acquireDynamoDb`): table names are unique in the process.
 */
export class StatusTableServer {
  private constructor(
    private readonly server: RunningServer,
    readonly dynamodb: DynamoDBClient,
    /** dynalite's request listener when it runs in this thread (`inProcess`), for other in-process clients. */
    readonly requestListener: RequestListener | undefined,
  ) {}
  private stopped = false;
  /** Where the server listens (`AWS_ENDPOINT_URL_DYNAMODB`). */
  get endpoint(): string {
    return this.server.endpoint;
  }
  /** Requests sent to DynamoDB so far, by operation. */
  readonly requests = new Map<string, number>();

  /**
   * With `inProcess`, dynalite runs in this thread and the client hands it each request without a socket
   * and unsigned (in-process-http.ts): for the tests that send it thousands of requests.
   */
  static async start(options: { inProcess?: boolean } = {}): Promise<StatusTableServer> {
    let server: RunningServer;
    let requestHandler = {};
    let requestListener: RequestListener | undefined;
    if (options.inProcess) {
      // Loaded only here: every other use keeps dynalite out of this thread.
      const { startDynamoDb } = await import("./server");
      const dynalite = await startDynamoDb();
      server = dynalite;
      requestListener = dynalite.requestListener;
      requestHandler = {
        requestHandler: inProcessRequestHandler(dynalite.requestListener),
        signer: unsignedSigner("dynamodb"),
      };
    } else {
      server = await acquireDynamoDb();
    }
    const dynamodb = new DynamoDBClient({
      endpoint: server.endpoint,
      ...requestHandler,
      region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      // Resolved at the first call, after the request counter below is added.
      cacheMiddleware: true,
    });
    const tableServer = new StatusTableServer(server, dynamodb, requestListener);
    dynamodb.middlewareStack.add(
      (next, context) => (args) => {
        const name = context.commandName ?? "unknown";
        tableServer.requests.set(name, (tableServer.requests.get(name) ?? 0) + 1);
        return next(args);
      },
      { step: "initialize" },
    );
    return tableServer;
  }

  async createTable(): Promise<string> {
    tablesCreated += 1;
    const tableName = `bridge-status-${tablesCreated}`;
    await createActiveTable(this.dynamodb, statusTableDefinition(tableName));
    return tableName;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.dynamodb.destroy();
    await this.server.stop();
  }
}

/** Status tables created in this process, all servers together: the next table's number. */
let tablesCreated = 0;

/** The worker the servers of this process share, and how many of them use it. */
let shared:
  { server: Promise<DynamoDbWorker>; users: number; idle?: ReturnType<typeof setTimeout> } | undefined;

/** Wall ms an unused worker waits for the next server (a suite's next test) before it stops. */
const idleStopMs = 2_000;

/**
 * A handle on this process's DynamoDB worker, started on first use. A worker thread loads TypeScript and
 * dynalite anew, half a second of CPU: the tests that start a server each run one after another reuse it. Its
 * `stop()` releases the handle; the worker stops once no server has used it for `idleStopMs`, and never
 * keeps the process alive.
 */
async function acquireDynamoDb(): Promise<RunningServer> {
  if (!shared) {
    const server = startDynamoDbInWorker();
    shared = { server, users: 0 };
    server.catch(() => (shared = undefined));
  }
  const current = shared;
  current.users += 1;
  clearTimeout(current.idle);
  const server = await current.server;
  server.keepProcessAlive(true);
  return {
    endpoint: server.endpoint,
    stop: async () => {
      current.users -= 1;
      if (current.users > 0) return;
      server.keepProcessAlive(false);
      current.idle = setTimeout(() => {
        if (shared === current && current.users === 0) shared = undefined;
        void server.stop();
      }, idleStopMs);
      current.idle.unref();
    },
  };
}

interface DynamoDbWorker extends RunningServer {
  /** Whether the worker keeps the process running (as a server in use does), or lets it exit. */
  keepProcessAlive(keep: boolean): void;
}

/** Runs local/dynamodb/server.ts's `startDynamoDb()` in a worker thread; resolves with its endpoint, stop. */
async function startDynamoDbInWorker(): Promise<DynamoDbWorker> {
  const localDynamoDb = path.join(__dirname, "server.ts");
  const worker = new Worker(
    `
    const { parentPort } = require("node:worker_threads");
    require(${JSON.stringify(path.join(__dirname, "..", "..", "scripts", "ts-register.js"))});
    require(${JSON.stringify(localDynamoDb)}).startDynamoDb().then((server) => {
      parentPort.postMessage(server.endpoint);
      parentPort.once("message", () => server.stop().then(() => parentPort.postMessage("stopped")));
    });
    `,
    { eval: true },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    endpoint,
    stop: async () => {
      const stopped = new Promise((resolve) => worker.once("message", resolve));
      worker.postMessage("stop");
      await stopped;
      await worker.terminate();
    },
    keepProcessAlive: (keep) => (keep ? worker.ref() : worker.unref()),
  };
}
