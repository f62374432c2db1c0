/**
 * The records API on API Gateway (recordApi): a REST API defined by an OpenAPI document (its routes, each
 * requiring an API key and proxied to the API function), a stage, one API key and the usage plan that
 * throttles and caps it.
 */
import * as apigateway from "@pulumi/aws/apigateway";
import * as lambda from "@pulumi/aws/lambda";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { recordRoutes } from "../functions/records/contract";
import type { BridgeConfig } from "./config";

/** The stage clients call: `https://<api id>.execute-api.<region>.amazonaws.com/v1`. */
export const recordApiStageName = "v1";
/** The header API Gateway reads the API key from. */
export const apiKeyHeader = "x-api-key";

/** One operation of the OpenAPI document. */
export interface RecordApiOperation {
  summary: string;
  security: { api_key: never[] }[];
  parameters?: { name: string; in: "path"; required: true; schema: { type: "string" } }[];
  responses: Record<string, { description: string }>;
  "x-amazon-apigateway-integration": {
    type: "aws_proxy";
    httpMethod: "POST";
    uri: string;
    passthroughBehavior: "when_no_match";
  };
}

/** The OpenAPI 3 document API Gateway imports, as far as this API uses it. */
export interface RecordApiDocument {
  openapi: "3.0.1";
  info: { title: string; version: string };
  "x-amazon-apigateway-api-key-source": "HEADER";
  components: { securitySchemes: { api_key: { type: "apiKey"; name: string; in: "header" } } };
  paths: Record<string, Record<string, RecordApiOperation>>;
}

const summaries: Record<keyof typeof recordRoutes, string> = {
  submitOne: "Accept one record (any JSON value).",
  submitMany: 'Accept up to 500 records, {"records": [...]}; their job_ids come back in order.',
  status: "A record's status, and its result or error once final.",
};

/**
 * The API's OpenAPI document (pure): every route needs the API key and is proxied to the function whose
 * invoke ARN is given (Lambda proxy integration: API Gateway always calls Lambda with POST).
 */
export function recordApiDocument(title: string, functionInvokeArn: string): RecordApiDocument {
  const paths: Record<string, Record<string, RecordApiOperation>> = {};
  for (const [route, { method, path }] of Object.entries(recordRoutes) as [
    keyof typeof recordRoutes,
    (typeof recordRoutes)[keyof typeof recordRoutes],
  ][]) {
    const pathParameters = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    paths[path] = {
      ...paths[path],
      [method.toLowerCase()]: {
        summary: summaries[route],
        security: [{ api_key: [] }],
        ...(pathParameters.length > 0
          ? {
              parameters: pathParameters.map((name) => ({
                name,
                in: "path" as const,
                required: true as const,
                schema: { type: "string" as const },
              })),
            }
          : {}),
        responses: { default: { description: "JSON: the answer, or an error's message." } },
        "x-amazon-apigateway-integration": {
          type: "aws_proxy",
          httpMethod: "POST",
          uri: functionInvokeArn,
          passthroughBehavior: "when_no_match",
        },
      },
    };
  }
  return {
    openapi: "3.0.1",
    info: { title, version: "1" },
    "x-amazon-apigateway-api-key-source": "HEADER",
    components: { securitySchemes: { api_key: { type: "apiKey", name: apiKeyHeader, in: "header" } } },
    paths,
  };
}

export interface RecordApiArgs {
  config: BridgeConfig;
  apiFunction: lambda.Function;
}

export interface RecordApi {
  restApi: apigateway.RestApi;
  stage: apigateway.Stage;
  apiKey: apigateway.ApiKey;
  usagePlan: apigateway.UsagePlan;
}

/** The REST API, its stage, the API key and its usage plan, and the permissions to invoke the function. */
export function createRecordApi(name: string, args: RecordApiArgs, parent: pulumi.Resource): RecordApi {
  const { config, apiFunction } = args;
  const opts = { parent };
  const logicalName = `${name}-records-api`;
  const body = apiFunction.invokeArn.apply((invokeArn) =>
    JSON.stringify(recordApiDocument(`${config.pipelineName}-records`, invokeArn)),
  );
  const restApi = new apigateway.RestApi(
    logicalName,
    {
      name: `${config.pipelineName}-records`,
      description: "Takes records, batches them into pipeline executions and answers each record's status.",
      body,
      endpointConfiguration: { types: "REGIONAL" },
    },
    opts,
  );
  // A deployment is a snapshot of the API: a new one whenever the document changes.
  const deployment = new apigateway.Deployment(
    logicalName,
    {
      restApi: restApi.id,
      triggers: { document: body.apply((text) => createHash("sha256").update(text).digest("hex")) },
    },
    opts,
  );
  const stage = new apigateway.Stage(
    logicalName,
    { restApi: restApi.id, deployment: deployment.id, stageName: recordApiStageName },
    opts,
  );
  const apiKey = new apigateway.ApiKey(
    logicalName,
    { name: `${config.pipelineName}-records`, description: "The records API's key.", enabled: true },
    opts,
  );
  const usagePlan = new apigateway.UsagePlan(
    logicalName,
    {
      name: `${config.pipelineName}-records`,
      apiStages: [{ apiId: restApi.id, stage: stage.stageName }],
      throttleSettings: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
      quotaSettings: { limit: config.apiQuotaPerDay, period: "DAY" },
    },
    opts,
  );
  new apigateway.UsagePlanKey(
    logicalName,
    { keyId: apiKey.id, keyType: "API_KEY", usagePlanId: usagePlan.id },
    opts,
  );
  // API Gateway may invoke the function for this API's routes on this stage only.
  for (const [route, { method, path }] of Object.entries(recordRoutes)) {
    new lambda.Permission(
      `${logicalName}-${route}`,
      {
        action: "lambda:InvokeFunction",
        function: apiFunction.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${restApi.executionArn}/${recordApiStageName}/${method}${path.replace(/\{[^}]+\}/g, "*")}`,
      },
      opts,
    );
  }
  return { restApi, stage, apiKey, usagePlan };
}
