import { expect } from "chai";
import { request } from "node:http";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { recordApiDocument } from "../../../infra/record-api";
import {
  startApiGateway,
  type ApiGatewayServer,
  type IntegrationResult,
} from "../../../local/apigateway/server";
import { SimClock } from "../../../local/time/clock";

const functionArn = "arn:aws:lambda:us-east-1:123456789012:function:records-api";
const invokeArn = `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${functionArn}/invocations`;

interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP request to the local stage. */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: options.method ?? "GET", headers: options.headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            statusCode: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}

describe("local API Gateway (a REST API's stage, API key, usage plan, Lambda proxy integration)", () => {
  let clock: SimClock;
  let gateway: ApiGatewayServer;
  const events: APIGatewayProxyEvent[] = [];
  let answer: (event: APIGatewayProxyEvent) => Promise<IntegrationResult>;

  beforeEach(async () => {
    clock = new SimClock({ speed: 0, startMs: Date.UTC(2030, 0, 1) });
    events.length = 0;
    answer = async (event) => ({
      ok: true,
      value: {
        statusCode: 202,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ got: event.resource }),
      },
    });
    gateway = await startApiGateway({
      clock,
      api: {
        name: "records",
        stageName: "v1",
        document: recordApiDocument("records", invokeArn) as never,
        usagePlan: { rateLimit: 2, burstLimit: 3, quota: { limit: 5, period: "DAY" } },
      },
      apiKey: "k".repeat(40),
      apiKeyId: "key-id-1",
      invoke: async (arn, event) => {
        expect(arn).to.equal(functionArn);
        events.push(event);
        return answer(event);
      },
    });
  });

  afterEach(async () => {
    await gateway.stop();
    clock.stop();
  });

  const withKey = { "x-api-key": "k".repeat(40) };

  it("hands the function API Gateway's proxy event for the route, with the key's id, and returns its answer", async () => {
    const response = await send(`${gateway.baseUrl}/job/abc-123?verbose=1`, {
      headers: { ...withKey, "X-Trace": "t1" },
    });
    expect(response.statusCode).to.equal(202);
    expect(JSON.parse(response.text)).to.deep.equal({ got: "/job/{job_id}" });
    const [event] = events;
    expect(event).to.deep.include({
      resource: "/job/{job_id}",
      path: "/job/abc-123",
      httpMethod: "GET",
      pathParameters: { job_id: "abc-123" },
      queryStringParameters: { verbose: "1" },
      body: null,
      isBase64Encoded: false,
    });
    expect(event.headers["X-Trace"]).to.equal("t1");
    expect(event.requestContext).to.deep.include({
      stage: "v1",
      resourcePath: "/job/{job_id}",
      path: "/v1/job/abc-123",
    });
    expect(event.requestContext.identity).to.deep.include({ apiKeyId: "key-id-1", apiKey: "k".repeat(40) });
    const posted = await send(`${gateway.baseUrl}/jobs`, {
      method: "POST",
      headers: withKey,
      body: '{"records": [1]}',
    });
    expect(posted.statusCode).to.equal(202);
    expect(events[1]).to.deep.include({
      resource: "/jobs",
      httpMethod: "POST",
      body: '{"records": [1]}',
      pathParameters: null,
    });
  });

  it("answers 403 Missing Authentication Token for a path or method the API does not have, the stage included", async () => {
    for (const [method, path] of [
      ["GET", `${gateway.baseUrl}/nothing`],
      ["DELETE", `${gateway.baseUrl}/job/abc`],
      ["GET", `${gateway.baseUrl}/jobs`],
      ["POST", `${gateway.endpoint}/job`],
    ]) {
      const response = await send(path, { method, headers: withKey });
      expect(response.statusCode, `${method} ${path}`).to.equal(403);
      expect(JSON.parse(response.text)).to.deep.equal({ message: "Missing Authentication Token" });
    }
    expect(events).to.deep.equal([]);
  });

  it("answers 403 Forbidden without the API key or with a wrong one, before the function", async () => {
    const missing = await send(`${gateway.baseUrl}/job`, { method: "POST", body: "{}" });
    const wrong = await send(`${gateway.baseUrl}/job`, {
      method: "POST",
      body: "{}",
      headers: { "x-api-key": "nope" },
    });
    for (const response of [missing, wrong]) {
      expect(response.statusCode).to.equal(403);
      expect(JSON.parse(response.text)).to.deep.equal({ message: "Forbidden" });
      expect(response.headers["x-amzn-errortype"]).to.equal("ForbiddenException");
    }
    expect(events).to.deep.equal([]);
  });

  it("throttles the key to its burst, refilling at its rate, then caps it at its daily quota, with 429s", async () => {
    const statuses = async (n: number) => {
      const codes = [];
      for (let i = 0; i < n; i++)
        codes.push(
          (await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" })).statusCode,
        );
      return codes;
    };
    // Burst 3, then nothing until tokens come back at 2 a second.
    expect(await statuses(4)).to.deep.equal([202, 202, 202, 429]);
    const throttled = await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" });
    expect(JSON.parse(throttled.text)).to.deep.equal({ message: "Too Many Requests" });
    clock.advance(1_000);
    // Two tokens back, and 5 requests used of the day's quota of 5.
    expect(await statuses(3)).to.deep.equal([202, 202, 429]);
    const over = await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" });
    clock.advance(10_000);
    const stillOver = await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" });
    expect(JSON.parse(stillOver.text)).to.deep.equal({ message: "Limit Exceeded" });
    expect(over.statusCode).to.equal(429);
    clock.advance(24 * 3600 * 1000);
    expect(await statuses(1), "a new day").to.deep.equal([202]);
    expect(gateway.usage()).to.deep.equal({ accepted: 6, throttled: 4, quota: 1 });
  });

  it("answers 413 for a body over 10 MB (as text) and for an event over Lambda's 6 MB (as JSON)", async () => {
    const huge = await send(`${gateway.baseUrl}/job`, {
      method: "POST",
      headers: withKey,
      body: Buffer.alloc(10_485_761, "a"),
    });
    expect(huge.statusCode).to.equal(413);
    expect(huge.text).to.equal("HTTP content length exceeded 10485760 bytes.");
    const large = await send(`${gateway.baseUrl}/job`, {
      method: "POST",
      headers: withKey,
      body: Buffer.alloc(7_000_000, "a"),
    });
    expect(large.statusCode).to.equal(413);
    expect(JSON.parse(large.text)).to.deep.equal({ message: "Request Too Long" });
    expect(events).to.deep.equal([]);
  });

  it("answers 502 when the function fails or answers what is not a proxy answer, 504 past 29 s", async () => {
    answer = async () => ({ ok: false, message: "Error: boom" });
    const failed = await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" });
    expect(failed.statusCode).to.equal(502);
    expect(JSON.parse(failed.text)).to.deep.equal({ message: "Internal server error" });
    answer = async () => ({ ok: true, value: { body: "no status code" } });
    expect(
      (await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" })).statusCode,
    ).to.equal(502);
    answer = async () => {
      clock.advance(30_000);
      return { ok: true, value: { statusCode: 202, body: "{}" } };
    };
    const slow = await send(`${gateway.baseUrl}/job`, { method: "POST", headers: withKey, body: "1" });
    expect(slow.statusCode).to.equal(504);
    expect(JSON.parse(slow.text)).to.deep.equal({ message: "Endpoint request timed out" });
  });
});
