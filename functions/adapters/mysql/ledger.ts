import { createHash } from 'node:crypto';
import type { Connection as CallbackConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import { RetryableError } from '../../core/errors.ts';
import { ATTEMPT_STALE_MS, canonicalVars, isEnded, isUnfinished, type RangeStatus, rangeMovesTo, type RunStatus, varsHash } from '../../core/lifecycle.ts';
import type { Admission, DirtyRecord, Ledger, NewRun, RangeRecord, RangeSpec, RunChange, RunFilter, RunRecord, ThrottleCost } from '../../core/ports.ts';
import { reserveBoth } from '../../core/throttle.ts';
import { checkedQuery, mysqlError } from './connect.ts';
import { LEDGER_COLUMNS, ledgerDdl, ledgerMigrations, type LedgerTables, runSelect } from './sql.ts';

const PLAN_LOCK_SECONDS = 120;
const STALE_SECONDS = ATTEMPT_STALE_MS / 1000;

type Db = Record<string, string | number | null>;

const date = (v: string | number | null): Date => new Date(`${String(v).replace(' ', 'T')}Z`);

function toRun(r: Db): RunRecord {
  return {
    runId: String(r.run_id),
    job: String(r.job),
    logicalTime: date(r.logical_time),
    vars: JSON.parse(String(r.vars)) as Record<string, string>,
    attempt: Number(r.attempt),
    dataHash: String(r.data_hash),
    specHash: String(r.spec_hash),
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
    supersededBy: r.superseded_by === null ? null : String(r.superseded_by),
    eventPublished: r.event_published_at !== null,
    liveAttempts: Number(r.live_attempts),
    lastActivity: date(r.last_activity),
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

const list = (values: readonly string[]) => values.map(() => '?').join(', ');

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

  /**
   * Creates the ledger tables when missing and upgrades older ones (once per
   * process). A ledger already there costs one query, not a statement a table.
   */
  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      const doing = 'creating the ledger tables';
      const have = await checkedQuery<{ tableName: string; columnName: string }[]>(this.pool, this.server, doing, LEDGER_COLUMNS, [
        this.t.database,
        `${this.t.prefix.replaceAll('_', '\\_')}%`,
      ]);
      // Compared in lower case: a server with lower_case_table_names stores the names so.
      const present = new Set(have.map((c) => `${c.tableName}.${c.columnName}`.toLowerCase()));
      const tables = new Set(have.map((c) => c.tableName.toLowerCase()));
      const created = new Set<string>();
      for (const { table, sql } of ledgerDdl(this.t)) {
        if (tables.has(table.toLowerCase())) continue;
        await checkedQuery(this.pool, this.server, doing, sql);
        created.add(table.toLowerCase());
      }
      for (const m of ledgerMigrations(this.t)) {
        if (created.has(m.table.toLowerCase()) || present.has(`${m.table}.${m.column}`.toLowerCase())) continue;
        for (const sql of m.sql) await checkedQuery(this.pool, this.server, 'upgrading the ledger tables', sql);
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

  async createRun(run: NewRun): Promise<void> {
    await this.query(
      `INSERT INTO ${this.t.runs} (run_id, job, logical_time, vars, vars_hash, attempt, data_hash, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NOW(3), NOW(3))`,
      [run.runId, run.job, sqlTime(run.logicalTime), canonicalVars(run.vars), varsHash(run.vars), run.attempt, run.dataHash],
    );
  }

  async updateRun(runId: string, change: RunChange): Promise<boolean> {
    if (change.from.length === 0) return false;
    const sets = ['updated_at = NOW(3)'];
    const values: unknown[] = [];
    if (change.to !== undefined) {
      sets.push('status = ?', `finished_at = ${isEnded(change.to) ? 'NOW(3)' : 'NULL'}`);
      values.push(change.to);
    }
    if (change.error !== undefined) sets.push('error = ?'), values.push(change.error);
    if (change.prepared !== undefined) sets.push(`prepared_at = ${change.prepared ? 'NOW(3)' : 'NULL'}`);
    if (change.supersededBy !== undefined) sets.push('superseded_by = ?'), values.push(change.supersededBy);
    if (change.specHash !== undefined) sets.push('spec_hash = ?'), values.push(change.specHash);
    if (change.eventPublished) sets.push('event_published_at = NOW(3)');
    const where = [`run_id = ?`, `status IN (${list(change.from)})`];
    values.push(runId, ...change.from);
    if (change.allRangesDone) where.push('ranges_done >= ranges');
    if (change.idleMs !== undefined) where.push(`updated_at < NOW(3) - INTERVAL ${Math.ceil(change.idleMs) / 1000} SECOND`);
    const result = await this.query<{ affectedRows: number }>(`UPDATE ${this.t.runs} SET ${sets.join(', ')} WHERE ${where.join(' AND ')}`, values);
    return result.affectedRows === 1;
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    const rows = await this.query<Db[]>(`${runSelect(this.t, STALE_SECONDS)} WHERE u.run_id = ? GROUP BY u.run_id`, [runId]);
    return rows.length ? toRun(rows[0]) : null;
  }

  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.job !== undefined) where.push('u.job = ?'), values.push(filter.job);
    if (filter.logicalTime !== undefined) where.push('u.logical_time = ?'), values.push(sqlTime(filter.logicalTime));
    if (filter.unfinished) where.push("u.status IN ('pending', 'running', 'finalizing')");
    if (filter.unannounced) where.push("u.status IN ('succeeded', 'failed', 'cancelled') AND u.event_published_at IS NULL");
    const rows = await this.query<Db[]>(
      `${runSelect(this.t, STALE_SECONDS)} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        GROUP BY u.run_id ORDER BY u.created_at DESC, u.attempt DESC LIMIT ${Math.trunc(filter.limit)}`,
      values,
    );
    return rows.map(toRun);
  }

  async addRanges(runId: string, ranges: RangeSpec[]): Promise<void> {
    await this.transaction('recording the ranges', async (conn) => {
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
    });
  }

  async listRanges(runId: string): Promise<RangeRecord[]> {
    const rows = await this.query<Db[]>(`SELECT * FROM ${this.t.ranges} WHERE run_id = ? ORDER BY range_id`, [runId]);
    return rows.map(toRange);
  }

  async reopenRanges(runId: string, from: readonly RangeStatus[], restart: boolean): Promise<void> {
    await this.transaction('reopening the ranges', async (conn) => {
      const clear = restart
        ? ', checkpoint = NULL, rows_read = 0, rows_written = 0, dirty_records = 0, skipped = 0, bytes_written = 0, finished_at = NULL'
        : '';
      const [changed] = (await conn.query(
        `UPDATE ${this.t.ranges} SET status = 'pending', error = NULL, updated_at = NOW(3)${clear} WHERE run_id = ? AND status IN (${list(from)})`,
        [runId, ...from],
      )) as unknown as [{ affectedRows: number }];
      if (restart) {
        await conn.query(`DELETE FROM ${this.t.dirty} WHERE run_id = ?`, [runId]);
        await conn.query(`UPDATE ${this.t.runs} SET ranges_done = 0, dirty_records = 0, throttle_rows = NULL, throttle_bytes = NULL WHERE run_id = ?`, [runId]);
      } else if (changed.affectedRows > 0) {
        await conn.query(`UPDATE ${this.t.runs} SET ranges_done = (SELECT COUNT(*) FROM ${this.t.ranges} WHERE run_id = ? AND status = 'done') WHERE run_id = ?`, [
          runId,
          runId,
        ]);
      }
    });
  }

  async startAttempt(runId: string, rangeId: number, owner: string, maxConcurrency: number): Promise<Admission> {
    // Read committed: the count after the lock must see the attempt the admission before it committed.
    const admitted = await this.transaction('starting an attempt', async (conn): Promise<Admission | number | null> => {
      const [[run]] = (await conn.query(`SELECT job, status FROM ${this.t.runs} WHERE run_id = ?`, [runId])) as unknown as [Db[]];
      if (!run) return { status: 'unknown' };
      // Admissions of one job queue behind each other here, so two can never both take the last slot.
      await conn.query(`SELECT run_id FROM ${this.t.runs} WHERE job = ? FOR UPDATE`, [run.job]);
      const [[range]] = (await conn.query(`SELECT status FROM ${this.t.ranges} WHERE run_id = ? AND range_id = ?`, [runId, rangeId])) as unknown as [Db[]];
      if (!range) return { status: 'unknown' };
      await conn.query(`UPDATE ${this.t.attempts} SET ended_at = heartbeat_at WHERE ended_at IS NULL AND heartbeat_at < NOW(3) - INTERVAL ${STALE_SECONDS} SECOND`);
      // A done range or an ended run only needs a look: no slot is taken, no attempt recorded.
      if (range.status === 'done' || !isUnfinished(run.status as RunStatus)) return null;
      {
        const [[counts]] = (await conn.query(
          `SELECT COUNT(*) AS job_live, COALESCE(SUM(a.run_id = ? AND a.range_id = ?), 0) AS range_live
             FROM ${this.t.attempts} a JOIN ${this.t.runs} u ON u.run_id = a.run_id
            WHERE u.job = ? AND a.ended_at IS NULL`,
          [runId, rangeId, run.job],
        )) as unknown as [Db[]];
        if (Number(counts.range_live) > 0 || Number(counts.job_live) >= maxConcurrency) return { status: 'busy' };
      }
      await conn.query(
        `UPDATE ${this.t.ranges} SET attempts = attempts + 1, owner = ?, started_at = COALESCE(started_at, NOW(3)), updated_at = NOW(3),
                status = IF(status = 'pending', 'running', status)
          WHERE run_id = ? AND range_id = ?`,
        [owner, runId, rangeId],
      );
      const [attempt] = (await conn.query(
        `INSERT INTO ${this.t.attempts} (run_id, range_id, owner, started_at, heartbeat_at) VALUES (?, ?, ?, NOW(3), NOW(3))`,
        [runId, rangeId, owner],
      )) as unknown as [{ insertId: number }];
      return attempt.insertId;
    }, true);
    if (admitted !== null && typeof admitted !== 'number') return admitted;
    const [range] = await this.query<Db[]>(`SELECT * FROM ${this.t.ranges} WHERE run_id = ? AND range_id = ?`, [runId, rangeId]);
    const run = await this.getRun(runId);
    return range && run ? { status: 'started', attemptId: admitted, range: toRange(range), run } : { status: 'unknown' };
  }

  async heartbeat(attemptId: number): Promise<void> {
    await this.query(`UPDATE ${this.t.attempts} SET heartbeat_at = NOW(3) WHERE id = ? AND ended_at IS NULL`, [attemptId]);
  }

  async endAttempt(attemptId: number): Promise<void> {
    await this.query(`UPDATE ${this.t.attempts} SET ended_at = NOW(3) WHERE id = ? AND ended_at IS NULL`, [attemptId]);
  }

  async reserve(runId: string, cost: ThrottleCost, rates: ThrottleCost): Promise<number> {
    return this.transaction('throttling', async (conn) => {
      const [[row]] = (await conn.query(
        `SELECT throttle_rows AS rows_, throttle_bytes AS bytes_, UNIX_TIMESTAMP(NOW(6)) AS now_ FROM ${this.t.runs} WHERE run_id = ? FOR UPDATE`,
        [runId],
      )) as unknown as [Db[]];
      const clocks = { rows: row.rows_ === null ? null : Number(row.rows_), bytes: row.bytes_ === null ? null : Number(row.bytes_) };
      const { clocks: next, wait } = reserveBoth(clocks, Number(row.now_), cost, rates);
      await conn.query(`UPDATE ${this.t.runs} SET throttle_rows = ?, throttle_bytes = ? WHERE run_id = ?`, [next.rows, next.bytes, runId]);
      return wait * 1000;
    });
  }

  async finishRange(runId: string, rangeId: number): Promise<boolean> {
    const from = rangeMovesTo('done');
    return this.transaction('finishing a range', async (conn) => {
      const [changed] = (await conn.query(
        `UPDATE ${this.t.ranges} SET status = 'done', finished_at = NOW(3), updated_at = NOW(3) WHERE run_id = ? AND range_id = ? AND status IN (${list(from)})`,
        [runId, rangeId, ...from],
      )) as unknown as [{ affectedRows: number }];
      if (changed.affectedRows !== 1) return false;
      await conn.query(`UPDATE ${this.t.runs} SET ranges_done = ranges_done + 1, updated_at = NOW(3) WHERE run_id = ?`, [runId]);
      const [[run]] = (await conn.query(`SELECT ranges, ranges_done FROM ${this.t.runs} WHERE run_id = ?`, [runId])) as unknown as [Db[]];
      return Number(run.ranges_done) >= Number(run.ranges);
    });
  }

  async failRange(runId: string, rangeId: number, reason: string): Promise<void> {
    const from = rangeMovesTo('failed');
    await this.query(
      `UPDATE ${this.t.ranges} SET status = 'failed', error = ?, updated_at = NOW(3) WHERE run_id = ? AND range_id = ? AND status IN (${list(from)})`,
      [reason, runId, rangeId, ...from],
    );
  }

  async listDirty(runId: string): Promise<DirtyRecord[]> {
    const rows = await this.query<Db[]>(`SELECT range_id, column_name, reason, record FROM ${this.t.dirty} WHERE run_id = ? ORDER BY id`, [runId]);
    return rows.map((r) => ({ rangeId: Number(r.range_id), column: r.column_name === null ? null : String(r.column_name), reason: String(r.reason), record: String(r.record) }));
  }

  async listAttempts(runId: string): Promise<Array<{ rangeId: number; startedAt: Date; endedAt: Date | null }>> {
    // An attempt that stopped heartbeating ended at its last heartbeat, whether or not anyone has closed it yet.
    const rows = await this.query<Db[]>(
      `SELECT range_id, started_at, COALESCE(ended_at, IF(heartbeat_at < NOW(3) - INTERVAL ${STALE_SECONDS} SECOND, heartbeat_at, NULL)) AS ended_at
         FROM ${this.t.attempts} WHERE run_id = ? ORDER BY id`,
      [runId],
    );
    return rows.map((r) => ({ rangeId: Number(r.range_id), startedAt: date(r.started_at), endedAt: r.ended_at === null ? null : date(r.ended_at) }));
  }

  /**
   * fn in one transaction on one connection, committed, or rolled back on
   * any error. `readCommitted`: each statement sees what others committed
   * up to it (not a snapshot from the first read), as a count taken after
   * a lock must.
   */
  private async transaction<T>(doing: string, fn: (conn: mysql.PoolConnection) => Promise<T>, readCommitted = false): Promise<T> {
    const conn = await this.connection();
    try {
      if (readCommitted) await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await conn.beginTransaction();
      const result = await fn(conn);
      await conn.commit();
      return result;
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw mysqlError(error, this.server, doing);
    } finally {
      conn.release();
    }
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
