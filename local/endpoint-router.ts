/**
 * One endpoint for every local server, as `AWS_ENDPOINT_URL` is one URL for every client: each request goes
 * to the server of the service it was signed for, the service named in its Signature Version 4 credential
 * scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`; AWS General Reference, "Elements of an
 * AWS API request signature").
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOnLoopback, sendJson, type RunningServer } from "./http";

/** The service a request was signed for (`sagemaker`, `batch`, ...), or undefined when it is not signed. */
export function signedService(authorization: string | undefined): string | undefined {
  return /Credential=[^/,]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? "")?.[1];
}

/** Starts a router on 127.0.0.1 and a free port; `servers` are the endpoints by signing name. */
export async function startEndpointRouter(servers: Record<string, string>): Promise<RunningServer> {
  const route = (request: IncomingMessage, response: ServerResponse): void => {
    const service = signedService(request.headers.authorization);
    const target = service === undefined ? undefined : servers[service];
    if (target === undefined) {
      sendJson(response, 400, {
        __type: "UnknownService",
        Message: `No local server for ${service ?? "an unsigned request"}; served: ${Object.keys(servers).join(", ")}`,
      });
      return;
    }
    const { hostname, port } = new URL(target);
    const forwarded = httpRequest(
      { hostname, port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on("error", (error) => {
      if (!response.headersSent) sendJson(response, 502, { __type: "BadGateway", Message: error.message });
      else response.destroy();
    });
    request.pipe(forwarded);
  };
  const listening = await listenOnLoopback(route);
  return { endpoint: listening.endpoint, stop: listening.stop };
}
