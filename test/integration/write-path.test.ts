import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, mysqlConnection, mysqlDigest, runCli, startCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * The MySQL write path on default settings (LOAD DATA on): rows the database
 * rejects, for any row-level reason, are dirty records; the rest of their
 * chunk is written. Each test works in a database of its own.
 */

const DB = `bs_write_${randomBytes(4).toString('hex')}`;
const URL = `mysql://root@127.0.0.1:3306/${DB}`;
let my: mysql.Connection;
let dir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  await my.query(`CREATE DATABASE ${DB}`);
  await my.query(`USE ${DB}`);
  dir = await tempDir();
});

afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my.end();
});

function job(name: string, source: string, target: string, extra: Record<string, unknown> = {}, channel: Record<string, unknown> = {}) {
  return {
    name,
    source: { type: 'mysql', connection: { url: URL }, table: source },
    target: { type: 'mysql', connection: { url: URL }, table: target, ...extra },
    channel: { maxConcurrency: 2, ...channel },
  };
}

async function dirtyOf(runId: string, jobFile: string): Promise<{ reason: string; record: Record<string, unknown> }[]> {
  const result = await runCli(['dirty', runId, '--json', '--job', jobFile]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

const count = async (table: string) => Number((await my.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0][0].n);

describe('row-level rejections on the LOAD DATA path', () => {
  it('300,000 rows through a BEFORE INSERT trigger that SIGNALs on 6: 6 dirty, 299,994 written', async () => {
    await my.query('CREATE TABLE trg_src (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)');
    await my.query("INSERT INTO trg_src SELECT seq, CONCAT('value ', seq) FROM seq_1_to_300000");
    await my.query('CREATE TABLE trg_dst LIKE trg_src');
    const bad = [7, 50_001, 50_002, 123_456, 250_000, 299_999];
    await my.query(
      `CREATE TRIGGER trg_guard BEFORE INSERT ON trg_dst FOR EACH ROW
       BEGIN IF NEW.id IN (${bad.join(',')}) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'guard rejects this row'; END IF; END`,
    );
    const jobFile = await writeJob(dir, job('write_trigger', 'trg_src', 'trg_dst'), 'trigger.json');
    const result = await runCli(['run', jobFile, '--json']);
    const s = summary(result);
    expect(s, result.stderr).toMatchObject({ status: 'succeeded', rowsRead: 300_000, rowsWritten: 299_994, dirtyRecords: 6 });
    const dirty = await dirtyOf(s.runId as string, jobFile);
    expect(dirty.map((d) => d.reason)).toEqual(bad.map(() => 'rejected by the database: guard rejects this row'));
    expect(dirty.map((d) => Number(d.record.id)).sort((a, b) => a - b)).toEqual(bad);
    expect(await count('trg_dst')).toBe(299_994);
  });

  it('CHECK, foreign key, strict-mode and duplicate-key failures are dirty records; the rest is written', async () => {
    await my.query('CREATE TABLE mix_src (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, parent INT NULL, qty INT NOT NULL, label VARCHAR(20) CHARACTER SET utf8mb4 NOT NULL)');
    await my.query("INSERT INTO mix_src SELECT seq, seq, 1 + seq % 3, seq % 100, CONCAT('l', seq) FROM seq_1_to_20000");
    await my.query('UPDATE mix_src SET qty = -5 WHERE id = 333'); // CHECK
    await my.query('UPDATE mix_src SET parent = 99 WHERE id = 4444'); // foreign key
    await my.query('UPDATE mix_src SET k = 10 WHERE id = 16000'); // a unique key already used in the chunk by id 10
    await my.query('CREATE TABLE mix_parent (id INT NOT NULL PRIMARY KEY)');
    await my.query('INSERT INTO mix_parent VALUES (1), (2), (3)');
    await my.query(`CREATE TABLE mix_dst (id INT NOT NULL PRIMARY KEY, k INT NOT NULL UNIQUE, parent INT NULL, qty INT NOT NULL CHECK (qty >= 0),
      label VARCHAR(20) NOT NULL, FOREIGN KEY (parent) REFERENCES mix_parent (id)) ENGINE=InnoDB`);
    // A value the converter cannot see coming: the trigger makes it, strict mode refuses it.
    await my.query('CREATE TRIGGER mix_grow BEFORE INSERT ON mix_dst FOR EACH ROW BEGIN IF NEW.id = 5555 THEN SET NEW.qty = 2147483647 * 2; END IF; END');
    const jobFile = await writeJob(dir, job('write_mix', 'mix_src', 'mix_dst', {}, { maxConcurrency: 1 }), 'mix.json');
    const result = await runCli(['run', jobFile, '--json']);
    const s = summary(result);
    expect(s, result.stderr).toMatchObject({ status: 'succeeded', rowsRead: 20_000, rowsWritten: 19_996, dirtyRecords: 4 });
    const dirty = await dirtyOf(s.runId as string, jobFile);
    const byId = new Map(dirty.map((d) => [Number(d.record.id), d.reason]));
    expect([...byId.keys()].sort((a, b) => a - b)).toEqual([333, 4444, 5555, 16000]);
    expect(byId.get(333)).toMatch(/^rejected by the database: CONSTRAINT .*qty.* failed/);
    expect(byId.get(4444)).toMatch(/^rejected by the database: Cannot add or update a child row: a foreign key constraint fails/);
    expect(byId.get(5555)).toMatch(/^rejected by the database: Out of range value for column 'qty'/);
    expect(byId.get(16000)).toMatch(/^rejected by the database: Duplicate entry '10' for key 'k'/);
    expect(await count('mix_dst')).toBe(19_996);
  });
});

describe('dirty volume', () => {
  it('an insert job run twice into a full table: all counted, the cap stored, keys found in bulk, a warning', async () => {
    await my.query('CREATE TABLE full_src (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)');
    await my.query("INSERT INTO full_src SELECT seq, CONCAT('value ', seq) FROM seq_1_to_200000");
    await my.query('CREATE TABLE full_dst LIKE full_src');
    const jobFile = await writeJob(dir, job('write_full', 'full_src', 'full_dst'), 'full.json');
    const first = summary(await runCli(['run', jobFile, '--json', '--logical-time', '2026-01-01T00:00:00Z']));
    expect(first).toMatchObject({ status: 'succeeded', rowsWritten: 200_000, dirtyRecords: 0 });
    const second = await runCli(['run', jobFile, '--json', '--logical-time', '2026-01-02T00:00:00Z']);
    const s = summary(second);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 200_000, rowsWritten: 0, dirtyRecords: 200_000 });
    const [[stored]] = await my.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n, MIN(reason) AS reason FROM batchsync_dirty WHERE run_id = ?', [s.runId]);
    expect(Number(stored.n)).toBe(10_000);
    expect(stored.reason).toMatch(/^rejected by the database: Duplicate entry '\d+' for key 'PRIMARY'$/);
    expect(second.stderr).toMatch(/warning: 200,000 of 200,000 rows read were dirty.*already holds these keys/);
  });

  it('channel.dirtyRecordsStored bounds the records kept, not the count', async () => {
    await my.query('CREATE TABLE cap_src (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)');
    await my.query("INSERT INTO cap_src SELECT seq, CONCAT('value ', seq) FROM seq_1_to_3000");
    await my.query('CREATE TABLE cap_dst LIKE cap_src');
    await my.query('INSERT INTO cap_dst SELECT * FROM cap_src WHERE id <= 1000');
    const jobFile = await writeJob(dir, job('write_cap', 'cap_src', 'cap_dst', { batchRows: 100 }, { dirtyRecordsStored: 25 }), 'cap.json');
    const result = await runCli(['run', jobFile, '--json']);
    const s = summary(result);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 3000, rowsWritten: 2000, dirtyRecords: 1000 });
    expect(await dirtyOf(s.runId as string, jobFile)).toHaveLength(25);
    // A third of the rows were dirty: no warning.
    expect(result.stderr).not.toMatch(/warning/);
  });
});

/** Peak resident memory (VmHWM, bytes) of `pid` and each living child of it, by pid. */
function processPeaks(pid: number, peaks: Map<number, number>): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(entry) !== pid && Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== pid) continue;
      const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      peaks.set(Number(entry), Math.max(peaks.get(Number(entry)) ?? 0, kb * 1024));
    } catch {
      // gone meanwhile
    }
  }
}

describe('wide rows', () => {
  it('30,000 rows with 300 consecutive 1 MB texts load exactly at default settings; the command and each worker process peak under 300 MB', async () => {
    await my.query('CREATE TABLE wide_src (id INT NOT NULL PRIMARY KEY, body LONGTEXT NOT NULL)');
    await my.query("INSERT INTO wide_src SELECT seq, CONCAT('short ', seq) FROM seq_1_to_30000");
    // 1 MB each, different in each row (a repeated SHA-1 of the id).
    await my.query('UPDATE wide_src SET body = REPEAT(SHA1(id), 26215) WHERE id BETWEEN 12001 AND 12300');
    await my.query('CREATE TABLE wide_dst LIKE wide_src');
    const jobFile = await writeJob(dir, job('write_wide', 'wide_src', 'wide_dst'), 'wide.json');
    // Worker processes: they carry the heap caps that bound a consumer's memory (the command's own process has none).
    const child = startCli(['run', jobFile, '--json', '--workers', '2']);
    const result = finished(child);
    const peaks = new Map<number, number>();
    const watch = setInterval(() => processPeaks(child.pid as number, peaks), 100);
    const done = await result.finally(() => clearInterval(watch));
    const s = summary(done);
    expect(s, done.stderr).toMatchObject({ status: 'succeeded', rowsRead: 30_000, rowsWritten: 30_000, dirtyRecords: 0 });
    expect(done.stderr).not.toMatch(/heap|worker .* failed/i);
    const digest = (t: string) => mysqlDigest(my, `SELECT id, SHA1(body), LENGTH(body) FROM ${t}`);
    expect(await digest('wide_dst')).toBe(await digest('wide_src'));
    const peakList = [...peaks.values()];
    expect(peakList.length).toBeGreaterThan(0);
    process.stdout.write(`wide rows: peak RSS of the command and its workers ${peakList.map((b) => `${Math.round(b / 2 ** 20)} MB`).join(', ')}\n`);
    for (const peak of peakList) expect(peak).toBeLessThanOrEqual(300 * 2 ** 20);
  });

  it('a row larger than max_allowed_packet is a dirty record with that reason; the rest of its chunk is written', async () => {
    const { createMysqlPool } = await import('../../functions/adapters/mysql/connect.ts');
    const { parseDbUrl } = await import('../../functions/adapters/connections.ts');
    const { MysqlLedger } = await import('../../functions/adapters/mysql/ledger.ts');
    const { MysqlTarget } = await import('../../functions/adapters/mysql/target.ts');
    const { ledgerTables, tableName } = await import('../../functions/adapters/mysql/sql.ts');
    await my.query('CREATE TABLE huge_dst (id INT NOT NULL PRIMARY KEY, body LONGTEXT NOT NULL)');
    const [[{ packet }]] = await my.query<mysql.RowDataPacket[]>('SELECT @@max_allowed_packet AS packet');
    const pool = createMysqlPool(parseDbUrl(URL, 'mysql', DB), 2);
    try {
      const tables = ledgerTables({ prefix: 'batchsync_' }, DB);
      const ledger = new MysqlLedger(pool, tables, 'test');
      const runId = `huge-${Date.now()}`;
      await ledger.createRun({ runId, job: 'huge', logicalTime: new Date(), vars: {}, attempt: 1, dataHash: '' });
      await ledger.addRanges(runId, [{ description: 'all', bounds: null }]);
      const options = { table: tableName('huge_dst', DB), ledger: tables, writeMode: 'insert', loadMode: 'append', preSql: [], postSql: [], dirtyRecordLimit: null, dirtyRecordsStored: 10_000, loadData: true, server: 'test' } as const;
      const target = new MysqlTarget(pool, options);
      const columns = await target.describe();
      const rows = [['1', 'small'], ['2', 'x'.repeat(Number(packet) + 1000)], ['3', 'small too']];
      const result = await target.write({ runId, rangeId: 0, from: null, to: 'end', columns, rows, sourceRows: rows, sourceNames: ['id', 'body'], rowsRead: 3, dirty: [] });
      expect(result).toMatchObject({ written: 2, runFailed: null });
      expect(result.dirty.map((d) => d.reason)).toEqual([`the row is ${Number(packet) + 1000 + 3} bytes, more than the server's max_allowed_packet (${packet} bytes)`]);
      expect(await count('huge_dst')).toBe(2);
    } finally {
      await pool.end();
    }
  });
});
