/**
 * A stand-in for the Batch, SageMaker and SQS endpoints on 127.0.0.1 (port 0), so that handlers built with
 * real SDK clients can be exercised offline. It records every request and answers from `routes`.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the server saw it: the operation (Batch path or X-Amz-Target) and its JSON body. */
export interface RecordedRequest {
  operation: string;
  body: Record<string, unknown>;
}

export type Route = (body: Record<string, unknown>) => Record<string, unknown>;

export interface FakeAwsServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * Starts the server. Operations are named like "batch:ListJobs", "SageMaker.SendPipelineExecutionStepFailure",
 * "AmazonSQS.SendMessage"; an operation without a route answers 400 so that a test notices it.
 */
export async function startFakeAwsServer(routes: Record<string, Route>): Promise<FakeAwsServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
      const target = request.headers["x-amz-target"];
      const operation = typeof target === "string" ? target : `batch:${batchOperation(request.url ?? "")}`;
      requests.push({ operation, body });
      const route = routes[operation];
      if (!route) {
        response.writeHead(400, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify({ __type: "UnknownOperationException", message: operation }));
        return;
      }
      const answer = route(body);
      if (operation === "AmazonSQS.SendMessage") {
        answer.MD5OfMessageBody = createHash("md5").update(String(body.MessageBody)).digest("hex");
      }
      response.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Batch's REST paths are /v1/<operation in lower case>. */
function batchOperation(path: string): string {
  const names: Record<string, string> = {
    "/v1/listjobs": "ListJobs",
    "/v1/submitjob": "SubmitJob",
    "/v1/describejobs": "DescribeJobs",
    "/v1/terminatejob": "TerminateJob",
  };
  return names[path.toLowerCase()] ?? path;
}
