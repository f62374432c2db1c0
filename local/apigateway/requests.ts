/**
 * API Gateway's checks of a request to a REST API, in the order it makes them, with its answers (REST API
 * "gateway responses": API Gateway Developer Guide, "Gateway response types"):
 * - a body over 10 MB: 413, as text (`HTTP content length exceeded 10485760 bytes.`);
 * - no resource and method for the path (the stage included): 403 `Missing Authentication Token`;
 * - an API key required and missing, unknown or disabled: 403 `Forbidden`;
 * - the key's usage plan throttle: 429 `Too Many Requests`; its quota: 429 `Limit Exceeded`;
 * - a proxy event over Lambda's 6 MB synchronous payload: 413 `Request Too Long`.
 * Routes come from the API's OpenAPI document, as API Gateway imports it.
 */

/** A REST API as the stack declares it: its OpenAPI document, stage and usage plan. */
export interface RestApiDeclaration {
  name: string;
  stageName: string;
  /** The OpenAPI document of the RestApi's `body`. */
  document: OpenApiDocument;
  usagePlan: UsagePlanSettings;
}

export interface UsagePlanSettings {
  /** Requests per second, steady; undefined: not throttled. */
  rateLimit?: number;
  /** Requests above the rate at once. */
  burstLimit?: number;
  /** Requests per period. */
  quota?: { limit: number; period: "DAY" | "WEEK" | "MONTH" };
}

/** The parts of an OpenAPI document API Gateway routes by. */
export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { securitySchemes?: Record<string, { type?: string; name?: string; in?: string }> };
}

interface OpenApiOperation {
  security?: Record<string, unknown>[];
  "x-amazon-apigateway-integration"?: { type?: string; uri?: string };
}

/** A resource and method, compiled. */
export interface Route {
  method: string;
  /** The resource path, `/job/{job_id}`. */
  resource: string;
  pattern: RegExp;
  parameterNames: string[];
  apiKeyRequired: boolean;
  /** The Lambda function a proxy integration invokes. */
  functionArn: string;
}

/** API Gateway's limit on a request's payload (REST APIs: 10 MB). */
export const payloadLimitBytes = 10_485_760;
/** Lambda's limit on a synchronous invocation's request (6 MB). */
export const lambdaPayloadLimitBytes = 6_291_456;

/** An answer API Gateway makes itself, before or instead of the integration. */
export interface GatewayResponse {
  statusCode: number;
  /** JSON `{"message"}` unless `text` is set. */
  message: string;
  text?: boolean;
  /** `x-amzn-ErrorType`. */
  errorType: string;
}

export const gatewayResponses = {
  payloadTooLarge: {
    statusCode: 413,
    message: `HTTP content length exceeded ${payloadLimitBytes} bytes.`,
    text: true,
    errorType: "RequestEntityTooLargeException",
  },
  missingAuthenticationToken: {
    statusCode: 403,
    message: "Missing Authentication Token",
    errorType: "MissingAuthenticationTokenException",
  },
  forbidden: { statusCode: 403, message: "Forbidden", errorType: "ForbiddenException" },
  throttled: { statusCode: 429, message: "Too Many Requests", errorType: "TooManyRequestsException" },
  quotaExceeded: { statusCode: 429, message: "Limit Exceeded", errorType: "LimitExceededException" },
  requestTooLong: { statusCode: 413, message: "Request Too Long", errorType: "BadRequestException" },
  integrationFailure: {
    statusCode: 502,
    message: "Internal server error",
    errorType: "InternalServerErrorException",
  },
  integrationTimeout: {
    statusCode: 504,
    message: "Endpoint request timed out",
    errorType: "IntegrationTimeout",
  },
} as const satisfies Record<string, GatewayResponse>;

/** The routes of an OpenAPI document: each operation with a Lambda proxy integration. */
export function compileRoutes(document: OpenApiDocument): Route[] {
  const apiKeySchemes = new Set(
    Object.entries(document.components?.securitySchemes ?? {})
      .filter(
        ([, scheme]) => scheme.type === "apiKey" && scheme.in === "header" && scheme.name === "x-api-key",
      )
      .map(([name]) => name),
  );
  const routes: Route[] = [];
  for (const [resource, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const integration = operation["x-amazon-apigateway-integration"];
      const functionArn = /\/functions\/(arn:[^/]+)\/invocations$/.exec(integration?.uri ?? "")?.[1];
      if (integration?.type !== "aws_proxy" || !functionArn) {
        throw new Error(
          `${method.toUpperCase()} ${resource}: local mode serves Lambda proxy integrations only ` +
            `(type aws_proxy, a functions/<arn>/invocations uri).`,
        );
      }
      const parameterNames = [...resource.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const source = resource
        .split(/\{[^}]+\}/)
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("([^/]+)");
      routes.push({
        method: method.toUpperCase(),
        resource,
        pattern: new RegExp(`^${source}$`),
        parameterNames,
        apiKeyRequired: (operation.security ?? []).some((requirement) =>
          Object.keys(requirement).some((name) => apiKeySchemes.has(name)),
        ),
        functionArn,
      });
    }
  }
  return routes;
}

/** The route a request's path (the stage removed) and method select, with its path parameters. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; pathParameters: Record<string, string> } | undefined {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (!match) continue;
    const pathParameters = Object.fromEntries(
      route.parameterNames.map((name, i) => [name, decodeURIComponent(match[i + 1])]),
    );
    return { route, pathParameters };
  }
  return undefined;
}
