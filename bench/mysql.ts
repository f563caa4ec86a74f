/** The MySQL side: target tables, their checks, and the two yardsticks batchsync is compared with. */
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type mysql from 'mysql2/promise';
import { checksumSql, COLUMN_LIST, DIRTY_EVERY, expectedChecksum, rowFields, sameChecksum, targetDdl, toChecksum } from './rows.ts';

/** A fresh, empty target table, so no case inherits pages or rows from an earlier one. */
export async function recreateTable(conn: mysql.Connection, table: string): Promise<void> {
  await conn.query(`DROP TABLE IF EXISTS ${table}`);
  await conn.query(targetDdl(table));
}

/** Throws unless `table` holds exactly rows 1..`rows` (by count and by checksum). */
export async function verifyTable(conn: mysql.Connection, table: string, rows: number): Promise<void> {
  const [[found]] = (await conn.query(checksumSql(table, 'mysql'))) as unknown as [[{ n: number; num: string; amount: string; chars: string }]];
  const actual = toChecksum(found);
  const expected = expectedChecksum(rows);
  if (!sameChecksum(actual, expected)) {
    throw new Error(`${table} does not hold the expected rows: found ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

/**
 * One `LOAD DATA LOCAL INFILE` of the whole TSV through mysql2 (to fill a table before a case, untimed), on one
 * connection, streamed from disk. Returns its seconds.
 */
export async function loadData(conn: mysql.Connection, table: string, tsvPath: string): Promise<number> {
  const started = performance.now();
  const [result] = await conn.query<mysql.ResultSetHeader>({
    sql: `LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE ${table} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (${COLUMN_LIST})`,
    infileStreamFactory: () => createReadStream(tsvPath),
  });
  const seconds = (performance.now() - started) / 1000;
  // With LOCAL a bad value is a warning, not an error; a "limit" that silently mangled data would mean nothing.
  if (result.warningStatus > 0) throw new Error(`LOAD DATA into ${table} gave ${result.warningStatus} warnings`);
  return seconds;
}

/**
 * The naive baseline: one prepared INSERT per row in autocommit, so each row
 * is a round trip and a commit. Rows 1..`rows`; returns the seconds.
 */
export async function insertRowByRow(conn: mysql.Connection, table: string, rows: number): Promise<number> {
  const sql = `INSERT INTO ${table} (${COLUMN_LIST}) VALUES (?, ?, ?, ?, ?)`;
  const started = performance.now();
  for (let i = 1; i <= rows; i++) await conn.execute(sql, rowFields(i));
  return (performance.now() - started) / 1000;
}

/** The dirty case's target: the clean rows, and none of the dirty ones. */
export async function verifyDirtyLeftOut(conn: mysql.Connection, table: string, rows: number): Promise<void> {
  const [[found]] = (await conn.query(
    `SELECT COUNT(*) AS n, SUM(id % ${DIRTY_EVERY} = ${DIRTY_EVERY / 2}) AS dirty FROM ${table}`,
  )) as unknown as [[{ n: number; dirty: string | null }]];
  if (Number(found.n) !== rows || Number(found.dirty ?? 0) !== 0) {
    throw new Error(`${table} holds ${found.n} rows (${found.dirty} of them dirty), expected ${rows} clean rows`);
  }
}
