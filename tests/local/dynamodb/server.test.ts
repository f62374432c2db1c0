import { expect } from "chai";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { startDynamoDb } from "../../../local/dynamodb/server";
import type { RunningServer } from "../../../local/http";
import { localClientConfig } from "../aws-config";

describe("local DynamoDB (dynalite)", () => {
  let server: RunningServer;
  let dynamodb: DynamoDBClient;
  const TableName = "bridge-waits";

  before(async () => {
    server = await startDynamoDb();
    dynamodb = new DynamoDBClient(localClientConfig(server.endpoint));
    await dynamodb.send(
      new CreateTableCommand({
        TableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "executionArn", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "executionArn", KeyType: "HASH" }],
        SSESpecification: { Enabled: true },
      }),
    );
  });

  after(async () => {
    dynamodb.destroy();
    await server.stop();
  });

  it("writes an item only if it does not exist yet, and says so with ConditionalCheckFailedException", async () => {
    const put = () =>
      dynamodb.send(
        new PutItemCommand({
          TableName,
          Item: { executionArn: { S: "arn:execution/1" }, token: { S: "abcdefghij" } },
          ConditionExpression: "attribute_not_exists(executionArn)",
        }),
      );
    await put();
    const error = await put().then(
      () => undefined,
      (e: unknown) => e as Error & { $metadata: { httpStatusCode?: number } },
    );
    expect(error?.name).to.equal("ConditionalCheckFailedException");
    expect(error?.$metadata.httpStatusCode).to.equal(400);
  });

  it("adds to a number set and returns the updated attributes", async () => {
    const add = (shards: string[]) =>
      dynamodb.send(
        new UpdateItemCommand({
          TableName,
          Key: { executionArn: { S: "arn:execution/2" } },
          UpdateExpression: "ADD finishedShards :shards",
          ExpressionAttributeValues: { ":shards": { NS: shards } },
          ReturnValues: "UPDATED_NEW",
        }),
      );
    await add(["0", "2"]);
    const second = await add(["2", "5"]);
    expect(second.Attributes?.finishedShards.NS?.map(Number).sort((a, b) => a - b)).to.deep.equal([0, 2, 5]);
    const stored = await dynamodb.send(
      new GetItemCommand({ TableName, Key: { executionArn: { S: "arn:execution/2" } } }),
    );
    expect(stored.Item?.finishedShards.NS).to.have.length(3);
  });
});
