import { createHash } from 'node:crypto';
import type { Connection as CallbackConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import { RetryableError } from '../../core/errors.ts';
import type { DirtyRecord, Ledger, RangeRecord, RangeSpec, RunRecord, RunStatus, ThrottleCost } from '../../core/ports.ts';
import { reserveBoth } from '../../core/throttle.ts';
import { checkedQuery, mysqlError } from './connect.ts';
import { LEDGER_COLUMNS, ledgerDdl, ledgerMigrations, type LedgerTables, runSelect } from './sql.ts';

/** A finalizer that has not finished after this long is taken to have died. */
const FINALIZE_STALE_SECONDS = 900;
const PLAN_LOCK_SECONDS = 120;

type Db = Record<string, string | number | null>;

const date = (v: string | number | null): Date => new Date(`${String(v).replace(' ', 'T')}Z`);

function toRun(r: Db): RunRecord {
  return {
    runId: String(r.run_id),
    job: String(r.job),
    logicalTime: date(r.logical_time),
    status: r.status as RunStatus,
    error: r.error === null ? null : String(r.error),
    ranges: Number(r.ranges),
    rangesDone: Number(r.ranges_done),
    rowsRead: Number(r.rows_read),
    rowsWritten: Number(r.rows_written),
    dirtyRecords: Number(r.dirty_records),
    skipped: Number(r.skipped),
    bytesWritten: Number(r.bytes_written),
    prepared: r.prepared_at !== null,
    createdAt: date(r.created_at),
    finishedAt: r.finished_at === null ? null : date(r.finished_at),
  };
}

function toRange(r: Db): RangeRecord {
  return {
    runId: String(r.run_id),
    rangeId: Number(r.range_id),
    status: r.status as RangeRecord['status'],
    spec: JSON.parse(String(r.spec)) as RangeSpec,
    checkpoint: r.checkpoint === null ? null : String(r.checkpoint),
    rowsRead: Number(r.rows_read),
    rowsWritten: Number(r.rows_written),
    dirtyRecords: Number(r.dirty_records),
    skipped: Number(r.skipped),
    bytesWritten: Number(r.bytes_written),
    attempts: Number(r.attempts),
    owner: r.owner === null ? null : String(r.owner),
    error: r.error === null ? null : String(r.error),
  };
}

/** ISO instant → DATETIME(3) text in UTC (the session's zone). */
const sqlTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

/**
 * The run ledger in tables of the target server (prefix `batchsync_` by
 * default). The tables are created on first use, so opening a ledger writes
 * nothing.
 */
export class MysqlLedger implements Ledger {
  private ready: Promise<void> | null = null;

  constructor(
    private readonly pool: mysql.Pool,
    private readonly t: LedgerTables,
    private readonly server: string,
  ) {}

  /** Creates the ledger tables when missing (once per process). */
  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      const doing = 'creating the ledger tables';
      for (const ddl of ledgerDdl(this.t)) await checkedQuery(this.pool, this.server, doing, ddl);
      const have = await checkedQuery<{ tableName: string; columnName: string }[]>(this.pool, this.server, doing, LEDGER_COLUMNS, [
        this.t.database,
        `${this.t.prefix.replaceAll('_', '\\_')}%`,
      ]);
      const present = new Set(have.map((c) => `${c.tableName}.${c.columnName}`));
      for (const m of ledgerMigrations(this.t)) {
        if (!present.has(`${m.table}.${m.column}`)) await checkedQuery(this.pool, this.server, 'upgrading the ledger tables', m.sql);
      }
    })().catch((error) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  private async connection(): Promise<mysql.PoolConnection> {
    await this.ensure();
    return this.pool.getConnection().catch((error) => {
      throw mysqlError(error, this.server, 'connecting');
    });
  }

  async withPlanLock<T>(job: string, logicalTime: Date, fn: () => Promise<T>): Promise<T> {
    const name = `batchsync:${createHash('sha1').update(`${this.t.runs}|${job}|${logicalTime.toISOString()}`).digest('hex').slice(0, 40)}`;
    const conn = await this.connection();
    try {
      const [[{ got }]] = (await conn.query('SELECT GET_LOCK(?, ?) AS got', [name, PLAN_LOCK_SECONDS])) as unknown as [{ got: number }[]];
      if (Number(got) !== 1) throw new RetryableError(`another planner of job ${job} holds the lock for this logical time`);
      try {
        return await fn();
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [name]);
      }
    } finally {
      conn.release();
    }
  }

  async findRun(job: string, logicalTime: Date): Promise<RunRecord | null> {
    const rows = await this.query<Db[]>(`${runSelect(this.t)} WHERE u.job = ? AND u.logical_time = ? GROUP BY u.run_id`, [job, sqlTime(logicalTime)]);
    return rows.length ? toRun(rows[0]) : null;
  }

  async createRun(job: string, logicalTime: Date, runId: string): Promise<void> {
    await this.query(
      `INSERT INTO ${this.t.runs} (run_id, job, logical_time, status, created_at, updated_at) VALUES (?, ?, ?, 'planning', NOW(3), NOW(3))`,
      [runId, job, sqlTime(logicalTime)],
    );
  }

  async addRanges(runId: string, ranges: RangeSpec[]): Promise<void> {
    const conn = await this.connection();
    try {
      await conn.beginTransaction();
      for (let i = 0; i < ranges.length; i += 1000) {
        const part = ranges.slice(i, i + 1000);
        await conn.query(
          `INSERT IGNORE INTO ${this.t.ranges} (run_id, range_id, status, spec, updated_at) VALUES ${part.map(() => "(?, ?, 'pending', ?, NOW(3))").join(', ')}`,
          part.flatMap((r, j) => [runId, i + j, JSON.stringify(r)]),
        );
      }
      await conn.query(`UPDATE ${this.t.runs} SET ranges = (SELECT COUNT(*) FROM ${this.t.ranges} WHERE run_id = ?), updated_at = NOW(3) WHERE run_id = ?`, [
        runId,
        runId,
      ]);
      await conn.commit();
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw mysqlError(error, this.server, 'recording the ranges');
    } finally {
      conn.release();
    }
  }

  async setRunStatus(runId: string, status: RunStatus, error: string | null = null): Promise<void> {
    const final = status === 'succeeded' || status === 'failed';
    await this.query(
      `UPDATE ${this.t.runs} SET status = ?, error = ?, updated_at = NOW(3), finished_at = ${final ? 'NOW(3)' : 'NULL'} WHERE run_id = ?`,
      [status, error, runId],
    );
  }

  async markPrepared(runId: string): Promise<void> {
    await this.query(`UPDATE ${this.t.runs} SET prepared_at = NOW(3), updated_at = NOW(3) WHERE run_id = ?`, [runId]);
  }

  async startRange(runId: string, rangeId: number, owner: string): Promise<{ range: RangeRecord; run: RunRecord; attemptId: number } | null> {
    const updated = await this.query<{ affectedRows: number }>(
      `UPDATE ${this.t.ranges} SET attempts = attempts + 1, owner = ?, started_at = COALESCE(started_at, NOW(3)), updated_at = NOW(3),
              status = IF(status = 'pending', 'running', status)
        WHERE run_id = ? AND range_id = ?`,
      [owner, runId, rangeId],
    );
    if (updated.affectedRows === 0) return null;
    const attempt = await this.query<{ insertId: number }>(
      `INSERT INTO ${this.t.attempts} (run_id, range_id, owner, started_at) VALUES (?, ?, ?, NOW(3))`,
      [runId, rangeId, owner],
    );
    const [range] = await this.query<Db[]>(`SELECT * FROM ${this.t.ranges} WHERE run_id = ? AND range_id = ?`, [runId, rangeId]);
    const run = await this.getRun(runId);
    return range && run ? { range: toRange(range), run, attemptId: attempt.insertId } : null;
  }

  async endAttempt(attemptId: number): Promise<void> {
    await this.query(`UPDATE ${this.t.attempts} SET ended_at = NOW(3) WHERE id = ?`, [attemptId]);
  }

  async reserve(runId: string, cost: ThrottleCost, rates: ThrottleCost): Promise<number> {
    const conn = await this.connection();
    try {
      await conn.beginTransaction();
      const [[row]] = (await conn.query(
        `SELECT throttle_rows AS rows_, throttle_bytes AS bytes_, UNIX_TIMESTAMP(NOW(6)) AS now_ FROM ${this.t.runs} WHERE run_id = ? FOR UPDATE`,
        [runId],
      )) as unknown as [Db[]];
      const clocks = { rows: row.rows_ === null ? null : Number(row.rows_), bytes: row.bytes_ === null ? null : Number(row.bytes_) };
      const { clocks: next, wait } = reserveBoth(clocks, Number(row.now_), cost, rates);
      await conn.query(`UPDATE ${this.t.runs} SET throttle_rows = ?, throttle_bytes = ? WHERE run_id = ?`, [next.rows, next.bytes, runId]);
      await conn.commit();
      return wait * 1000;
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw mysqlError(error, this.server, 'throttling');
    } finally {
      conn.release();
    }
  }

  async finishRange(runId: string, rangeId: number): Promise<boolean> {
    const conn = await this.connection();
    try {
      await conn.beginTransaction();
      const [changed] = (await conn.query(
        `UPDATE ${this.t.ranges} SET status = 'done', finished_at = NOW(3), updated_at = NOW(3) WHERE run_id = ? AND range_id = ? AND status <> 'done'`,
        [runId, rangeId],
      )) as unknown as [{ affectedRows: number }];
      let last = false;
      if (changed.affectedRows === 1) {
        await conn.query(`UPDATE ${this.t.runs} SET ranges_done = ranges_done + 1, updated_at = NOW(3) WHERE run_id = ?`, [runId]);
        const [[run]] = (await conn.query(`SELECT ranges, ranges_done FROM ${this.t.runs} WHERE run_id = ?`, [runId])) as unknown as [Db[]];
        last = Number(run.ranges_done) >= Number(run.ranges);
      }
      await conn.commit();
      return last;
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw mysqlError(error, this.server, 'finishing a range');
    } finally {
      conn.release();
    }
  }

  async failRange(runId: string, rangeId: number, reason: string): Promise<void> {
    await this.query(`UPDATE ${this.t.ranges} SET status = 'failed', error = ?, updated_at = NOW(3) WHERE run_id = ? AND range_id = ?`, [reason, runId, rangeId]);
    await this.query(
      `UPDATE ${this.t.runs} SET status = 'failed', error = ?, updated_at = NOW(3), finished_at = NOW(3)
        WHERE run_id = ? AND status IN ('planning', 'running', 'finalizing')`,
      [`range ${rangeId}: ${reason}`, runId],
    );
  }

  async claimFinalize(runId: string): Promise<boolean> {
    const result = await this.query<{ affectedRows: number }>(
      `UPDATE ${this.t.runs} SET status = 'finalizing', updated_at = NOW(3)
        WHERE run_id = ? AND ranges_done >= ranges
          AND (status = 'running' OR (status = 'finalizing' AND updated_at < NOW(3) - INTERVAL ${FINALIZE_STALE_SECONDS} SECOND))`,
      [runId],
    );
    return result.affectedRows === 1;
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    const rows = await this.query<Db[]>(`${runSelect(this.t)} WHERE u.run_id = ? GROUP BY u.run_id`, [runId]);
    return rows.length ? toRun(rows[0]) : null;
  }

  async listRuns(filter: { job?: string; limit: number }): Promise<RunRecord[]> {
    const where = filter.job ? 'WHERE u.job = ?' : '';
    const rows = await this.query<Db[]>(
      `${runSelect(this.t)} ${where} GROUP BY u.run_id ORDER BY u.created_at DESC LIMIT ${Math.trunc(filter.limit)}`,
      filter.job ? [filter.job] : [],
    );
    return rows.map(toRun);
  }

  async listRanges(runId: string): Promise<RangeRecord[]> {
    const rows = await this.query<Db[]>(`SELECT * FROM ${this.t.ranges} WHERE run_id = ? ORDER BY range_id`, [runId]);
    return rows.map(toRange);
  }

  async listDirty(runId: string): Promise<DirtyRecord[]> {
    const rows = await this.query<Db[]>(`SELECT range_id, column_name, reason, record FROM ${this.t.dirty} WHERE run_id = ? ORDER BY id`, [runId]);
    return rows.map((r) => ({ rangeId: Number(r.range_id), column: r.column_name === null ? null : String(r.column_name), reason: String(r.reason), record: String(r.record) }));
  }

  async listAttempts(runId: string): Promise<Array<{ rangeId: number; startedAt: Date; endedAt: Date | null }>> {
    const rows = await this.query<Db[]>(`SELECT range_id, started_at, ended_at FROM ${this.t.attempts} WHERE run_id = ? ORDER BY id`, [runId]);
    return rows.map((r) => ({ rangeId: Number(r.range_id), startedAt: date(r.started_at), endedAt: r.ended_at === null ? null : date(r.ended_at) }));
  }

  /**
   * The dirty records of a run, streamed from the server a few at a time
   * (mysql2's query stream pauses the connection while the reader is
   * behind), so listing millions of them takes constant memory.
   */
  async *streamDirty(runId: string): AsyncIterable<DirtyRecord> {
    const conn = await this.connection();
    let finished = false;
    try {
      // The promise wrapper's `connection` is the callback connection underneath (mysql2's types say otherwise).
      const rows = (conn.connection as unknown as CallbackConnection)
        .query(`SELECT range_id, column_name, reason, record FROM ${this.t.dirty} WHERE run_id = ? ORDER BY id`, [runId])
        .stream({ highWaterMark: 64 });
      try {
        for await (const r of rows as AsyncIterable<Db>) {
          yield { rangeId: Number(r.range_id), column: r.column_name === null ? null : String(r.column_name), reason: String(r.reason), record: String(r.record) };
        }
      } catch (error) {
        throw mysqlError(error, this.server, 'reading the dirty records');
      }
      finished = true;
    } finally {
      // A reader that stopped early leaves rows unread on the connection: it cannot go back to the pool.
      if (finished) conn.release();
      else conn.destroy();
    }
  }

  /** Ids of runs starting with `prefix` (a run id typed short, as git takes commits), at most `limit`. */
  async runIdsStartingWith(prefix: string, limit: number): Promise<string[]> {
    const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.query<Db[]>(`SELECT run_id FROM ${this.t.runs} WHERE run_id LIKE ? ORDER BY run_id LIMIT ${Math.trunc(limit)}`, [like]);
    return rows.map((r) => String(r.run_id));
  }

  private async query<T>(sql: string, values: unknown[]): Promise<T> {
    await this.ensure();
    return checkedQuery<T>(this.pool, this.server, 'using the run ledger', sql, values);
  }
}
