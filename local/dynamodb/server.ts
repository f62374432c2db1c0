/**
 * DynamoDB on loopback: `dynalite`, a DynamoDB-compatible server from npm, in this process and in memory.
 * It has no TransactWriteItems and no TTL (expired items are never deleted), so what runs against it must
 * rely on conditional writes only. Tables become ACTIVE on a wall-clock timer (tables.ts waits for it).
 */
import dynalite from "dynalite";
import { listen, type RunningServer } from "../http";
import type { RequestListener } from "../in-process-http";

export interface DynamoDbServerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
}

/** A running dynalite: its endpoint, and the listener its socket calls (for an in-process transport). */
export interface DynamoDbServer extends RunningServer {
  requestListener: RequestListener;
}

/** Starts dynalite on 127.0.0.1 and a free port. */
export async function startDynamoDb(options: DynamoDbServerOptions = {}): Promise<DynamoDbServer> {
  const host = options.host ?? "127.0.0.1";
  // Table state changes are wall-clock delays in dynalite; zero keeps them out of simulated scenarios.
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const { endpoint, stop } = await listen(server, host);
  const [requestListener] = server.listeners("request") as RequestListener[];
  return { endpoint, stop, requestListener };
}
