import { boundedJson, buildConverter, textChecks } from './convert.ts';
import { BatchsyncError, describeError, isRetryable, JobError, RangeBusyError } from './errors.ts';
import { afterRunEnded, endRun, type FinalizeDeps, finalizeRun } from './finalize.ts';
import { awaitHealthy } from './health.ts';
import type { JobSpec } from './job-spec.ts';
import { HEARTBEAT_MS, isEnded, specHash } from './lifecycle.ts';
import { mapColumns, valueColumns, withValues } from './mapping.ts';
import type { Batch, Chunk, ChunkResult, DirtyRecord, Events, OutRow, RangeMessage, RangeRecord, RunRecord, Source, Target } from './ports.ts';
import type { JobResources } from './plan.ts';
import { OUTAGE, QUICK, retrying } from './retry.ts';
import { readAhead } from './stream.ts';
import { checkText, type FieldCheck, mendText } from './text-rows.ts';
import { resolveRun } from './vars.ts';

/**
 * Bytes (as chunkBytes counts them) at which a chunk closes before its rows
 * are reached: it bounds a consumer's memory when rows are wide. Measured
 * with bench/chunk-bytes.ts: LOAD DATA is at full speed from a few MB a chunk.
 */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
/**
 * Bytes at which a chunk of escaped text closes (when the job sets no
 * batchRows or rate). Measured PostgreSQL → MySQL, 1M and 100k rows: 1-2 MB
 * beats 512 KB (more transactions, 5-10% slower) and 4 MB (a small range
 * is one chunk, its read no longer overlapping its write, 15% slower).
 */
const TEXT_CHUNK_BYTES = 2 << 20;
/** Rows per read from the source at most: a chunk overshoots its byte bound by at most this many rows. */
const SOURCE_BATCH_ROWS = 16;

/** Source batch size: at most SOURCE_BATCH_ROWS, dividing the chunk's rows evenly where it can. */
export function sourceBatchRows(chunkRows: number): number {
  return Math.ceil(chunkRows / Math.ceil(chunkRows / SOURCE_BATCH_ROWS));
}

/** Rows per chunk transaction when the job does not say: large enough that LOAD DATA runs at full speed. */
export const DEFAULT_BATCH_ROWS = 10_000;

export interface ConsumerDeps {
  open(job: JobSpec): Promise<JobResources>;
  /** The job files this consumer was deployed with (or the local run's), by name, unresolved. */
  jobs(name: string): JobSpec | undefined;
  events: Events;
  /** Who is working, for the ledger: host and process, or the Lambda request. */
  owner: string;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Aborted when the consumer must stop before its next chunk (Ctrl-C, shutdown): the range is handed back. */
  signal?: AbortSignal;
  /** Keeps a held range's attempt alive while it waits (a health pause); default: nothing to do. */
  heartbeat?(attempt: { runId: string; rangeId: number; attemptId: number }): Promise<void>;
}

export interface Delivery {
  message: RangeMessage;
  /** 1 for the first delivery; from SQS's ApproximateReceiveCount. */
  receiveCount: number;
  /** When (epoch ms) to stop and hand the rest of the range back, as a Lambda's time runs out; null: never. */
  deadline: number | null;
}

/**
 * What became of a delivery. `handed-back`: the deadline, a shutdown or a
 * busy job came first; the checkpoint is committed and the caller queues the
 * message again, for another invocation to continue the range. `run-ended`:
 * the run failed or was cancelled, the message is dropped. `superseded`: the
 * message is from before a resume, which queued its own.
 */
export type RangeOutcome =
  | { status: 'done' | 'already-done' | 'run-ended' | 'unknown' | 'handed-back' | 'superseded'; rowsWritten: number }
  | { status: 'failed'; rowsWritten: number; error: string };

/** How long a consumer waits between asks for a slot when the job is at maxConcurrency. */
const ADMISSION_RETRY_MS = 500;

/** Rows per chunk: the job's choice, or the default; when throttled, about half a second of the job's rate per consumer. */
export function chunkRows(job: JobSpec): number {
  const { rowsPerSecond, bytesPerSecond, maxConcurrency } = job.channel;
  let rows = job.target.batchRows ?? DEFAULT_BATCH_ROWS;
  if (rowsPerSecond !== null) rows = Math.min(rows, rowsPerSecond / maxConcurrency / 2);
  // A row is at least a few bytes; assuming 32 keeps a chunk within about half a second of the byte rate.
  if (bytesPerSecond !== null) rows = Math.min(rows, bytesPerSecond / 32 / maxConcurrency / 2);
  return Math.max(1, Math.floor(rows));
}

/** The chunk's size as bytesPerSecond counts it: each value's UTF-8 text and a separator after it, NULL written as \N. */
export function chunkBytes(rows: readonly OutRow[]): number {
  let bytes = 0;
  for (const row of rows) bytes += chunkRowBytes(row);
  return bytes;
}

/** One row's size, as chunkBytes counts it. */
export function chunkRowBytes(row: OutRow): number {
  let bytes = 0;
  for (const v of row) bytes += v === null ? 3 : Buffer.byteLength(v) + 1;
  return bytes;
}

/** The dirty records of what a source could not read as rows. */
function rejectedRecords(batch: { rejected?: Batch['rejected'] }, rangeId: number): DirtyRecord[] {
  return (batch.rejected ?? []).map(({ record, reason }) => ({ rangeId, column: null, reason, record: boundedJson(record) }));
}

async function writeWithRetry(target: Target, chunk: Chunk, deps: ConsumerDeps): Promise<ChunkResult> {
  return retrying(() => target.write(chunk), deps, QUICK);
}

/**
 * Works one range message: loads the job it names and checks it is the
 * version the range was queued with, waits for a slot under the job's
 * maxConcurrency, resumes the range after its checkpoint, converts each
 * batch to the target's types, and writes it with the new checkpoint in
 * one transaction, so a redelivered or resumed range never writes a row
 * twice. The attempt heartbeats while it works. The last range of a run
 * finalizes it. A permanent error fails the range and the run (recorded,
 * not thrown); a passing one is thrown for the queue to redeliver, until
 * the last delivery, which fails the range.
 */
export async function consumeRange(delivery: Delivery, deps: ConsumerDeps): Promise<RangeOutcome> {
  const { message } = delivery;
  const spec = deps.jobs(message.job);
  if (!spec) throw new JobError(`range message for job ${message.job}, which this consumer does not have`);
  const job = resolveRun(spec, new Date(message.logicalTime), message.vars);
  // A database restarting costs pauses here, not deliveries: each step resumes from what the ledger committed.
  const retry = <T>(fn: () => Promise<T>) => retrying(fn, deps, OUTAGE, { deadline: delivery.deadline });
  const resources = await retry(() => deps.open(job));
  const { ledger } = resources;
  for (;;) {
    const admission = await retry(() => ledger.startAttempt(message.runId, message.rangeId, deps.owner, job.channel.maxConcurrency));
    if (admission.status === 'unknown') return { status: 'unknown', rowsWritten: 0 };
    if (admission.status === 'started') {
      const { attemptId } = admission;
      const finalizeDeps = { ...resources, events: deps.events };
      // A look (done range, ended run) holds no attempt.
      if (attemptId === null) return (await preflight(delivery, job, admission, finalizeDeps)) ?? { status: 'already-done', rowsWritten: 0 };
      const heartbeat = setInterval(() => void ledger.heartbeat(attemptId).catch(() => {}), HEARTBEAT_MS);
      try {
        return (await preflight(delivery, job, admission, finalizeDeps)) ?? (await consumeStarted(delivery, job, { ...admission, attemptId }, resources, deps));
      } finally {
        clearInterval(heartbeat);
        await retry(() => ledger.endAttempt(attemptId));
      }
    }
    if (stopping(delivery, deps, ADMISSION_RETRY_MS)) return { status: 'handed-back', rowsWritten: 0 };
    await deps.sleep(ADMISSION_RETRY_MS);
  }
}

/** True when the consumer must hand the range back now: shut down, or its time (less `margin`) is up. */
function stopping(delivery: Delivery, deps: ConsumerDeps, margin = 0): boolean {
  return deps.signal?.aborted === true || (delivery.deadline !== null && deps.now() + margin >= delivery.deadline);
}

/**
 * What a delivery comes to before any row is read, or null to work the
 * range: the run ended, the message is from before a resume, the job file
 * changed since it was queued, or the range is done (finalized if it was the
 * last).
 */
async function preflight(delivery: Delivery, job: JobSpec, { range, run }: { range: RangeRecord; run: RunRecord }, finalizeDeps: FinalizeDeps): Promise<RangeOutcome | null> {
  const { runId, rangeId } = delivery.message;
  const { ledger } = finalizeDeps;
  if (isEnded(run.status)) return { status: 'run-ended', rowsWritten: 0 };
  if (run.specHash !== delivery.message.specHash) return { status: 'superseded', rowsWritten: 0 };
  if (specHash(job) !== delivery.message.specHash) {
    const reason = `job ${job.name} changed since run ${runId} was queued (a deploy during the run?): finish it with batchsync resume ${runId}`;
    await ledger.failRange(runId, rangeId, reason);
    await endRun(runId, 'failed', `range ${rangeId}: ${reason}`, finalizeDeps);
    return { status: 'failed', rowsWritten: 0, error: reason };
  }
  if (range.status === 'done') {
    await finalizeRun(runId, job, finalizeDeps);
    return { status: 'already-done', rowsWritten: 0 };
  }
  return null;
}

async function consumeStarted(
  delivery: Delivery,
  job: JobSpec,
  { range, attemptId }: { range: RangeRecord; attemptId: number },
  resources: JobResources,
  deps: ConsumerDeps,
): Promise<RangeOutcome> {
  const { runId, rangeId } = delivery.message;
  const { ledger, source, target } = resources;
  const finalizeDeps = { ...resources, events: deps.events };
  const { rowsPerSecond, bytesPerSecond } = job.channel;
  const throttled = rowsPerSecond !== null || bytesPerSecond !== null;
  let written = 0;
  // Where the committed rows end: a passing failure (a lost connection) starts reading again from here.
  let checkpoint = range.checkpoint;
  const work = async (): Promise<RangeOutcome | null> => {
    const read = await source.columns();
    const columns = mapColumns(read, job.target.columns, job.target.table, await target.describe());
    // Constant and variable columns: their values follow each source row's, as if the source had them.
    const constants = valueColumns(job.target.columns);
    const values = constants.map((c) => c.value);
    const sourceColumns = [...read, ...constants.map((c) => ({ name: c.name, type: 'text' }))];
    const options = { timeZone: job.timezone, emptyAsNull: job.target.emptyAsNull };
    const convert = buildConverter(sourceColumns, columns, options);
    const sourceNames = sourceColumns.map((c) => c.name);
    const batchRows = chunkRows(job);
    // Rows whose every value passes as is go from the source's text to the target's without being parsed.
    const readText = target.takesText && constants.length === 0 ? source.readText?.bind(source) : undefined;
    const checks = readText ? textChecks(read, columns, options) : null;
    async function* textChunks(readText: NonNullable<Source['readText']>, checks: readonly FieldCheck[]): AsyncGenerator<Chunk> {
      let from = checkpoint;
      // A text chunk holds no row objects: unless the job sets batchRows or a rate, only its bytes close it.
      const rowLimit = job.target.batchRows === undefined && !throttled ? Number.POSITIVE_INFINITY : batchRows;
      for await (const batch of readText(range.spec, from, { rows: rowLimit, bytes: TEXT_CHUNK_BYTES })) {
        const skip = batch.fields - columns.length;
        const dirty = rejectedRecords(batch, rangeId);
        const { bad, bytes: passing } = checkText(batch.text, checks);
        let bytes = passing;
        let data = batch.text;
        let rows = batch.rows;
        if (bad.length > 0) {
          // A line with a value that does not pass as is (NaN, a NULL for a NOT NULL column, text of another form) is converted on its own.
          const mended = mendText(batch.text, bad, columns.length, skip, (fields) => {
            const converted = convert([fields], rangeId);
            dirty.push(...converted.dirty);
            if (converted.rows.length === 0) return null;
            bytes += chunkRowBytes(converted.rows[0]);
            return converted.rows[0];
          });
          data = mended.data;
          rows += mended.rows - bad.length;
        }
        const rowsRead = batch.rows + (batch.rejected?.length ?? 0);
        const text = { data, rows, skip, bytes };
        yield { runId, rangeId, from, to: batch.checkpoint, columns, sourceNames, rowsRead, rows: [], sourceRows: [], dirty, text };
        from = batch.checkpoint;
      }
    }
    // Batches are read and converted one ahead of the write, so the databases and this process work at once.
    // Sources are read in small batches and a chunk is cut by rows or bytes, whichever comes first: a run of wide rows stays bounded in memory.
    async function* rowChunks(): AsyncGenerator<Chunk> {
      let from = checkpoint;
      let chunk: Chunk | null = null;
      let bytes = 0;
      for await (const batch of source.read(range.spec, from, sourceBatchRows(batchRows))) {
        withValues(batch.rows, values);
        const converted = convert(batch.rows, rangeId);
        for (const d of rejectedRecords(batch, rangeId)) converted.dirty.push(d);
        chunk ??= { runId, rangeId, from, to: batch.checkpoint, columns, rows: [], sourceRows: [], sourceNames, rowsRead: 0, dirty: [] };
        for (const row of converted.rows) chunk.rows.push(row);
        for (const row of converted.sourceRows) chunk.sourceRows.push(row);
        for (const d of converted.dirty) chunk.dirty.push(d);
        chunk.rowsRead += batch.rows.length + (batch.rejected?.length ?? 0);
        chunk.to = batch.checkpoint;
        bytes += chunkBytes(converted.rows);
        if (chunk.rowsRead >= batchRows || bytes >= DEFAULT_CHUNK_BYTES) {
          yield chunk;
          chunk = null;
          bytes = 0;
        }
        from = batch.checkpoint;
      }
      if (chunk) yield chunk;
    }
    for await (const chunk of readAhead(readText && checks ? textChunks(readText, checks) : rowChunks())) {
      // The target's health first: a paused consumer holds its range (and its next chunk) until the server recovers.
      if (job.target.health && resources.health) {
        const heartbeat = () => deps.heartbeat?.({ runId, rangeId, attemptId }) ?? Promise.resolve();
        const gate = { job: job.name, runId, spec: job.target.health, health: resources.health, deadline: delivery.deadline, now: deps.now, sleep: deps.sleep, heartbeat };
        if ((await awaitHealthy(gate)) === 'deadline') return { status: 'handed-back', rowsWritten: written };
      }
      if (throttled) {
        const cost = { rows: chunk.rowsRead, bytes: bytesPerSecond === null ? 0 : (chunk.text?.bytes ?? chunkBytes(chunk.rows)) };
        const wait = await ledger.reserve(runId, cost, { rows: rowsPerSecond, bytes: bytesPerSecond });
        // A wait past the deadline would overrun the delivery: hand back (the chunk's reservation is not refunded, one chunk's worth of rate).
        if (stopping(delivery, deps, wait)) return { status: 'handed-back', rowsWritten: written };
        if (wait > 0) await deps.sleep(wait);
      }
      const result = await writeWithRetry(target, chunk, deps);
      if (result.runFailed !== null) {
        // This chunk pushed the run over its dirty limit (it failed the run in its transaction), or the run ended meanwhile.
        if (result.runFailed.byThisChunk) await afterRunEnded(runId, finalizeDeps);
        return { status: 'run-ended', rowsWritten: written + result.written };
      }
      written += result.written;
      checkpoint = chunk.to;
      if (stopping(delivery, deps)) return { status: 'handed-back', rowsWritten: written };
    }
    return null;
  };
  try {
    const ended = await retrying(work, deps, OUTAGE, { deadline: delivery.deadline });
    if (ended) return ended;
    const retry = <T>(fn: () => Promise<T>) => retrying(fn, deps, OUTAGE, { deadline: delivery.deadline });
    if (await retry(() => ledger.finishRange(runId, rangeId))) await retry(() => finalizeRun(runId, job, finalizeDeps));
    return { status: 'done', rowsWritten: written };
  } catch (error) {
    // Passing errors, and unexpected ones, go back to the queue until the last delivery.
    const permanent = error instanceof BatchsyncError && !isRetryable(error);
    const lastDelivery = delivery.receiveCount >= job.channel.maxReceiveCount;
    if (error instanceof RangeBusyError || (!permanent && !lastDelivery)) throw error;
    const reason = describeError(error);
    await ledger.failRange(runId, rangeId, reason);
    await endRun(runId, 'failed', `range ${rangeId}: ${reason}`, finalizeDeps);
    return { status: 'failed', rowsWritten: written, error: reason };
  }
}
