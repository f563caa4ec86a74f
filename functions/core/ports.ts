/**
 * The ports between the core and the real things. They are small and
 * stream-shaped on purpose: a test fake of any of them is a few lines.
 */
import type { JobSpec } from './job-spec.ts';

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

export interface SourceColumn {
  name: string;
  /** The source's own type name (`int8`, `numeric`, `text`...), or `text` for untyped files. */
  type: string;
}

/** Something to read from: split into ranges, read one range as batches. */
export interface Source {
  columns(): Promise<SourceColumn[]>;
  /** Cuts the source into about `ranges` ranges of similar size, without reading it all. */
  plan(ranges: number): Promise<RangeSpec[]>;
  /** About how many bytes the source holds (table or files on disk), without reading it; null when unknown. */
  estimateBytes?(): Promise<number | null>;
  /** Streams the range's rows after `after` (from its start when null) in batches of about `batchRows`. */
  read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncIterable<Batch>;
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
  describe(): Promise<TargetColumn[]>;
  prepare(runId: string): Promise<void>;
  write(chunk: Chunk): Promise<ChunkResult>;
  publish(runId: string): Promise<void>;
}

export type RunStatus = 'planning' | 'running' | 'finalizing' | 'succeeded' | 'failed';
export type RangeStatus = 'pending' | 'running' | 'done' | 'failed';

export interface RunRecord {
  runId: string;
  job: string;
  logicalTime: Date;
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

/** The run ledger: runs, ranges and their checkpoints, dirty records. */
export interface Ledger {
  /** Runs fn while holding the job's planning lock for one logical time. */
  withPlanLock<T>(job: string, logicalTime: Date, fn: () => Promise<T>): Promise<T>;
  findRun(job: string, logicalTime: Date): Promise<RunRecord | null>;
  createRun(job: string, logicalTime: Date, runId: string): Promise<void>;
  addRanges(runId: string, ranges: RangeSpec[]): Promise<void>;
  setRunStatus(runId: string, status: RunStatus, error?: string | null): Promise<void>;
  markPrepared(runId: string): Promise<void>;
  /** Records an attempt at a range by `owner`; null when the range is unknown. */
  startRange(runId: string, rangeId: number, owner: string): Promise<{ range: RangeRecord; run: RunRecord; attemptId: number } | null>;
  /** The end of an attempt, whatever its outcome: attempts are what peak concurrency is measured on. */
  endAttempt(attemptId: number): Promise<void>;
  /**
   * Reserves the job-wide throughput `cost` uses under `rates` (per second),
   * on a clock shared by all consumers of the run; returns how long to wait
   * before writing.
   */
  reserve(runId: string, cost: ThrottleCost, rates: ThrottleCost): Promise<number>;
  /** Marks a range done; true when it was the run's last. Idempotent. */
  finishRange(runId: string, rangeId: number): Promise<boolean>;
  /** Marks a range failed and the run failed, with the reason. */
  failRange(runId: string, rangeId: number, reason: string): Promise<void>;
  /** Moves a run from running to finalizing; true for the one caller that wins. */
  claimFinalize(runId: string): Promise<boolean>;
  getRun(runId: string): Promise<RunRecord | null>;
  listRuns(filter: { job?: string; limit: number }): Promise<RunRecord[]>;
  listRanges(runId: string): Promise<RangeRecord[]>;
  listDirty(runId: string): Promise<DirtyRecord[]>;
  /** When each attempt at a range of the run began and ended (null: it died, or is running). */
  listAttempts(runId: string): Promise<Array<{ rangeId: number; startedAt: Date; endedAt: Date | null }>>;
}

/** Rows and bytes; a null rate means no limit on that measure. */
export interface ThrottleCost {
  rows: number | null;
  bytes: number | null;
}

/** What the planner puts on the queue for each range. */
export interface RangeMessage {
  v: 1;
  runId: string;
  rangeId: number;
  /** The job with its variables resolved, so a consumer needs nothing else. */
  job: JobSpec;
}

export interface Queue {
  send(messages: RangeMessage[]): Promise<void>;
}

export interface RunEvent {
  type: 'Run Succeeded' | 'Run Failed';
  job: string;
  runId: string;
  logicalTime: string;
  error: string | null;
}

export interface Events {
  publish(event: RunEvent): Promise<void>;
}

/** Nobody listens (a local run): outcomes are read from the ledger instead. */
export const noEvents: Events = { publish: async () => {} };
