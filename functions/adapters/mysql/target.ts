import { Readable } from 'node:stream';
import type mysql from 'mysql2/promise';
import { writeBisecting } from '../../core/bisect.ts';
import { recordJson } from '../../core/convert.ts';
import { JobError, RangeBusyError, StatementError } from '../../core/errors.ts';
import { chunkRowBytes } from '../../core/consume.ts';
import { isEnded, type RunStatus, runMovesTo } from '../../core/lifecycle.ts';
import { MissingTableError } from '../../core/mapping.ts';
import { didYouMean } from '../../core/suggest.ts';
import { withParsedRows } from '../../core/text-rows.ts';
import { dirtyLimitReason, dirtyToStore } from '../../core/policy.ts';
import type { Chunk, ChunkResult, DirtyRecord, OutRow, Row, SourceSchema, Target, TargetColumn } from '../../core/ports.ts';
import { checkedQuery, driverMessage, isRowError, mysqlError } from './connect.ts';
import { createTablePlan } from './create-table.ts';
import {
  DESCRIBE_COLUMNS,
  encodeTsvRows,
  existingKeysSql,
  insertSql,
  isHexColumn,
  JSON_CHECKS,
  jsonCheckColumn,
  LIST_TABLES,
  loadDataSql,
  TABLE_NAMES,
  type LedgerTables,
  quoteId,
  swapTables,
  swapTag,
  type TableName,
  toTargetColumn,
  UNIQUE_KEYS,
  type WriteVerb,
} from './sql.ts';

export interface MysqlTargetOptions {
  table: TableName;
  ledger: LedgerTables;
  writeMode: 'insert' | 'ignore' | 'replace' | 'upsert';
  loadMode: 'append' | 'truncate' | 'swap';
  preSql: readonly string[];
  postSql: readonly string[];
  dirtyRecordLimit: number | null;
  /** Full dirty records kept per run (channel.dirtyRecordsStored); the rest are only counted. */
  dirtyRecordsStored: number;
  /** Use LOAD DATA LOCAL INFILE when the server allows it (MySQL 8 ships with it off). */
  loadData: boolean;
  /** The server, for messages. */
  server: string;
}

/** LOAD DATA LOCAL sends the file in pieces of this size (the server's max_allowed_packet is 4 MB or more). */
const PACKET_BYTES = 1 << 20;
/** At most this many bytes of SQL in one multi-row INSERT. */
const MAX_STATEMENT_BYTES = 4 << 20;
/** Room in a packet for the statement around one row's values. */
const PACKET_SLACK = 4096;
/** Keys looked up per query by the duplicate-key pre-check. */
const KEY_CHECK_ROWS = 5000;
/** Dirty records inserted into the ledger per statement. */
const DIRTY_ROWS_PER_INSERT = 500;

interface Written {
  written: number;
  bytes: number;
  skipped: number;
  rejected: DirtyRecord[];
}

/**
 * The MySQL target. Each chunk is one transaction: lock the range's ledger
 * row and check its checkpoint, write the rows, advance the checkpoint and
 * add the dirty records. LOAD DATA LOCAL is the fast path; when the server
 * has it off, or the load reports warnings (a duplicate key, say), the chunk
 * is written with multi-row INSERTs that bisect to the rejected rows.
 */
export class MysqlTarget implements Target {
  readonly takesText = true;
  private loadData: boolean | null;
  private maxPacket: number | null = null;
  private keys: Array<{ name: string; columns: string[] }> | null = null;

  constructor(
    private readonly pool: mysql.Pool,
    private readonly options: MysqlTargetOptions,
  ) {
    this.loadData = options.loadData ? null : false;
  }

  async describe(): Promise<TargetColumn[]> {
    const { table, server } = this.options;
    const rows = await checkedQuery<Parameters<typeof toTargetColumn>[0][]>(this.pool, server, 'reading the target schema', DESCRIBE_COLUMNS, [
      table.database,
      table.table,
    ]);
    if (rows.length === 0) {
      const names = await checkedQuery<{ name: string }[]>(this.pool, server, 'listing tables', TABLE_NAMES, [table.database]);
      throw new MissingTableError(`target.table: table ${table.database}.${table.table} does not exist on ${server}${didYouMean(table.table, names.map((n) => n.name))}`);
    }
    const columns = rows.map(toTargetColumn);
    if (columns.some((c) => c.dataType === 'longtext')) {
      // MySQL has no TABLE_NAME here (and a real JSON type): the query fails there and nothing changes.
      const checks = await checkedQuery<{ clause: string }[]>(this.pool, server, 'reading the target schema', JSON_CHECKS, [table.database, table.table]).catch(() => []);
      const json = new Set(checks.map((c) => jsonCheckColumn(c.clause)));
      for (const c of columns) if (c.dataType === 'longtext' && json.has(c.name)) c.dataType = 'json';
    }
    return columns;
  }

  async uniqueKeys(): Promise<string[][]> {
    return (await this.readKeys(this.pool)).map((k) => k.columns);
  }

  /** The table's primary and unique keys, each its name and columns in index order. */
  private async readKeys(db: mysql.Pool | mysql.PoolConnection): Promise<Array<{ name: string; columns: string[] }>> {
    const { table, server } = this.options;
    const rows = await checkedQuery<{ indexName: string; columnName: string }[]>(db, server, 'reading the target keys', UNIQUE_KEYS, [table.database, table.table]);
    const keys = new Map<string, string[]>();
    for (const r of rows) keys.set(r.indexName, [...(keys.get(r.indexName) ?? []), r.columnName]);
    return [...keys].map(([name, columns]) => ({ name, columns }));
  }

  createPlan(schema: SourceSchema): { ddl: string; columns: TargetColumn[] } {
    return createTablePlan(this.options.table, schema);
  }

  async create(ddl: string): Promise<void> {
    await this.run(ddl, 'target.create: creating the table');
  }

  /**
   * The run's start, before any range is written: pre-SQL in order, then
   * (truncate) the live table emptied once, or (swap) staging tables of
   * ended runs dropped and this run's staging table created like the live one.
   */
  async prepare(runId: string): Promise<void> {
    await this.statements(this.options.preSql, 'target.preSql');
    const { table, loadMode } = this.options;
    if (loadMode === 'truncate') await this.run(`TRUNCATE TABLE ${table.sql}`, 'emptying the table');
    if (loadMode === 'swap') {
      await this.dropStagingOfEndedRuns();
      const { staging } = swapTables(table, runId);
      await this.run(`CREATE TABLE IF NOT EXISTS ${staging.sql} LIKE ${table.sql}`, 'creating the staging table');
    }
  }

  /**
   * The run's end, after every range: (swap) one atomic RENAME puts the
   * staging table in the live table's place, then post-SQL in order. A
   * finalizer that died after the rename finds the staging table gone and
   * only cleans up.
   */
  async publish(runId: string): Promise<void> {
    const { table, loadMode } = this.options;
    if (loadMode === 'swap') {
      const { staging, old } = swapTables(table, runId);
      if (await this.tableExists(staging.table)) await this.run(`RENAME TABLE ${table.sql} TO ${old.sql}, ${staging.sql} TO ${table.sql}`, 'swapping the staging table in');
      await this.run(`DROP TABLE IF EXISTS ${old.sql}`, 'dropping the replaced table');
    }
    await this.statements(this.options.postSql, 'target.postSql');
  }

  /** Drops a failed or cancelled swap run's staging table: its rows can never be swapped in. */
  async discard(runId: string): Promise<void> {
    if (this.options.loadMode !== 'swap') return;
    await this.run(`DROP TABLE IF EXISTS ${swapTables(this.options.table, runId).staging.sql}`, 'dropping the staging table');
  }

  async write(chunk: Chunk): Promise<ChunkResult> {
    const { ledger, server } = this.options;
    const conn = await this.connection();
    try {
      await conn.beginTransaction();
      const [[range]] = (await conn.query(`SELECT status, checkpoint FROM ${ledger.ranges} WHERE run_id = ? AND range_id = ? FOR UPDATE`, [
        chunk.runId,
        chunk.rangeId,
      ])) as unknown as [{ status: string; checkpoint: string | null }[]];
      const [[run]] = (await conn.query(`SELECT status, error FROM ${ledger.runs} WHERE run_id = ?`, [chunk.runId])) as unknown as [
        { status: string; error: string | null }[],
      ];
      if (!range || !run) throw new JobError(`run ${chunk.runId} range ${chunk.rangeId} is not in the ledger`);
      if (isEnded(run.status as RunStatus)) {
        await conn.rollback();
        return { written: 0, bytes: 0, skipped: 0, dirty: [], runFailed: { reason: run.error ?? `the run ${run.status}`, byThisChunk: false } };
      }
      if (range.status === 'done' || range.checkpoint !== chunk.from) {
        throw new RangeBusyError(`range ${chunk.rangeId} of run ${chunk.runId} moved on (another delivery is writing it)`);
      }
      const { written, skipped, rejected, bytes } = await this.writeRows(conn, chunk);
      const dirty = rejected.length ? [...chunk.dirty, ...rejected] : chunk.dirty;
      await conn.query(
        `UPDATE ${ledger.ranges} SET checkpoint = ?, rows_read = rows_read + ?, rows_written = rows_written + ?,
                dirty_records = dirty_records + ?, skipped = skipped + ?, bytes_written = bytes_written + ?, updated_at = NOW(3)
          WHERE run_id = ? AND range_id = ?`,
        [chunk.to, chunk.rowsRead, written, dirty.length, skipped, bytes, chunk.runId, chunk.rangeId],
      );
      const reason = dirty.length ? await this.addDirty(conn, chunk.runId, dirty) : null;
      await conn.commit();
      return { written, bytes, skipped, dirty, runFailed: reason === null ? null : { reason, byThisChunk: true } };
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw mysqlError(error, server, `writing to ${this.writeTable(chunk.runId).table}`);
    } finally {
      conn.release();
    }
  }

  /** The table this run's rows go to: the live table, or in swap mode the run's staging table. */
  private writeTable(runId: string): TableName {
    return this.options.loadMode === 'swap' ? swapTables(this.options.table, runId).staging : this.options.table;
  }

  private async run(sql: string, doing: string): Promise<void> {
    await checkedQuery(this.pool, this.options.server, doing, sql);
  }

  /** Statements in order on one connection; a failure names the statement's position and the database's message. */
  private async statements(list: readonly string[], where: string): Promise<void> {
    if (list.length === 0) return;
    const conn = await this.connection();
    try {
      for (const [i, sql] of list.entries()) {
        try {
          await conn.query(sql);
        } catch (error) {
          const mapped = mysqlError(error, this.options.server, `${where}[${i}]`);
          throw mapped instanceof StatementError ? new StatementError(`${where}[${i}] failed: ${driverMessage(error)}`, { cause: error }) : mapped;
        }
      }
    } finally {
      conn.release();
    }
  }

  /** Tables of the target database whose names match a LIKE pattern. */
  private async tablesLike(pattern: string): Promise<string[]> {
    const rows = await checkedQuery<{ name: string }[]>(this.pool, this.options.server, 'listing tables', LIST_TABLES, [this.options.table.database, pattern]);
    return rows.map((r) => r.name);
  }

  private async tableExists(name: string): Promise<boolean> {
    return (await this.tablesLike(name.replace(/[\\_%]/g, (c) => `\\${c}`))).includes(name);
  }

  /** Staging (and half-swapped) tables of this live table whose runs have ended or were abandoned. */
  private async dropStagingOfEndedRuns(): Promise<void> {
    const { table, ledger } = this.options;
    const found = await this.tablesLike(swapTables(table, '').pattern);
    if (found.length === 0) return;
    const live = await checkedQuery<{ tag: string }[]>(
      this.pool,
      this.options.server,
      'reading the run ledger',
      `SELECT LEFT(REPLACE(run_id, '-', ''), 12) AS tag FROM ${ledger.runs} WHERE status IN ('pending', 'running', 'finalizing')`,
    );
    const unfinished = new Set(live.map((r) => r.tag));
    for (const name of found) {
      const tag = swapTag(name);
      if (tag && !unfinished.has(tag)) await this.run(`DROP TABLE IF EXISTS ${quoteId(table.database)}.${quoteId(name)}`, 'dropping a stale staging table');
    }
  }

  private async connection(): Promise<mysql.PoolConnection> {
    try {
      return await this.pool.getConnection();
    } catch (error) {
      throw mysqlError(error, this.options.server, 'connecting');
    }
  }

  /** Records dirty rows and applies the run's limit; returns why the run failed, if it did. */
  private async addDirty(conn: mysql.PoolConnection, runId: string, dirty: DirtyRecord[]): Promise<string | null> {
    const { ledger, dirtyRecordLimit, dirtyRecordsStored } = this.options;
    // The run row is locked by this update until commit: consumers count, and keep records, one after another.
    await conn.query(`UPDATE ${ledger.runs} SET dirty_records = dirty_records + ?, updated_at = NOW(3) WHERE run_id = ?`, [dirty.length, runId]);
    const [[{ total }]] = (await conn.query(`SELECT dirty_records AS total FROM ${ledger.runs} WHERE run_id = ?`, [runId])) as unknown as [
      { total: string }[],
    ];
    const kept = dirty.slice(0, dirtyToStore(Number(total) - dirty.length, dirty.length, dirtyRecordsStored));
    for (let at = 0; at < kept.length; at += DIRTY_ROWS_PER_INSERT) {
      const values = kept.slice(at, at + DIRTY_ROWS_PER_INSERT).map((d) => [runId, d.rangeId, d.column, d.reason, d.record]);
      await conn.query(`INSERT INTO ${ledger.dirty} (run_id, range_id, column_name, reason, record, created_at) VALUES ${values.map(() => '(?, ?, ?, ?, ?, NOW(3))').join(', ')}`, values.flat());
    }
    const reason = dirtyLimitReason(Number(total), dirtyRecordLimit);
    if (reason) {
      const from = runMovesTo('failed');
      await conn.query(
        `UPDATE ${ledger.runs} SET status = 'failed', error = ?, updated_at = NOW(3), finished_at = NOW(3) WHERE run_id = ? AND status IN (${from.map(() => '?').join(', ')})`,
        [reason, runId, ...from],
      );
    }
    return reason;
  }

  private async writeRows(conn: mysql.PoolConnection, given: Chunk): Promise<Written> {
    const mode = this.options.writeMode;
    const server = await this.serverSettings(conn);
    // Text goes to LOAD DATA as it came; rows too large for a packet, a rejected row or INSERTs need it as rows.
    const text = given.text;
    const textLoaded = text && mode !== 'upsert' && server.loadData && text.data.length <= server.maxPacket - PACKET_SLACK;
    if (textLoaded) {
      const loaded = await this.loadClean(conn, given, text.data, text.rows, text.skip, mode === 'replace' ? 'REPLACE' : 'IGNORE');
      if (loaded) return { ...loaded, bytes: text.bytes, rejected: [] };
    }
    const chunk = withParsedRows(given);
    if (chunk.rows.length === 0) return { written: 0, bytes: 0, skipped: 0, rejected: [] };
    const rejected: DirtyRecord[] = [];
    let live = chunk.rows.map((_, i) => i);
    const limit = server.maxPacket - PACKET_SLACK;
    const loading = mode !== 'upsert' && server.loadData;
    // Encoded once for LOAD DATA: when the whole chunk fits in a packet, no row can be too large, and its length is the bytes sent.
    const encoded = loading ? Buffer.from(encodeTsvRows(chunk.rows, chunk.columns), 'utf8') : null;
    let bytes = encoded?.length ?? 0;
    if (!encoded || encoded.length > limit) {
      // A row larger than one packet can never be sent: it is dirty before anything is tried.
      bytes = 0;
      live = live.filter((i) => {
        const size = chunkRowBytes(chunk.rows[i]);
        bytes += size;
        if (size <= limit) return true;
        rejected.push(this.rejectedRecord(chunk, i, `the row is ${size} bytes, more than the server's max_allowed_packet (${server.maxPacket} bytes)`, false));
        return false;
      });
    }
    if (live.length === 0) return { written: 0, bytes, skipped: 0, rejected };
    if (loading) {
      const verb = mode === 'replace' ? 'REPLACE' : 'IGNORE';
      // The same rows as the text just loaded would not go clean either.
      const first = textLoaded ? null : await this.loadRowsClean(conn, chunk, live, verb, live.length === chunk.rows.length ? encoded : null);
      if (first) return { ...first, bytes, rejected };
      // Insert mode: keys the table already holds are found with one query, and the rest loads again, whole.
      if (mode === 'insert' && this.loadData !== false) {
        const existing = await this.existingKeys(conn, chunk, live);
        if (existing.size > 0) {
          for (const [i, reason] of existing) rejected.push(this.rejectedRecord(chunk, i, reason));
          live = live.filter((i) => !existing.has(i));
          if (live.length === 0) return { written: 0, bytes, skipped: 0, rejected };
          const second = await this.loadRowsClean(conn, chunk, live, verb);
          if (second) return { ...second, bytes, rejected };
        }
      }
    }
    const verb: WriteVerb = mode === 'ignore' ? 'INSERT IGNORE' : mode === 'replace' ? 'REPLACE' : 'INSERT';
    const inserted = await this.insertBisecting(conn, chunk, live, verb, mode === 'upsert');
    return { written: inserted.written, skipped: inserted.skipped, rejected: [...rejected, ...inserted.rejected], bytes };
  }

  /**
   * LOAD DATA of the rows at `indexes` inside a savepoint; the counts when it
   * went clean, else null with the savepoint rolled back (a warning, a
   * skipped row, or a row-level error such as a trigger's SIGNAL).
   * `encoded`: those rows already encoded.
   */
  private async loadRowsClean(
    conn: mysql.PoolConnection,
    chunk: Chunk,
    indexes: readonly number[],
    verb: 'IGNORE' | 'REPLACE',
    encoded: Buffer | null = null,
  ): Promise<{ written: number; skipped: number } | null> {
    const data = encoded ?? Buffer.from(encodeTsvRows(indexes.map((i) => chunk.rows[i]), chunk.columns), 'utf8');
    return this.loadClean(conn, chunk, data, indexes.length, 0, verb);
  }

  /** loadRowsClean of `count` rows as escaped text (each line the chunk's columns, then `skip` fields not written). */
  private async loadClean(conn: mysql.PoolConnection, chunk: Chunk, data: Buffer, count: number, skip: number, verb: 'IGNORE' | 'REPLACE'): Promise<{ written: number; skipped: number } | null> {
    const mode = this.options.writeMode;
    await conn.query('SAVEPOINT batchsync_load');
    const loaded = await this.load(conn, loadDataSql(this.writeTable(chunk.runId).sql, chunk.columns, verb, skip), data);
    if (loaded) {
      const skipped = count - loaded.affected;
      // A clean load: every row in (insert), duplicates only skipped (ignore), nothing else to report (replace).
      if (mode === 'insert' && loaded.warnings === 0 && skipped === 0) return { written: count, skipped: 0 };
      if (mode === 'ignore' && loaded.warnings === skipped) return { written: count - skipped, skipped };
      if (mode === 'replace' && loaded.warnings === 0) return { written: count, skipped: 0 };
    }
    await conn.query('ROLLBACK TO SAVEPOINT batchsync_load');
    return null;
  }

  /** The table's unique keys, read once (the table exists by the first chunk). */
  private async writeKeys(conn: mysql.PoolConnection): Promise<Array<{ name: string; columns: string[] }>> {
    this.keys ??= await this.readKeys(conn);
    return this.keys;
  }

  /**
   * Rows whose unique key the table already holds, with the database's
   * reason: one SELECT per key and a few thousand rows, instead of a
   * bisection per row. A key that matches only in the database's collation
   * (other case, trailing spaces) is left for the bisection to find.
   */
  private async existingKeys(conn: mysql.PoolConnection, chunk: Chunk, indexes: readonly number[]): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    const table = this.writeTable(chunk.runId);
    for (const key of await this.writeKeys(conn)) {
      const positions = key.columns.map((name) => chunk.columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase()));
      if (positions.some((p) => p < 0)) continue;
      const columns = positions.map((p) => chunk.columns[p]);
      const text = (values: readonly (string | null)[]) => JSON.stringify(values.map((v, i) => (v !== null && isHexColumn(columns[i]) ? v.toUpperCase() : v)));
      // NULLs never clash in a unique key.
      const candidates = indexes.filter((i) => !found.has(i) && positions.every((p) => chunk.rows[i][p] !== null));
      for (let at = 0; at < candidates.length; at += KEY_CHECK_ROWS) {
        const group = candidates.slice(at, at + KEY_CHECK_ROWS);
        const keys = group.map((i) => positions.map((p) => chunk.rows[i][p]));
        const [rows] = (await conn.query({ sql: existingKeysSql(table.sql, columns, keys), rowsAsArray: true })) as unknown as [unknown[][]];
        if (rows.length === 0) continue;
        const held = new Set(rows.map((r) => text(r.map((v) => (v === null ? null : String(v))))));
        for (const [g, i] of group.entries()) {
          if (held.has(text(keys[g]))) found.set(i, `Duplicate entry '${keys[g].join('-')}' for key '${key.name}'`);
        }
      }
    }
    return found;
  }

  /** What the server allows, read once: LOAD DATA LOCAL (MySQL 8 ships with it off) and the packet size. */
  private async serverSettings(conn: mysql.PoolConnection): Promise<{ loadData: boolean; maxPacket: number }> {
    if (this.maxPacket === null) {
      const [[row]] = (await conn.query('SELECT @@GLOBAL.local_infile AS on_, @@max_allowed_packet AS packet')) as unknown as [{ on_: number | string; packet: number | string }[]];
      this.loadData ??= Number(row.on_) === 1;
      this.maxPacket = Number(row.packet);
    }
    return { loadData: this.loadData === true, maxPacket: this.maxPacket };
  }

  /** LOAD DATA LOCAL of the rows; null when the server refuses LOCAL (then never tried again) or rejects a row. */
  private async load(conn: mysql.PoolConnection, sql: string, data: Buffer): Promise<{ affected: number; warnings: number } | null> {
    try {
      const [result] = (await conn.query({
        sql,
        infileStreamFactory: () => Readable.from(packets(data)),
      })) as unknown as [{ affectedRows: number; warningStatus: number }];
      // REPLACE counts a replaced row twice (delete + insert); only its warnings matter.
      return { affected: result.affectedRows, warnings: result.warningStatus };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ER_NOT_ALLOWED_COMMAND' || code === 'ER_CLIENT_LOCAL_FILES_DISABLED' || code === 'ER_LOAD_INFILE_CAPABILITY_DISABLED') {
        this.loadData = false;
        return null;
      }
      // IGNORE makes most row errors warnings, not a trigger's SIGNAL: the INSERTs find the row.
      if (isRowError(error)) return null;
      throw error;
    }
  }

  /**
   * Multi-row INSERTs (bounded in bytes); a statement the database rejects
   * for a row's sake is bisected to that row, which becomes a dirty record.
   */
  private async insertBisecting(conn: mysql.PoolConnection, chunk: Chunk, indexes: number[], verb: WriteVerb, upsert: boolean): Promise<Omit<Written, 'bytes'>> {
    const table = this.writeTable(chunk.runId);
    let affected = 0;
    const attempt = async (group: readonly number[]): Promise<string | null> => {
      const sql = insertSql(table.sql, chunk.columns, group.map((i) => chunk.rows[i]), verb, upsert);
      try {
        const [result] = (await conn.query(sql)) as unknown as [{ affectedRows: number }];
        affected += result.affectedRows;
        return null;
      } catch (error) {
        if (isRowError(error)) return driverMessage(error);
        throw error;
      }
    };
    const rejected: DirtyRecord[] = [];
    for (const group of statementGroups(chunk.rows, indexes)) {
      for (const { item, reason } of await writeBisecting(group, attempt)) {
        rejected.push(this.rejectedRecord(chunk, item, reason));
      }
    }
    const good = indexes.length - rejected.length;
    // INSERT IGNORE skips silently: what it did not insert is counted as skipped. REPLACE and upsert count a row twice when they replace it.
    const written = verb === 'INSERT IGNORE' ? affected : good;
    return { written, skipped: good - written, rejected };
  }

  private rejectedRecord(chunk: Chunk, index: number, reason: string, byDatabase = true): DirtyRecord {
    const names = chunk.sourceNames;
    const source: Row = chunk.sourceRows[index];
    return { rangeId: chunk.rangeId, column: null, reason: byDatabase ? `rejected by the database: ${reason}` : reason, record: recordJson(names, source) };
  }
}

/** Each piece of the stream goes out as one packet: keep them well under any max_allowed_packet. */
function* packets(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += PACKET_BYTES) yield data.subarray(i, i + PACKET_BYTES);
}

/** Splits row indexes into groups whose INSERT stays under MAX_STATEMENT_BYTES. */
function statementGroups(rows: readonly OutRow[], indexes: number[]): number[][] {
  const groups: number[][] = [];
  let group: number[] = [];
  let bytes = 0;
  for (const i of indexes) {
    let size = 8;
    for (const v of rows[i]) size += v === null ? 5 : v.length * 2 + 3;
    if (group.length && bytes + size > MAX_STATEMENT_BYTES) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(i);
    bytes += size;
  }
  if (group.length) groups.push(group);
  return groups;
}
