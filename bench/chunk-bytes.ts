/**
 * `npx tsx bench/chunk-bytes.ts [MB]`: how fast the MySQL target writes
 * chunks of a given byte size (LOAD DATA path, one transaction each, with
 * the checkpoint), for wide rows (4 KB of text). The chunk byte bound
 * (DEFAULT_CHUNK_BYTES in core/consume.ts) is chosen where this levels off:
 * larger chunks only cost memory. Prints one line per size.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { parseDbUrl } from '../functions/adapters/connections.ts';
import { createMysqlPool } from '../functions/adapters/mysql/connect.ts';
import { MysqlLedger } from '../functions/adapters/mysql/ledger.ts';
import { ledgerTables, tableName } from '../functions/adapters/mysql/sql.ts';
import { MysqlTarget } from '../functions/adapters/mysql/target.ts';
import { MYSQL_URL } from './config.ts';

const TOTAL_MB = Number(process.argv[2] ?? 256);
const ROW_TEXT = 4096;
const SIZES_MB = [1, 2, 4, 8, 16, 32];

const db = `bs_chunkbench_${randomBytes(3).toString('hex')}`;
const admin = await mysql.createConnection({ uri: MYSQL_URL });
await admin.query(`CREATE DATABASE ${db}`);
const pool = createMysqlPool(parseDbUrl(MYSQL_URL.replace(/\/[^/]*$/, `/${db}`), 'mysql', db), 2);
try {
  await admin.query(`CREATE TABLE ${db}.wide (id INT NOT NULL PRIMARY KEY, body TEXT NOT NULL)`);
  const tables = ledgerTables({ prefix: 'batchsync_' }, db);
  const ledger = new MysqlLedger(pool, tables, 'bench');
  const target = new MysqlTarget(pool, {
    table: tableName('wide', db), ledger: tables, writeMode: 'insert', loadMode: 'append', preSql: [], postSql: [],
    dirtyRecordLimit: null, dirtyRecordsStored: 10_000, loadData: true, server: 'bench',
  });
  const columns = await target.describe();
  const body = 'x'.repeat(ROW_TEXT);
  for (const mb of SIZES_MB) {
    await admin.query(`TRUNCATE TABLE ${db}.wide`);
    const runId = `bench-${mb}-${Date.now()}`;
    await ledger.createRun({ runId, job: `bench-${mb}`, logicalTime: new Date(), vars: {}, attempt: 1, dataHash: "" });
    await ledger.addRanges(runId, [{ description: 'all', bounds: null }]);
    const perChunk = Math.floor((mb << 20) / (ROW_TEXT + 8));
    const chunks = Math.ceil((TOTAL_MB << 20) / (perChunk * (ROW_TEXT + 8)));
    let id = 0;
    let from: string | null = null;
    const start = performance.now();
    for (let c = 0; c < chunks; c++) {
      const rows = Array.from({ length: perChunk }, () => [String(++id), body]);
      const to = String(c);
      await target.write({ runId, rangeId: 0, from, to, columns, rows, sourceRows: rows, sourceNames: ['id', 'body'], rowsRead: rows.length, dirty: [] });
      from = to;
    }
    const seconds = (performance.now() - start) / 1000;
    const written = (id * (ROW_TEXT + 8)) / 2 ** 20;
    process.stdout.write(`chunk ${String(mb).padStart(2)} MB: ${chunks} chunks, ${written.toFixed(0)} MB in ${seconds.toFixed(1)} s = ${(written / seconds).toFixed(1)} MB/s\n`);
  }
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${db}`);
  await admin.end();
}
