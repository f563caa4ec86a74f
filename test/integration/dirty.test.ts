import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, mysqlConnection, runCli, summary, tempDir, writeJob } from '../helpers.ts';

let my: mysql.Connection;
let dir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  await my.query("SET time_zone = '+00:00'");
  dir = await tempDir();
});

afterAll(async () => {
  await my.end();
});

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

async function csvFile(path: string, header: string[], rows: string[][]): Promise<void> {
  await writeFile(path, [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
}

function runJob(name: string, extra: Record<string, unknown> = {}, channel: Record<string, unknown> = {}) {
  return {
    name,
    timezone: 'Asia/Shanghai',
    source: { type: 'files', url: `file://${join(dir, name)}/`, format: 'csv' },
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table: name, ledger: { prefix: 'it_dirty_' }, ...extra },
    channel: { maxConcurrency: 2, ...channel },
  };
}

async function dirtyOf(runId: string, jobFile: string): Promise<{ rangeId: number; column: string | null; reason: string; record: Record<string, unknown> }[]> {
  const result = await runCli(['dirty', runId, '--json', '--job', jobFile]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

describe('dirty records: every bad value found, explained and counted; the good rows around it written', () => {
  it('a corpus of bad values, one rule each', async () => {
    const name = 'it_dirty_types';
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (
      id INT NOT NULL PRIMARY KEY,
      i_tiny TINYINT, i_utiny TINYINT UNSIGNED, i_int INT, i_big BIGINT, i_ubig BIGINT UNSIGNED,
      d_dec DECIMAL(10,3), f_float FLOAT, f_double DOUBLE,
      s_char CHAR(3), s_var VARCHAR(5), s_text TINYTEXT, s_mb3 VARCHAR(10) CHARACTER SET utf8mb3,
      b_bin VARBINARY(4), t_date DATE, t_dt DATETIME, t_ts TIMESTAMP NULL,
      flag BOOLEAN, e ENUM('red','green'), st SET('a','b','c'), j JSON, nn INT NOT NULL
    ) DEFAULT CHARSET=utf8mb4`);
    const header = ['id', 'i_tiny', 'i_utiny', 'i_int', 'i_big', 'i_ubig', 'd_dec', 'f_float', 'f_double', 's_char', 's_var', 's_text', 's_mb3', 'b_bin', 't_date', 't_dt', 't_ts', 'flag', 'e', 'st', 'j', 'nn'];
    const good: Record<string, string> = {
      i_tiny: '1', i_utiny: '200', i_int: '123456', i_big: '9007199254740993', i_ubig: '18446744073709551615',
      d_dec: '12.3456', f_float: '1.5', f_double: '2.25e100', s_char: 'abc', s_var: '大学本科🎓', s_text: 'x', s_mb3: 'plain',
      b_bin: 'ab', t_date: '2024-02-29', t_dt: '2024-01-01T10:00:00+00:00', t_ts: '2024-01-01 08:00:00', flag: 'true',
      e: 'GREEN', st: 'a,c', j: '{"k":[1,2]}', nn: '5',
    };
    const bad: [string, string, RegExp][] = [
      ['i_tiny', '128', /^i_tiny: '128' is out of range for tinyint\(4\) \(-128 to 127\)$/],
      ['i_utiny', '-1', /^i_utiny: '-1' is out of range for tinyint\(3\) unsigned \(0 to 255\)$/],
      ['i_int', '12a', /^i_int: '12a' is not an integer$/],
      ['i_big', '9223372036854775808', /^i_big: '9223372036854775808' is out of range for bigint\(20\)/],
      ['d_dec', '12345678.1', /^d_dec: '12345678.1' does not fit decimal\(10,3\)$/],
      ['f_float', '1e39', /^f_float: '1e39' is out of range for float$/],
      ['s_char', 'abcd', /^s_char: 'abcd' is 4 characters, column holds 3$/],
      ['s_var', '大学本科🎓!', /^s_var: '大学本科🎓!' is 6 characters, column holds 5$/],
      ['s_text', 'é'.repeat(128), /^s_text: 'é+…' is 256 bytes, column holds 255$/],
      ['s_mb3', 'emoji 🎓', /^s_mb3: 'emoji 🎓' has a 4-byte character \(such as an emoji\) that a utf8mb3 column cannot hold$/],
      ['b_bin', 'abcde', /^b_bin: 'abcde' is 5 bytes, column holds 4$/],
      ['t_date', '2023-02-29', /^t_date: '2023-02-29' is not a date \(YYYY-MM-DD\)$/],
      ['t_dt', 'yesterday', /^t_dt: 'yesterday' is not a date and time/],
      ['t_ts', '2038-06-01 00:00:00', /^t_ts: '2038-06-01 00:00:00' is outside the TIMESTAMP range/],
      ['flag', 'maybe', /^flag: 'maybe' is not a boolean$/],
      ['e', 'blue', /^e: 'blue' is not one of 'red', 'green'$/],
      ['st', 'a,d', /^st: 'a,d' has 'd', not one of 'a', 'b', 'c'$/],
      ['j', '{bad', /^j: '\{bad' is not valid JSON$/],
      ['nn', '', /^nn: null is NULL, column is NOT NULL$/],
    ];
    const rows: string[][] = [];
    let id = 0;
    const row = (override: Record<string, string> = {}) => [String(++id), ...header.slice(1).map((h) => override[h] ?? good[h])];
    rows.push(row());
    for (const [column, value] of bad) rows.push(row({ [column]: value }), row());
    rows.push(row({ i_int: '' })); // empty → NULL in a nullable integer column: good
    rows.push(['999', 'too', 'few']); // wrong field count
    await mkdir(join(dir, name));
    await csvFile(join(dir, name, 'data.csv'), header, rows);

    const jobFile = await writeJob(dir, runJob(name), `${name}.json`);
    const result = await runCli(['run', jobFile, '--json']);
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    expect(s).toMatchObject({ rowsRead: rows.length, dirtyRecords: bad.length + 1, rowsWritten: rows.length - bad.length - 1 });

    const dirty = await dirtyOf(s.runId as string, jobFile);
    expect(dirty).toHaveLength(bad.length + 1);
    for (const [i, [column, value, reason]] of bad.entries()) {
      const d = dirty.find((x) => x.column === column);
      expect(d, column).toBeDefined();
      expect(d?.reason).toMatch(reason);
      expect(d?.record).toMatchObject({ id: String(2 + 2 * i), [column]: value === '' ? null : value });
    }
    expect(dirty.find((d) => d.column === null)?.reason).toMatch(/^data\.csv line \d+: record has 3 fields, expected 22$/);

    const [written] = await my.query<mysql.RowDataPacket[]>(`SELECT id, i_int, d_dec, s_var, HEX(b_bin) AS b, t_dt, t_ts, flag, e, st FROM ${name} ORDER BY id`);
    expect(written.map((r) => Number(r.id))).toEqual(rows.map((r) => Number(r[0])).filter((n, i) => i === 0 || (i <= 2 * bad.length && i % 2 === 0) || i === rows.length - 2));
    expect(written[0]).toMatchObject({ d_dec: '12.346', s_var: '大学本科🎓', b: '6162', t_dt: '2024-01-01 18:00:00', t_ts: '2024-01-01 00:00:00', flag: '1', e: 'green', st: 'a,c' });
    expect(written.at(-1)?.i_int).toBeNull();
  });
});

describe('rows the database rejects', () => {
  it('duplicate keys inside a batch and against existing rows are dirty records; the rest of the batch is written', async () => {
    const name = 'it_dirty_dup';
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (id INT NOT NULL PRIMARY KEY, v VARCHAR(40))`);
    await my.query(`INSERT INTO ${name} VALUES (3, 'existing'), (4, 'existing')`);
    const rows = Array.from({ length: 3000 }, (_, i) => [String(i + 5), `v${i}`]);
    rows.splice(1234, 0, ['3', 'clash with existing']);
    rows.splice(2345, 0, ['700', 'clash inside the batch']);
    await mkdir(join(dir, name));
    await csvFile(join(dir, name, 'data.csv'), ['id', 'v'], rows);
    const jobFile = await writeJob(dir, runJob(name), `${name}.json`);
    const s = summary(await runCli(['run', jobFile, '--json']));
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 3002, rowsWritten: 3000, dirtyRecords: 2 });
    const dirty = await dirtyOf(s.runId as string, jobFile);
    expect(dirty.map((d) => d.reason).sort()).toEqual([
      "rejected by the database: Duplicate entry '3' for key 'PRIMARY'",
      "rejected by the database: Duplicate entry '700' for key 'PRIMARY'",
    ]);
    expect(dirty.map((d) => d.record.v).sort()).toEqual(['clash inside the batch', 'clash with existing']);
    const [[{ n }]] = await my.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${name}`);
    expect(Number(n)).toBe(3002);
  });

  it('a batch with one rejected row costs a logarithmic number of statements', async () => {
    const { createMysqlPool } = await import('../../functions/adapters/mysql/connect.ts');
    const { parseDbUrl } = await import('../../functions/adapters/connections.ts');
    const { MysqlLedger } = await import('../../functions/adapters/mysql/ledger.ts');
    const { MysqlTarget } = await import('../../functions/adapters/mysql/target.ts');
    const { ledgerTables, tableName } = await import('../../functions/adapters/mysql/sql.ts');
    const name = 'it_dirty_count';
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (id INT NOT NULL PRIMARY KEY, v VARCHAR(40))`);
    const pool = createMysqlPool(parseDbUrl(MYSQL_URL, 'mysql', 'test'), 2);
    const statements: string[] = [];
    const getConnection = pool.getConnection.bind(pool);
    pool.getConnection = async () => {
      const conn = await getConnection();
      const query = conn.query.bind(conn) as (...args: unknown[]) => unknown;
      (conn as { query: unknown }).query = (sql: string | { sql: string }, ...rest: unknown[]) => {
        statements.push(typeof sql === 'string' ? sql : sql.sql);
        return query(sql, ...rest);
      };
      return conn;
    };
    try {
      const tables = ledgerTables({ prefix: 'it_dirty_' }, 'test');
      const ledger = new MysqlLedger(pool, tables, 'test');
      const runId = `count-${Date.now()}`;
      await ledger.createRun({ runId, job: name, logicalTime: new Date(), vars: {}, attempt: 1, dataHash: '' });
      await ledger.addRanges(runId, [{ description: 'all', bounds: null }]);
      const target = new MysqlTarget(pool, { table: tableName(name, 'test'), ledger: tables, writeMode: 'insert', loadMode: 'append', preSql: [], postSql: [], dirtyRecordLimit: null, dirtyRecordsStored: 10_000, loadData: true, server: 'test' });
      const columns = await target.describe();
      const rows = Array.from({ length: 1024 }, (_, i) => [String(i + 1), `v${i}`]);
      rows[517] = ['1', 'duplicate of the first row'];
      const result = await target.write({
        runId, rangeId: 0, from: null, to: 'end', columns, rows, sourceRows: rows, sourceNames: ['id', 'v'], rowsRead: rows.length, dirty: [],
      });
      expect(result).toMatchObject({ written: 1023, skipped: 0, runFailed: null });
      expect(result.dirty.map((d) => d.reason)).toEqual(["rejected by the database: Duplicate entry '1' for key 'PRIMARY'"]);
      const inserts = statements.filter((sql) => sql.startsWith('INSERT INTO `test`.`it_dirty_count`'));
      // One statement for the whole batch, then two per halving down to the bad row: 1 + 2·log2(1024).
      expect(inserts).toHaveLength(21);
      expect(statements.filter((sql) => sql.startsWith('LOAD DATA'))).toHaveLength(1);
    } finally {
      await pool.end();
    }
  });
});

describe('channel.dirtyRecordLimit, across all consumers', () => {
  const name = 'it_dirty_limit';
  const BAD = 6;
  beforeAll(async () => {
    await mkdir(join(dir, name));
    let id = 0;
    for (let f = 0; f < 4; f++) {
      const rows = Array.from({ length: 500 }, () => [String(++id), String(id)]);
      // Bad values spread over the files, so several consumers find them.
      for (const at of f < 2 ? [100, 400, 450] : []) rows[at][1] = `bad ${at}`;
      await csvFile(join(dir, name, `part-${f}.csv`), ['id', 'num'], rows);
    }
  });

  async function runWithLimit(limit: number | null) {
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (id INT NOT NULL PRIMARY KEY, num INT)`);
    const job = runJob(name, { batchRows: 50 }, { dirtyRecordLimit: limit });
    const jobFile = await writeJob(dir, { ...job, name: `${name}_${limit ?? 'none'}`, target: { ...job.target, table: name } }, `${name}.json`);
    const result = await runCli(['run', jobFile, '--json', '--workers', '2']);
    const s = summary(result);
    expect((s.rowsWritten as number) + (s.dirtyRecords as number) + (s.skipped as number)).toBe(s.rowsRead);
    return { code: result.code, s };
  }

  it('unlimited: the run goes on and reports the count', async () => {
    const { code, s } = await runWithLimit(null);
    expect(code).toBe(0);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 2000, rowsWritten: 2000 - BAD, dirtyRecords: BAD });
  });

  it('N with N dirty records succeeds; with N + 1 the run fails, naming the limit', async () => {
    expect((await runWithLimit(BAD)).s).toMatchObject({ status: 'succeeded', dirtyRecords: BAD });
    const { code, s } = await runWithLimit(BAD - 1);
    expect(code).toBe(1);
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(new RegExp(`^${BAD} dirty records exceed channel\\.dirtyRecordLimit ${BAD - 1}`));
  });

  it('0: the first dirty record fails the run, and the other consumer stops', async () => {
    const { code, s } = await runWithLimit(0);
    expect(code).toBe(1);
    expect(s).toMatchObject({ status: 'failed', error: expect.stringMatching(/dirtyRecordLimit is 0/) });
    expect(s.dirtyRecords as number).toBeLessThan(BAD);
    expect(s.rowsRead as number).toBeLessThan(2000);
  });
});

describe('secrets', () => {
  it('no password reaches a reason, an error, a log line or the ledger', async () => {
    const password = 'Pw-9f3Kq-never-print';
    for (const host of ['localhost', '127.0.0.1', '%']) {
      await my.query(`CREATE USER IF NOT EXISTS 'bs_it_secret'@'${host}' IDENTIFIED BY '${password}'`);
      await my.query(`GRANT ALL ON test.* TO 'bs_it_secret'@'${host}'`);
    }
    const name = 'it_dirty_secret';
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (id INT NOT NULL PRIMARY KEY, num INT)`);
    await mkdir(join(dir, name));
    await csvFile(join(dir, name, 'data.csv'), ['id', 'num'], [['1', '1'], ['2', 'x'], ['1', '3']]);
    const url = `mysql://bs_it_secret:${encodeURIComponent(password)}@127.0.0.1:3306/test`;
    const job = { ...runJob(name, {}, { dirtyRecordLimit: 1 }), target: { type: 'mysql', connection: { url }, table: name, ledger: { prefix: 'it_dirty_' } } };
    const jobFile = await writeJob(dir, job, `${name}.json`);
    const run = await runCli(['run', jobFile, '--json']);
    const s = summary(run);
    expect(s.status).toBe('failed');
    const status = await runCli(['status', s.runId as string, '--json', '--job', jobFile]);
    const dirty = await runCli(['dirty', s.runId as string, '--job', jobFile]);
    const badLogin = await runCli(['run', await writeJob(dir, { ...job, target: { ...job.target, connection: { url: url.replace('never', 'wrong') } } }, 'bad-login.json')]);
    expect(badLogin.stderr).toMatch(/cannot log in to mysql:\/\/bs_it_secret@127\.0\.0\.1:3306\/test/);
    const [ledgerRows] = await my.query<mysql.RowDataPacket[]>(
      `SELECT CONCAT_WS('|', u.error, r.error, r.spec, d.reason, d.record) AS t FROM it_dirty_runs u
         LEFT JOIN it_dirty_ranges r ON r.run_id = u.run_id LEFT JOIN it_dirty_dirty d ON d.run_id = u.run_id WHERE u.run_id = ?`,
      [s.runId],
    );
    const everything = [run, status, dirty, badLogin].map((r) => r.stdout + r.stderr).join('\n') + ledgerRows.map((r) => r.t).join('\n');
    expect(everything).toContain('rejected by the database');
    for (const secret of [password, encodeURIComponent(password), 'Pw-9f3Kq', 'wrong-print']) expect(everything).not.toContain(secret);
  });
});
