/**
 * The run lifecycle in one place: the states of runs and ranges, the moves
 * allowed between them, and how long a silent worker or finalizer is
 * trusted. The ledger stores records and applies a move only from the
 * states this table allows (a conditional update); it holds no rules of
 * its own, and neither does the tests' in-memory fake.
 */
import { createHash } from 'node:crypto';
import type { JobSpec } from './job-spec.ts';

export const RUN_STATUSES = ['pending', 'running', 'finalizing', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RANGE_STATUSES = ['pending', 'running', 'done', 'failed'] as const;
export type RangeStatus = (typeof RANGE_STATUSES)[number];

/**
 * Where a run may go from each state. `finalizing → finalizing` is a stale
 * claim taken over; `finalizing → running` gives a claim back after a
 * passing error; `failed`/`cancelled → running` is `resume`.
 */
const RUN_MOVES: Record<RunStatus, readonly RunStatus[]> = {
  pending: ['running', 'failed', 'cancelled'],
  running: ['finalizing', 'failed', 'cancelled'],
  finalizing: ['finalizing', 'running', 'succeeded', 'failed'],
  succeeded: [],
  failed: ['running'],
  cancelled: ['running'],
};

const RANGE_MOVES: Record<RangeStatus, readonly RangeStatus[]> = {
  pending: ['running', 'failed'],
  running: ['running', 'done', 'failed', 'pending'],
  // Only a swap run's restart: its staging table, and so its rows, were dropped.
  done: ['pending'],
  failed: ['pending'],
};

/** True when a run may move from `from` to `to`. */
export function canMoveRun(from: RunStatus, to: RunStatus): boolean {
  return RUN_MOVES[from].includes(to);
}

/** The states a run may reach `to` from: the guard of the ledger's conditional update. */
export function runMovesTo(to: RunStatus): RunStatus[] {
  return RUN_STATUSES.filter((from) => canMoveRun(from, to));
}

/** The states a range may reach `to` from. */
export function rangeMovesTo(to: RangeStatus): RangeStatus[] {
  return RANGE_STATUSES.filter((from) => RANGE_MOVES[from].includes(to));
}

/** A run that has ended: nothing works on it until `resume`. */
export function isEnded(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/** A run some worker should still be moving forward. */
export function isUnfinished(status: RunStatus): boolean {
  return status === 'pending' || status === 'running' || status === 'finalizing';
}

/** A consumer's attempt touches the ledger this often while it works, waits or pauses. */
export const HEARTBEAT_MS = 3_000;
/** An attempt silent for this long died with its worker: it no longer counts against maxConcurrency. */
export const ATTEMPT_STALE_MS = 15_000;
/**
 * A finalize claim silent for this long died with its finalizer and may be
 * taken over; far below any queue's redelivery (30 s locally at least,
 * 960 s on AWS), so the redelivered message finds it free.
 */
export const FINALIZE_STALE_MS = 20_000;
/** An unfinished run with no live attempt and no progress for this long is `stalled`. */
export const STALLED_MS = 60_000;

/** What `status` shows: the stored state, or `stalled` for an unfinished run nobody is working. */
export function displayStatus(run: { status: RunStatus; liveAttempts: number; lastActivity: Date }, now: Date): RunStatus | 'stalled' {
  if (!isUnfinished(run.status) || run.liveAttempts > 0) return run.status;
  return now.getTime() - run.lastActivity.getTime() > STALLED_MS ? 'stalled' : run.status;
}

/** Variables in one canonical text (sorted names), so equal sets compare and hash equal. */
export function canonicalVars(vars: Record<string, string>): string {
  return canonicalJson(vars);
}

export function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** JSON with every object's keys sorted: the same value hashes the same however it was built. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The hash of a run's variables: with job and logical time, a run's identity. */
export function varsHash(vars: Record<string, string>): string {
  return sha1(canonicalVars(vars));
}

/**
 * What a run's rows depend on, hashed: the resolved source, the target
 * table and columns, the write and load modes. `resume` refuses a job file
 * whose hash differs (that is a new run); channel settings and pre/post-SQL
 * may change between attempts.
 */
export function dataHash(job: JobSpec): string {
  const { table, columns, writeMode, loadMode } = job.target;
  return sha1(canonicalJson({ source: job.source, table, columns: columns ?? null, writeMode, loadMode }));
}

/** The whole resolved job, hashed: a range message names the job version it was queued with. */
export function specHash(job: JobSpec): string {
  return sha1(canonicalJson(job));
}
