/**
 * What API Gateway hands a Lambda proxy integration and what it answers: the REST API proxy event
 * (version 1.0; API Gateway Developer Guide, "Input format of a Lambda function for proxy integration"),
 * the function's answer read back as an HTTP response, and API Gateway's own gateway responses.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent } from "aws-lambda";
import type { GatewayResponse, Route } from "./requests";

/** Everything about a request the proxy event carries. */
export interface ProxyRequest {
  request: IncomingMessage;
  url: URL;
  body: Buffer;
  route: Route;
  /** The path without the stage, `/job/abc`. */
  path: string;
  pathParameters: Record<string, string>;
  stageName: string;
  apiId: string;
  accountId: string;
  apiKey?: { id: string; value: string };
  requestTimeMs: number;
}

/** The REST API proxy event for a request. */
export function proxyEvent(input: ProxyRequest): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = input.request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    // Headers keep the case the client sent; a repeated header's last value is the single value.
    headers[raw[i]] = raw[i + 1];
    (multiValueHeaders[raw[i]] ??= []).push(raw[i + 1]);
  }
  const query: Record<string, string> = {};
  const multiValueQuery: Record<string, string[]> = {};
  for (const [name, value] of input.url.searchParams) {
    query[name] = value;
    (multiValueQuery[name] ??= []).push(value);
  }
  const requestId = randomUUID();
  const hasQuery = Object.keys(query).length > 0;
  return {
    resource: input.route.resource,
    path: input.path,
    httpMethod: input.route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: input.route.parameterNames.length > 0 ? input.pathParameters : null,
    stageVariables: null,
    // No binary media types are configured: the body is passed on as text.
    body: input.body.length > 0 ? input.body.toString("utf8") : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: input.accountId,
      apiId: input.apiId,
      authorizer: undefined,
      domainName: input.request.headers.host ?? "",
      domainPrefix: input.apiId,
      extendedRequestId: requestId,
      httpMethod: input.route.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: input.apiKey?.value ?? null,
        apiKeyId: input.apiKey?.id ?? null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: input.request.socket.remoteAddress ?? "127.0.0.1",
        user: null,
        userAgent: input.request.headers["user-agent"] ?? null,
        userArn: null,
      },
      path: `/${input.stageName}${input.path}`,
      protocol: `HTTP/${input.request.httpVersion}`,
      requestId,
      requestTime: new Date(input.requestTimeMs).toUTCString(),
      requestTimeEpoch: input.requestTimeMs,
      resourceId: input.route.resource,
      resourcePath: input.route.resource,
      stage: input.stageName,
    },
  };
}

/** API Gateway's own answer. */
export function sendGatewayResponse(response: ServerResponse, answer: GatewayResponse): void {
  const body = answer.text ? answer.message : JSON.stringify({ message: answer.message });
  response.writeHead(answer.statusCode, {
    "content-type": answer.text ? "text/plain; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(body),
    "x-amzn-requestid": randomUUID(),
    "x-amzn-errortype": answer.errorType,
  });
  response.end(body);
}

/**
 * The function's answer as an HTTP response, or undefined when it is not a proxy answer API Gateway
 * accepts (an object with a numeric statusCode; headers and a string body optional).
 */
export function proxyAnswer(
  value: unknown,
): { statusCode: number; headers: Record<string, string>; body: Buffer } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const answer = value as {
    statusCode?: unknown;
    headers?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  if (typeof answer.statusCode !== "number" || !Number.isInteger(answer.statusCode)) return undefined;
  if (answer.body !== undefined && answer.body !== null && typeof answer.body !== "string") return undefined;
  const headers: Record<string, string> = {};
  if (typeof answer.headers === "object" && answer.headers !== null) {
    for (const [name, headerValue] of Object.entries(answer.headers))
      headers[name.toLowerCase()] = String(headerValue);
  }
  const text = (answer.body as string | undefined) ?? "";
  const body = answer.isBase64Encoded === true ? Buffer.from(text, "base64") : Buffer.from(text, "utf8");
  return { statusCode: answer.statusCode, headers, body };
}
