import { z } from 'zod';
/**
 * The ports between the core and the real things. They are small and
 * stream-shaped on purpose: a test fake of any of them is a few lines.
 */
import type { RangeStatus, RunStatus } from './lifecycle.ts';

/** A value as a source yields it; text for most sources, typed for some formats. */
export type Value = string | number | bigint | boolean | Date | Uint8Array | null | { [key: string]: unknown } | unknown[];
export type Row = Value[];

/** A position inside a range, opaque to the core (a key, a byte offset). */
export type Checkpoint = string;

/** One unit of work: what the planner puts on the queue, by id. */
export interface RangeSpec {
  /** The bounds in words, e.g. `id >= 1000 AND id < 2000` or `a.csv bytes 0-1048576`. */
  description: string;
  /** What the source needs to read the range again; JSON. */
  bounds: unknown;
}

export interface Batch {
  rows: Row[];
  /** Records the source could not read as a row (wrong field count, bad JSON): dirty, with the reason. */
  rejected?: Array<{ record: unknown; reason: string }>;
  /** Where a reader resumes to read what follows this batch. */
  checkpoint: Checkpoint;
}

/** A batch of rows as escaped text (text-rows.ts): each line the source's columns, then `fields` less those, fields of its own (a key). */
export interface TextBatch {
  text: Buffer;
  rows: number;
  /** Fields per line. */
  fields: number;
  /** Records the source could not read as a row, as in Batch: not in the text. */
  rejected?: Batch['rejected'];
  checkpoint: Checkpoint;
}

export interface SourceColumn {
  name: string;
  /** The source's own type name (`int8`, `numeric`, `text`...), or `text` for untyped files. */
  type: string;
}

/**
 * A source's schema as `target.create` needs it: each column's own type
 * (in the source's dialect), its key, and for untyped files a sample of rows
 * to infer types from.
 */
export interface SourceSchema {
  dialect: 'postgres' | 'mysql' | 'parquet' | 'csv' | 'jsonl';
  columns: Array<SourceColumn & { nullable: boolean }>;
  /** The primary key, or the job's split key; empty when there is none. */
  key: string[];
  /** Rows of `columns` (CSV and JSON Lines only): what their types are inferred from. */
  sample?: Row[];
}

/** Something to read from: split into ranges, read one range as batches. */
export interface Source {
  columns(): Promise<SourceColumn[]>;
  /** Runs the job's `where` (or query) reading no rows: a mistake fails here, naming the key, not in a range. */
  checkRead?(): Promise<void>;
  /** The schema a created target table is made from. */
  schema?(): Promise<SourceSchema>;
  /** Every key the data carries (a CSV header, the first JSON Lines record): those matching no read column are reported. */
  fileKeys?(): Promise<string[]>;
  /** Cuts the source into about `ranges` ranges of similar size, without reading it all. */
  plan(ranges: number): Promise<RangeSpec[]>;
  /** Streams the range's rows after `after` (from its start when null) in batches of about `batchRows`. */
  read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncIterable<Batch>;
  /** The same rows as escaped text, in batches of about `rows` rows or `bytes` bytes, whichever comes first (a source whose rows are that text already). */
  readText?(range: RangeSpec, after: Checkpoint | null, size: { rows: number; bytes: number }): AsyncIterable<TextBatch>;
  /** Fails (JobError) when some of the source cannot be read at all (a file's footer): run before the target is prepared. */
  check?(): Promise<void>;
}

/** A column of the live target table, as information_schema describes it. */
export interface TargetColumn {
  name: string;
  /** Lower-case base type: `int`, `varchar`, `decimal`, `datetime`... */
  dataType: string;
  /** The full type: `int(10) unsigned`, `enum('a','b')`... */
  columnType: string;
  nullable: boolean;
  unsigned: boolean;
  /** Characters for CHAR/VARCHAR, bytes for TEXT/BLOB/BINARY kinds. */
  maxLength: number | null;
  precision: number | null;
  scale: number | null;
  /** Fractional second digits of DATETIME/TIMESTAMP/TIME. */
  fsp: number | null;
  charset: string | null;
  /** Members of an ENUM or SET. */
  members: string[];
  autoIncrement: boolean;
  generated: boolean;
}

/** A value as it is written: MySQL literal text (binary as hex), or NULL. */
export type OutValue = string | null;
export type OutRow = OutValue[];

export interface DirtyRecord {
  rangeId: number;
  column: string | null;
  reason: string;
  /** The source row, as JSON (bounded). */
  record: string;
}

/** The rows of one chunk and the checkpoint they advance, committed as one. */
export interface Chunk {
  runId: string;
  rangeId: number;
  /** The checkpoint this chunk starts at: the write fails if the range moved on. */
  from: Checkpoint | null;
  to: Checkpoint;
  /** The mapped target columns, in the order of each row's values. */
  columns: readonly TargetColumn[];
  rows: OutRow[];
  /** The source rows of `rows`, same order: a row the database rejects is recorded from here. */
  sourceRows: Row[];
  sourceNames: readonly string[];
  /** Source rows consumed: rows.length plus the dirty ones. */
  rowsRead: number;
  /** Rows that failed conversion. */
  dirty: DirtyRecord[];
  /**
   * The rows as the source's escaped text instead of `rows` (which is then
   * empty): every value passes as is. Each line: the columns, then `skip`
   * fields that are not written. `bytes`: their size as chunkBytes counts it.
   */
  text?: { data: Buffer; rows: number; skip: number; bytes: number };
}

export interface ChunkResult {
  written: number;
  /** Size of the rows sent, in tab-separated text form (UTF-8 values, a tab between, a newline after). */
  bytes: number;
  skipped: number;
  /** All dirty records of the chunk: conversion's plus the database's. */
  dirty: DirtyRecord[];
  /** Set when the run has failed: stop writing. `byThisChunk`: its dirty records crossed the limit. */
  runFailed: { reason: string; byThisChunk: boolean } | null;
}

/**
 * Where rows go: its schema; the run's start (pre-SQL, emptying the table or
 * creating a staging table); chunks written with their checkpoint in one
 * transaction; the run's end (swapping the staging table in, post-SQL).
 */
export interface Target {
  /** The live columns; a MissingTableError when the table does not exist. */
  describe(): Promise<TargetColumn[]>;
  /** The columns of each primary and unique key: what upsert, replace and ignore find an existing row by. */
  uniqueKeys?(): Promise<string[][]>;
  /** The CREATE TABLE for a source's schema, and the columns it would make: nothing is run. */
  createPlan?(schema: SourceSchema): { ddl: string; columns: TargetColumn[] };
  /** Runs a createPlan's DDL (CREATE TABLE IF NOT EXISTS: an existing table is never altered). */
  create?(ddl: string): Promise<void>;
  prepare(runId: string): Promise<void>;
  write(chunk: Chunk): Promise<ChunkResult>;
  /** True when write takes a chunk's rows as escaped text (Chunk.text). */
  readonly takesText?: boolean;
  publish(runId: string): Promise<void>;
  /** A run that failed or was cancelled: drops what only it could use (swap: its staging table). */
  discard(runId: string): Promise<void>;
}

export type { RangeStatus, RunStatus } from './lifecycle.ts';

export interface RunRecord {
  runId: string;
  job: string;
  logicalTime: Date;
  /** The trigger's and the command line's variables (not the built-in ones): with job and logical time, the run's identity. */
  vars: Record<string, string>;
  /** 1 for the first run of an identity; a `rerun` is the next. */
  attempt: number;
  /** The hash of what the rows depend on (lifecycle.dataHash): `resume` refuses another. */
  dataHash: string;
  /** The hash of the resolved job its ranges were last queued with (lifecycle.specHash). */
  specHash: string;
  status: RunStatus;
  error: string | null;
  ranges: number;
  rangesDone: number;
  rowsRead: number;
  rowsWritten: number;
  dirtyRecords: number;
  skipped: number;
  bytesWritten: number;
  /** The target was prepared (pre-SQL run, table emptied or staged): never again for this run. */
  prepared: boolean;
  /** The rerun that replaced this run, if any. */
  supersededBy: string | null;
  /** Its end event was accepted by the bus (until then the run is the event's outbox entry). */
  eventPublished: boolean;
  /** Attempts at its ranges that are working now (heartbeating). */
  liveAttempts: number;
  /** The last time anything of the run moved: a chunk, a heartbeat, a state change. */
  lastActivity: Date;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface RangeRecord {
  runId: string;
  rangeId: number;
  status: RangeStatus;
  spec: RangeSpec;
  checkpoint: Checkpoint | null;
  rowsRead: number;
  rowsWritten: number;
  dirtyRecords: number;
  skipped: number;
  bytesWritten: number;
  attempts: number;
  owner: string | null;
  error: string | null;
}

/** What a run starts with; the ledger fills in the rest. */
export type NewRun = Pick<RunRecord, 'runId' | 'job' | 'logicalTime' | 'vars' | 'attempt' | 'dataHash'>;

/**
 * A change of a run, applied only while its status is one of `from` (the
 * lifecycle table gives them): the ledger's conditional update.
 */
export interface RunChange {
  from: readonly RunStatus[];
  to?: RunStatus;
  /** Sets (or with null clears) the error. */
  error?: string | null;
  prepared?: boolean;
  supersededBy?: string;
  specHash?: string;
  eventPublished?: true;
  /** Only when every range is done. */
  allRangesDone?: boolean;
  /** Only when the run has not changed for this long (a stale claim). */
  idleMs?: number;
}

export interface RunFilter {
  job?: string;
  logicalTime?: Date;
  /** Pending, running or finalizing. */
  unfinished?: boolean;
  /** Ended, and the end event not yet accepted. */
  unannounced?: boolean;
  limit: number;
}

/** What asking to work a range gave: an attempt, or why not now. */
export type Admission =
  /** `attemptId` null: the range is done or the run ended, a look that takes no slot and records no attempt. */
  | { status: 'started'; attemptId: number | null; range: RangeRecord; run: RunRecord }
  /** The job already has maxConcurrency live attempts, or the range has one: try again soon. */
  | { status: 'busy' }
  | { status: 'unknown' };

/** The run ledger: runs, ranges and their checkpoints, attempts, dirty records. A store: the rules are in lifecycle.ts. */
export interface Ledger {
  /** Runs fn while holding the job's planning lock for one logical time. */
  withPlanLock<T>(job: string, logicalTime: Date, fn: () => Promise<T>): Promise<T>;
  createRun(run: NewRun): Promise<void>;
  /** Applies the change when the run's status allows it; true when it did. */
  updateRun(runId: string, change: RunChange): Promise<boolean>;
  getRun(runId: string): Promise<RunRecord | null>;
  /** Runs, newest first. */
  listRuns(filter: RunFilter): Promise<RunRecord[]>;
  addRanges(runId: string, ranges: RangeSpec[]): Promise<void>;
  listRanges(runId: string): Promise<RangeRecord[]>;
  /** Puts the run's ranges in `from` back to pending, after their checkpoints; `restart`: from their starts, the run's counts and dirty records cleared. */
  reopenRanges(runId: string, from: readonly RangeStatus[], restart: boolean): Promise<void>;
  /**
   * Starts an attempt at a range by `owner`, unless the range has a live
   * attempt or the job already has `maxConcurrency` of them (attempts
   * silent for ATTEMPT_STALE_MS are closed first).
   */
  startAttempt(runId: string, rangeId: number, owner: string, maxConcurrency: number): Promise<Admission>;
  /** Keeps an attempt live. */
  heartbeat(attemptId: number): Promise<void>;
  /** The end of an attempt, whatever its outcome. */
  endAttempt(attemptId: number): Promise<void>;
  /**
   * Reserves the job-wide throughput `cost` uses under `rates` (per second),
   * on a clock shared by all consumers of the run; returns how long to wait
   * before writing.
   */
  reserve(runId: string, cost: ThrottleCost, rates: ThrottleCost): Promise<number>;
  /** Marks a range done; true when it was the run's last. Idempotent. */
  finishRange(runId: string, rangeId: number): Promise<boolean>;
  /** Marks a range failed with the reason (the run's move is the caller's). */
  failRange(runId: string, rangeId: number, reason: string): Promise<void>;
  listDirty(runId: string): Promise<DirtyRecord[]>;
  /** The same records one at a time, in constant memory whatever their number. */
  streamDirty(runId: string): AsyncIterable<DirtyRecord>;
  /** Ids of runs that start with `prefix`, at most `limit` (a run id given short). */
  runIdsStartingWith(prefix: string, limit: number): Promise<string[]>;
  /** When each attempt at a range of the run began and ended (null: it is live). */
  listAttempts(runId: string): Promise<Array<{ rangeId: number; startedAt: Date; endedAt: Date | null }>>;
}

/** Rows and bytes; a null rate means no limit on that measure. */
export interface ThrottleCost {
  rows: number | null;
  bytes: number | null;
}

/**
 * What the planner puts on the queue for each range: ids, not the job. The
 * consumer loads the job from its own files and resolves it with the run's
 * logical time and variables; `specHash` must match what it gets.
 */
export const RangeMessage = z.object({
  v: z.literal(2),
  job: z.string().min(1),
  runId: z.string().min(1),
  rangeId: z.number().int().min(0),
  logicalTime: z.iso.datetime({ offset: true }),
  vars: z.record(z.string(), z.string()),
  specHash: z.string().min(1),
});
export type RangeMessage = z.infer<typeof RangeMessage>;

export interface Queue {
  send(messages: RangeMessage[]): Promise<void>;
}

export interface RunEvent {
  type: 'Run Succeeded' | 'Run Failed' | 'Run Resumed';
  job: string;
  runId: string;
  logicalTime: string;
  error: string | null;
}

export interface Events {
  /** Puts the event on the bus; `repeat`: it was published before and not accepted (its measures are counted already). */
  publish(event: RunEvent, options?: { repeat?: boolean }): Promise<void>;
}

/** Nobody listens (a local run): outcomes are read from the ledger instead. */
export const noEvents: Events = { publish: async () => {} };
