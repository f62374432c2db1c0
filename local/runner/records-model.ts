/**
 * A model of a stream of records through two designs, for the bench's sizes that are too large to run on
 * local servers: when each record's batch forms, when its batch's work ends, and what each design calls.
 *
 * This stack's timings are local mode's (batches as the buffer's event source mapping forms them, Batch's
 * state durations, at most floor(maxVcpus / vcpu) jobs running, the 1 s event deliveries), so that for a
 * size local mode runs the model agrees with it (a test holds them together). The template's are its
 * documented defaults and the assumptions `templateAssumptions` states.
 */

/** A batch: when its first record arrived, when it was handed over, and its records (by index). */
export interface ModelBatch {
  openedAt: number;
  flushedAt: number;
  first: number;
  count: number;
}

/**
 * Batches as a batching event source forms them from records arriving at `rate` a second from time 0: a
 * batch is handed over when it holds `batchSize` records, or `windowSeconds` after its first arrived.
 */
export function formBatches(
  records: number,
  rate: number,
  batchSize: number,
  windowSeconds: number,
): ModelBatch[] {
  const batches: ModelBatch[] = [];
  let index = 0;
  while (index < records) {
    const openedAt = index / rate;
    const closesAt = openedAt + windowSeconds;
    let count = 1;
    while (count < batchSize && index + count < records && (index + count) / rate <= closesAt) count += 1;
    const full = count === batchSize;
    batches.push({ openedAt, flushedAt: full ? (index + count - 1) / rate : closesAt, first: index, count });
    index += count;
  }
  return batches;
}

/** The median, the 99th percentile (nearest rank) and the largest. */
export function latencyPercentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.length - 1] };
}

/** This stack's settings and local mode's timings, as the model uses them. */
export interface StackModel {
  batchSize: number;
  windowSeconds: number;
  recordsPerShard: number;
  jobDurationSeconds: number;
  /** Jobs running at once: floor(maxVcpus / vcpu). */
  concurrentJobs: number;
  /** From SubmitJob to the job's turn for capacity (local Batch: SUBMITTED 1 s, RUNNABLE 10 s). */
  queuedSeconds: number;
  /** STARTING (local Batch: 20 s), holding capacity. */
  startingSeconds: number;
  /** From a job's end to its step's answer, then to the status function: one event delivery each (1 s). */
  eventDelaySeconds: number;
}

/**
 * Each record's latency through this stack: its batch forms, its execution submits one job per shard, the
 * jobs wait for capacity in the order they became runnable, and the records are final one event delay after
 * the execution ends, itself one event delay after its last job.
 */
export function stackLatencies(records: number, rate: number, model: StackModel): number[] {
  const batches = formBatches(records, rate, model.batchSize, model.windowSeconds);
  // Jobs become runnable in batch order; a slot frees when a job ends.
  const slots: number[] = Array.from({ length: model.concurrentJobs }, () => 0);
  const latencies = new Array<number>(records);
  for (const batch of batches) {
    const shards = Math.ceil(batch.count / model.recordsPerShard);
    let lastJobEnd = 0;
    for (let shard = 0; shard < shards; shard++) {
      const runnableAt = batch.flushedAt + model.queuedSeconds;
      // The slot that frees first takes the next job.
      let slot = 0;
      for (let s = 1; s < slots.length; s++) if (slots[s] < slots[slot]) slot = s;
      const startsAt = Math.max(runnableAt, slots[slot]);
      const endsAt = startsAt + model.startingSeconds + model.jobDurationSeconds;
      slots[slot] = endsAt;
      lastJobEnd = Math.max(lastJobEnd, endsAt);
    }
    const finalAt = lastJobEnd + 2 * model.eventDelaySeconds;
    for (let i = batch.first; i < batch.first + batch.count; i++) latencies[i] = finalAt - i / rate;
  }
  return latencies;
}

/** The template's design as the model runs it. */
export interface TemplateModel {
  /** KinesisBatchSize and KinesisMaximumBatchingWindowInSeconds (its defaults: 100 and 60 s). */
  batchSize: number;
  windowSeconds: number;
  /** A transform job's instance start-up before it processes anything. */
  instanceStartSeconds: number;
  /** The transform job's processing of a batch (the same work as this stack's job). */
  jobDurationSeconds: number;
  /** Each S3 event notification (batch written, result written) to its Lambda function. */
  s3EventSeconds: number;
}

/** The assumptions behind `TemplateModel`'s figures, printed with the table. */
export const templateAssumptions = [
  "template: batches of KinesisBatchSize 100 records or KinesisMaximumBatchingWindowInSeconds 60 s (its",
  "  defaults), one Kinesis shard; each batch one S3 object and one Batch Transform job on one ml.m4.xlarge;",
  "  the job's instance start-up is assumed 5 min (the template states none; SageMaker provisions an instance",
  "  per job), its processing the same 2 min as this stack's job; S3 event notifications 1 s; transform jobs",
  "  unlimited in number (no account quota modelled: this favours the template).",
];

/** Each record's latency through the template: batch, S3 event, instance start-up, processing, S3 event. */
export function templateLatencies(records: number, rate: number, model: TemplateModel): number[] {
  const latencies = new Array<number>(records);
  for (const batch of formBatches(records, rate, model.batchSize, model.windowSeconds)) {
    const finalAt =
      batch.flushedAt +
      model.s3EventSeconds +
      model.instanceStartSeconds +
      model.jobDurationSeconds +
      model.s3EventSeconds;
    for (let i = batch.first; i < batch.first + batch.count; i++) latencies[i] = finalAt - i / rate;
  }
  return latencies;
}

/**
 * The template's calls for `records` (its Lambda functions' calls read from its source, and the services'
 * own requests): per record an API Gateway request, the API function, a DynamoDB PutItem and a Kinesis
 * PutRecord; per batch the stream processor, its S3 PutObject, the S3 trigger function, CreateTransformJob,
 * the transform job's S3 read and write, the result function, its S3 GetObject and its BatchWriteItem of
 * 25 items a call. Kinesis's GetRecords polling is left out, as SQS polling is for this stack.
 */
export function templateCalls(records: number, rate: number, model: TemplateModel): number {
  const batches = formBatches(records, rate, model.batchSize, model.windowSeconds);
  const perBatch = batches.reduce((sum, batch) => sum + 8 + Math.ceil(batch.count / 25), 0);
  return records * 4 + perBatch;
}
