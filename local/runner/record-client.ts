/**
 * A client of the records API, as a program would use it over HTTP: `POST /job` for each record at a set
 * rate, backing off and retrying on 429 (the usage plan's throttle) as API Gateway asks clients to, and
 * `GET /job/{job_id}` to read each record's status. Requests go out through node's HTTP client, so the runner
 * sees them in flight; times are the simulated clock's.
 */
import { Agent, request } from "node:http";
import type { SimClock } from "../time/clock";
import type { Track } from "./event-sources";

/** A record the API accepted: its job_id and when it was sent (simulated ms). */
export interface SentRecord {
  index: number;
  jobId: string;
  sentAt: number;
}

/** Retries of a throttled request before the record counts as refused. */
const maxThrottleRetries = 8;

export interface HttpAnswer {
  statusCode: number;
  body: unknown;
}

export class RecordClient {
  readonly accepted: SentRecord[] = [];
  /** Records the API refused for good, with why. */
  readonly refused: { index: number; statusCode: number; message: string }[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private pending = 0;
  private throttledAnswers = 0;

  constructor(private readonly options: { baseUrl: string; apiKey: string; clock: SimClock; track: Track }) {}

  /** Records scheduled or in flight. */
  get inFlight(): number {
    return this.pending;
  }

  /** 429 answers received (each retried later). */
  get throttled(): number {
    return this.throttledAnswers;
  }

  /** Sends `records[i]` at `i / ratePerSecond` simulated seconds from now, each as its own POST /job. */
  submitAll(records: readonly unknown[], ratePerSecond: number): void {
    const { clock, track } = this.options;
    records.forEach((record, index) => {
      this.pending += 1;
      clock.setTimeout(() => track(this.submit(index, record, 0)), (index * 1000) / ratePerSecond);
    });
  }

  private async submit(index: number, record: unknown, retry: number): Promise<void> {
    const { clock, track } = this.options;
    const sentAt = clock.now();
    const answer = await this.send("POST", "/job", JSON.stringify(record));
    if (answer.statusCode === 429 && retry < maxThrottleRetries) {
      this.throttledAnswers += 1;
      // Exponential back-off from 1 s, with jitter, as AWS advises for throttled calls.
      const delay = 1000 * 2 ** retry * (0.5 + Math.random() / 2);
      clock.setTimeout(() => track(this.submit(index, record, retry + 1)), delay);
      return;
    }
    this.pending -= 1;
    const body = answer.body as { job_id?: string; message?: string };
    if (answer.statusCode === 202 && typeof body.job_id === "string") {
      this.accepted.push({ index, jobId: body.job_id, sentAt });
    } else {
      this.refused.push({ index, statusCode: answer.statusCode, message: String(body.message ?? "") });
    }
  }

  /** Each record's status as `GET /job/{job_id}` answered it (200s only), once `readStatuses` has run. */
  readonly statuses = new Map<string, unknown>();

  /** Reads every accepted record's status at `ratePerSecond` GETs a second, retrying 429s as above. */
  readStatuses(ratePerSecond: number): void {
    const { clock, track } = this.options;
    this.accepted.forEach((sent, i) => {
      this.pending += 1;
      clock.setTimeout(() => track(this.read(sent.jobId, 0)), (i * 1000) / ratePerSecond);
    });
  }

  private async read(jobId: string, retry: number): Promise<void> {
    const { clock, track } = this.options;
    const answer = await this.send("GET", `/job/${jobId}`);
    if (answer.statusCode === 429 && retry < maxThrottleRetries) {
      this.throttledAnswers += 1;
      clock.setTimeout(
        () => track(this.read(jobId, retry + 1)),
        1000 * 2 ** retry * (0.5 + Math.random() / 2),
      );
      return;
    }
    this.pending -= 1;
    if (answer.statusCode === 200) this.statuses.set(jobId, answer.body);
  }

  /** One request to the API with the key; the answer's status and JSON body. */
  send(
    method: "GET" | "POST",
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const url = new URL(`${this.options.baseUrl}${path}`);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            "x-api-key": this.options.apiKey,
            ...(body !== undefined
              ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
              : {}),
            ...headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // API Gateway's 413 for a body over 10 MB is text.
            }
            resolve({ statusCode: response.statusCode ?? 0, body: parsed });
          });
          response.on("error", reject);
        },
      );
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
