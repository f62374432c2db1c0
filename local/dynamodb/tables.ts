/**
 * What local mode does with local DynamoDB (dynalite) besides serving it: its tables created ready for use,
 * and its calls counted, which dynalite does not do itself.
 */
import {
  CreateTableCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";

/**
 * Creates `table` and waits until it is ACTIVE: dynalite turns a table ACTIVE on a wall-clock timer, even
 * with createTableMs 0, and a function may call the table at once.
 */
export async function createActiveTable(
  client: DynamoDBClient,
  table: CreateTableCommandInput,
): Promise<void> {
  await client.send(new CreateTableCommand(table));
  await waitUntilTableExists(
    { client, maxWaitTime: 10, minDelay: 0.01, maxDelay: 0.05 },
    { TableName: table.TableName },
  );
}

/** A request as it leaves for a server: where it goes (`127.0.0.1:<port>`) and its headers. */
interface LeavingRequest {
  host: string;
  header(name: string): string | undefined;
}

/**
 * What counts each request to the DynamoDB at `endpoint` in `calls`, by operation (`PutItem`, ...), as it
 * leaves: an observer for `HttpActivity`.
 */
export function dynamoDbCallCounter(
  endpoint: string,
  calls: Map<string, number>,
): (request: LeavingRequest) => void {
  return (request) => {
    if (`http://${request.host}` !== endpoint) return;
    const operation = (request.header("x-amz-target") ?? "").replace(/^DynamoDB_\d+\./, "");
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
  };
}
