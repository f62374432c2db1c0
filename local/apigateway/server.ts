/**
 * API Gateway on loopback for one REST API: its stage's routes from the API's OpenAPI document, the API
 * key check and the usage plan (requests.ts, state.ts), each request handed to its Lambda proxy
 * integration as API Gateway's proxy event, and the function's answer returned (views.ts). Requests reach
 * it at `http://127.0.0.1:<port>/<stage>/<resource>`, as they would `https://<id>.execute-api...`.
 *
 * Counts every request: by route, and API Gateway's own answers by kind.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { CallCounter, listen, readBody, type RunningServer } from "../http";
import type { SimClock } from "../time/clock";
import { seededRandom } from "../time/random";
import {
  compileRoutes,
  gatewayResponses,
  lambdaPayloadLimitBytes,
  matchRoute,
  payloadLimitBytes,
  type GatewayResponse,
  type RestApiDeclaration,
} from "./requests";
import { ApiKeyUsage, generateApiKey } from "./state";
import { proxyAnswer, proxyEvent, sendGatewayResponse } from "./views";

/** How a proxy integration's invocation ended (Lambda's answer, or its error). */
export type IntegrationResult = { ok: true; value: unknown } | { ok: false; message: string };

export interface ApiGatewayOptions {
  clock: SimClock;
  api: RestApiDeclaration;
  /** Invokes the function of a proxy integration synchronously. */
  invoke(functionArn: string, event: APIGatewayProxyEvent): Promise<IntegrationResult>;
  /** The API key's value (default: one generated from the seed, as API Gateway generates one). */
  apiKey?: string;
  apiKeyId?: string;
  seed?: number;
  accountId?: string;
  apiId?: string;
  host?: string;
  /** Default 0: any free port. */
  port?: number;
}

/** A running local REST API. */
export interface ApiGatewayServer extends RunningServer {
  /** `http://127.0.0.1:<port>/<stage>`: the base URL of the routes. */
  baseUrl: string;
  /** The value clients send in `x-api-key`. */
  apiKey: string;
  /** Requests by route (`POST /job`) and API Gateway's own answers (`403 Forbidden`, ...). */
  calls(): Record<string, number>;
  /** Requests the key's usage plan let through, throttled, and refused over the quota. */
  usage(): { accepted: number; throttled: number; quota: number };
}

/** API Gateway ends a REST API's integration after 29 s (its default and, for most accounts, its most). */
export const integrationTimeoutMs = 29_000;

/** Starts the API's stage on 127.0.0.1 (default: any free port). */
export async function startApiGateway(options: ApiGatewayOptions): Promise<ApiGatewayServer> {
  const { clock, api } = options;
  const routes = compileRoutes(api.document);
  const random = seededRandom(options.seed ?? 1);
  const key = new ApiKeyUsage(
    options.apiKeyId ?? "local-key",
    options.apiKey ?? generateApiKey(random),
    api.usagePlan,
    clock,
  );
  const calls = new CallCounter();
  const stagePrefix = `/${api.stageName}`;

  const refuse = (response: ServerResponse, answer: GatewayResponse): void => {
    calls.add(`${answer.statusCode} ${answer.message}`);
    sendGatewayResponse(response, answer);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const declaredLength = Number(request.headers["content-length"] ?? 0);
    if (declaredLength > payloadLimitBytes) {
      request.resume();
      refuse(response, gatewayResponses.payloadTooLarge);
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(request);
    } catch {
      refuse(response, gatewayResponses.payloadTooLarge);
      return;
    }
    const url = new URL(request.url ?? "/", "http://local");
    const method = request.method ?? "GET";
    const path = url.pathname.startsWith(`${stagePrefix}/`)
      ? url.pathname.slice(stagePrefix.length)
      : undefined;
    const matched = path === undefined ? undefined : matchRoute(routes, method, path);
    if (!matched || path === undefined) {
      refuse(response, gatewayResponses.missingAuthenticationToken);
      return;
    }
    const { route, pathParameters } = matched;
    if (route.apiKeyRequired) {
      if (request.headers["x-api-key"] !== key.value) {
        refuse(response, gatewayResponses.forbidden);
        return;
      }
      const refusal = key.take();
      if (refusal) {
        refuse(response, refusal === "quota" ? gatewayResponses.quotaExceeded : gatewayResponses.throttled);
        return;
      }
    }
    const event = proxyEvent({
      request,
      url,
      body,
      route,
      path,
      pathParameters,
      stageName: api.stageName,
      apiId: options.apiId ?? "local",
      accountId: options.accountId ?? "123456789012",
      apiKey: route.apiKeyRequired ? { id: key.id, value: key.value } : undefined,
      requestTimeMs: clock.now(),
    });
    if (Buffer.byteLength(JSON.stringify(event)) > lambdaPayloadLimitBytes) {
      refuse(response, gatewayResponses.requestTooLong);
      return;
    }
    calls.add(`${route.method} ${route.resource}`);
    const startedAt = clock.now();
    const result = await options.invoke(route.functionArn, event);
    if (clock.now() - startedAt > integrationTimeoutMs) {
      refuse(response, gatewayResponses.integrationTimeout);
      return;
    }
    const answer = result.ok ? proxyAnswer(result.value) : undefined;
    if (!answer) {
      refuse(response, gatewayResponses.integrationFailure);
      return;
    }
    response.writeHead(answer.statusCode, {
      "content-type": "application/json",
      ...answer.headers,
      "content-length": answer.body.length,
      "x-amzn-requestid": event.requestContext.requestId,
    });
    response.end(answer.body);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) refuse(response, gatewayResponses.integrationFailure);
      else response.destroy(error as Error);
    });
  });
  server.keepAliveTimeout = 5_000;
  const listening = await listen(server, options.host ?? "127.0.0.1", options.port ?? 0);
  return {
    endpoint: listening.endpoint,
    baseUrl: `${listening.endpoint}${stagePrefix}`,
    stop: listening.stop,
    apiKey: key.value,
    calls: () => calls.toJSON(),
    usage: () => key.usage(),
  };
}
