import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, finished, MYSQL_URL, mysqlConnection, mysqlDigest, runCli, startCli, summary, tempDir, waitFor, writeJob } from '../helpers.ts';

const PREFIX = 'it_modes_';
/** Wide rows, so the files make several ranges (small files are grouped into one). */
const PAD = 'x'.repeat(150);
let my: mysql.Connection;
let dir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  dir = await tempDir();
});

afterAll(async () => {
  await my.end();
});

async function csvDir(name: string, files: string[][][], header = ['id', 'v']): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  for (const [i, rows] of files.entries()) await writeFile(join(path, `part-${i}.csv`), [header, ...rows].map((r) => r.join(',')).join('\n') + '\n');
  return path;
}

function job(name: string, source: string, target: Record<string, unknown>, channel: Record<string, unknown> = {}) {
  return {
    name,
    source: { type: 'files', url: `file://${source}/`, format: 'csv' },
    target: { type: 'mysql', connection: { url: MYSQL_URL }, ledger: { prefix: PREFIX }, ...target },
    channel: { maxConcurrency: 2, ...channel },
  };
}

async function run(spec: object, args: string[] = []) {
  const file = await writeJob(dir, spec, `${(spec as { name: string }).name}.json`);
  const result = await runCli(['run', file, '--json', ...args]);
  const s = summary(result);
  expect((s.rowsWritten as number) + (s.dirtyRecords as number) + (s.skipped as number), 'rowsRead = rowsWritten + dirtyRecords + skipped').toBe(s.rowsRead);
  return { ...result, s, file };
}

async function rows(table: string): Promise<string[][]> {
  const [result] = await my.query({ sql: `SELECT * FROM ${table} ORDER BY id`, rowsAsArray: true });
  return result as string[][];
}

async function stagingTables(table: string): Promise<string[]> {
  const [result] = await my.query<mysql.RowDataPacket[]>(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME LIKE ?`, [`${table}\\_\\_bs\\_%`]);
  return result.map((r) => r.t as string);
}

describe('write modes, over rows that exist already', () => {
  const table = 'it_modes_write';
  let source: string;
  beforeAll(async () => {
    // ids 5..20 arrive; 1..10 are there, with a column the job does not map.
    source = await csvDir('write', [Array.from({ length: 8 }, (_, i) => [String(i + 5), 'new']), Array.from({ length: 8 }, (_, i) => [String(i + 13), 'new'])]);
  });

  async function fresh(): Promise<void> {
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.query(`CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, v VARCHAR(10), keep VARCHAR(10) NOT NULL DEFAULT 'default')`);
    await my.query(`INSERT INTO ${table} SELECT seq, 'old', 'mine' FROM seq_1_to_10`);
  }
  const expected = (f: (id: number) => [string, string]) => Array.from({ length: 20 }, (_, i) => [String(i + 1), ...f(i + 1)]);

  it('insert: each existing key is a dirty record; the new rows are written', async () => {
    await fresh();
    const { s } = await run(job('it_modes_insert', source, { table, writeMode: 'insert' }));
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 16, rowsWritten: 10, dirtyRecords: 6, skipped: 0 });
    expect(await rows(table)).toEqual(expected((id) => (id <= 10 ? ['old', 'mine'] : ['new', 'default'])));
  });

  it('ignore: existing keys are counted as skipped, not lost', async () => {
    await fresh();
    const { s } = await run(job('it_modes_ignore', source, { table, writeMode: 'ignore' }));
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 16, rowsWritten: 10, dirtyRecords: 0, skipped: 6 });
    expect(await rows(table)).toEqual(expected((id) => (id <= 10 ? ['old', 'mine'] : ['new', 'default'])));
  });

  it('replace: existing rows are replaced whole (unmapped columns get their default)', async () => {
    await fresh();
    const { s } = await run(job('it_modes_replace', source, { table, writeMode: 'replace' }));
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 16, rowsWritten: 16, dirtyRecords: 0, skipped: 0 });
    expect(await rows(table)).toEqual(expected((id) => (id < 5 ? ['old', 'mine'] : ['new', 'default'])));
  });

  it('upsert: existing rows get the mapped columns updated, the others kept', async () => {
    await fresh();
    const { s } = await run(job('it_modes_upsert', source, { table, writeMode: 'upsert' }));
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 16, rowsWritten: 16, dirtyRecords: 0, skipped: 0 });
    expect(await rows(table)).toEqual(expected((id) => (id < 5 ? ['old', 'mine'] : id <= 10 ? ['new', 'mine'] : ['new', 'default'])));
  });
});

describe('load modes and pre/post SQL', () => {
  const table = 'it_modes_load';
  const log = 'it_modes_log';
  let source: string;
  const sourceRows = Array.from({ length: 4 }, (_, f) => Array.from({ length: 3000 }, (_, i) => [String(f * 3000 + i + 1), `${PAD}${f}`]));
  beforeAll(async () => {
    source = await csvDir('load', sourceRows);
    await my.query(`DROP TABLE IF EXISTS ${log}`);
    await my.query(`CREATE TABLE ${log} (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100))`);
  });
  async function fresh(): Promise<void> {
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.query(`CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, v VARCHAR(200))`);
    await my.query(`INSERT INTO ${table} VALUES (100000, 'before'), (100001, 'before')`);
  }
  const allSource = async () => {
    const d = new Digest();
    for (const r of sourceRows.flat()) d.add(r);
    return d.toString();
  };

  it('truncate empties the live table once, before any range; pre and post SQL run once, in order, with variables', async () => {
    await fresh();
    // The logical time is fixed, so an earlier run of this test would be joined: forget it.
    await my.query(`DELETE FROM ${PREFIX}runs WHERE job = 'it_modes_truncate'`).catch(() => {});
    const spec = job('it_modes_truncate', source, {
      table, loadMode: 'truncate', batchRows: 500,
      preSql: [`INSERT INTO ${log} (what) SELECT CONCAT('pre \${bizdate} ', COUNT(*)) FROM ${table}`],
      postSql: [`INSERT INTO ${log} (what) SELECT CONCAT('post ', COUNT(*)) FROM ${table}`],
    });
    const { s } = await run(spec, ['--logical-time', '2026-03-02T01:00:00Z']);
    expect(s).toMatchObject({ status: 'succeeded', rowsWritten: 12000 });
    expect(s.ranges as number).toBeGreaterThanOrEqual(4);
    expect(await mysqlDigest(my, `SELECT id, v FROM ${table}`)).toBe(await allSource());
    const [logged] = await my.query<mysql.RowDataPacket[]>(`SELECT what FROM ${log} ORDER BY id`);
    expect(logged.map((r) => r.what)).toEqual(['pre 20260301 2', 'post 12000']);
  });

  it('swap: readers see the old table until one atomic rename; the staging table is gone after', async () => {
    await fresh();
    await my.query(`DELETE FROM ${log}`);
    const spec = job('it_modes_swap', source, {
      table, loadMode: 'swap', batchRows: 500,
      postSql: [`INSERT INTO ${log} (what) SELECT CONCAT('post ', COUNT(*)) FROM ${table}`],
    });
    const { s } = await run(spec);
    expect(s).toMatchObject({ status: 'succeeded', rowsWritten: 12000 });
    expect(await mysqlDigest(my, `SELECT id, v FROM ${table}`)).toBe(await allSource());
    expect(await stagingTables(table)).toEqual([]);
    const [logged] = await my.query<mysql.RowDataPacket[]>(`SELECT what FROM ${log}`);
    expect(logged.map((r) => r.what)).toEqual(['post 12000']);
  });

  it('swap, a failed run: the live table is untouched and the staging table dropped; the next run swaps', async () => {
    await fresh();
    const bad = await csvDir('load-bad', [[['1', 'ok'], ['x', 'bad id']]]);
    const failed = await run(job('it_modes_swap_fail', bad, { table, loadMode: 'swap' }, { dirtyRecordLimit: 0 }));
    expect(failed.code).toBe(1);
    expect(failed.s.status).toBe('failed');
    expect(await rows(table)).toEqual([['100000', 'before'], ['100001', 'before']]);
    expect(await stagingTables(table)).toEqual([]);
    const next = await run(job('it_modes_swap_fail', source, { table, loadMode: 'swap' }));
    expect(next.s.status).toBe('succeeded');
    expect(await stagingTables(table)).toEqual([]);
    expect(await mysqlDigest(my, `SELECT id, v FROM ${table}`)).toBe(await allSource());
  });

  it('swap, a consumer killed mid-range: exactly once after resuming', async () => {
    await fresh();
    const spec = job('it_modes_swap_crash', source, { table, loadMode: 'swap', batchRows: 100 });
    const file = await writeJob(dir, spec, 'swap-crash.json');
    const cli = startCli(['run', file, '--json', '--workers', '2', '--visibility-timeout', '2']);
    const done = finished(cli);
    const victim = await waitFor(async () => {
      const [r] = await my.query<mysql.RowDataPacket[]>(
        `SELECT r.owner FROM ${PREFIX}ranges r JOIN ${PREFIX}runs u ON u.run_id = r.run_id
          WHERE u.job = 'it_modes_swap_crash' AND u.status = 'running' AND r.status = 'running' AND r.rows_written BETWEEN 1 AND 1500 LIMIT 1`,
      );
      return r[0]?.owner as string | undefined;
    }, 60_000, 10);
    process.kill(Number(victim.split(':')[1]), 'SIGKILL');
    const s = summary(await done);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 12000, rowsWritten: 12000 });
    expect(await mysqlDigest(my, `SELECT id, v FROM ${table}`)).toBe(await allSource());
  });

  it('a failing post-SQL statement fails the run, naming its position and the database message', async () => {
    await fresh();
    const { code, s } = await run(job('it_modes_post_fail', source, { table, postSql: ['SELECT 1', 'INSERT INTO it_modes_nowhere VALUES (1)'] }));
    expect(code).toBe(1);
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/target\.postSql\[1\] .*it_modes_nowhere' doesn't exist/);
  });
});

describe('channel control', () => {
  it('a throttled run with 4 consumers holds the job-wide rate within 10%, with at most maxConcurrency consumers at once', async () => {
    const table = 'it_modes_throttle';
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.query(`CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, v VARCHAR(200))`);
    const source = await csvDir('throttle', Array.from({ length: 8 }, (_, f) => Array.from({ length: 1500 }, (_, i) => [String(f * 1500 + i + 1), PAD])));
    const rate = 1000;
    const { s, file } = await run(job('it_modes_throttle', source, { table }, { maxConcurrency: 4, rowsPerSecond: rate }), ['--workers', '8']);
    expect(s).toMatchObject({ status: 'succeeded', rowsWritten: 12000 });
    const [[span]] = await my.query<mysql.RowDataPacket[]>(
      `SELECT TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(ended_at)) / 1e6 AS seconds, COUNT(DISTINCT owner) AS owners FROM ${PREFIX}attempts WHERE run_id = ?`,
      [s.runId],
    );
    const seconds = Number(span.seconds);
    expect(seconds).toBeGreaterThanOrEqual(10);
    expect(12000 / seconds / rate).toBeGreaterThan(0.9);
    expect(12000 / seconds / rate).toBeLessThan(1.1);
    expect(Number(span.owners)).toBe(4);
    const status = JSON.parse((await runCli(['status', s.runId as string, '--json', '--job', file])).stdout);
    expect(status.peakConcurrency).toBeGreaterThanOrEqual(2);
    expect(status.peakConcurrency).toBeLessThanOrEqual(4);
  });

  it('one consumer instance runs up to maxConcurrency ranges at once when not distributed', async () => {
    const table = 'it_modes_inproc';
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.query(`CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, v VARCHAR(200))`);
    const source = await csvDir('inproc', Array.from({ length: 6 }, (_, f) => Array.from({ length: 1000 }, (_, i) => [String(f * 1000 + i + 1), PAD])));
    const { s, file } = await run(job('it_modes_inproc', source, { table }, { maxConcurrency: 3, distributed: false, rowsPerSecond: 3000 }));
    expect(s).toMatchObject({ status: 'succeeded', rowsWritten: 6000 });
    const [[owners]] = await my.query<mysql.RowDataPacket[]>(`SELECT COUNT(DISTINCT owner) AS n FROM ${PREFIX}attempts WHERE run_id = ?`, [s.runId]);
    expect(Number(owners.n)).toBe(1);
    const status = JSON.parse((await runCli(['status', s.runId as string, '--json', '--job', file])).stdout);
    expect(status.peakConcurrency).toBe(3);
  });

  it('long ranges are handed back before the time limit and continued by another delivery, exactly once', async () => {
    const table = 'it_modes_long';
    await my.query(`DROP TABLE IF EXISTS ${table}`);
    await my.query(`CREATE TABLE ${table} (id INT NOT NULL PRIMARY KEY, v VARCHAR(10))`);
    const sourceRows = Array.from({ length: 2 }, (_, f) => Array.from({ length: 3000 }, (_, i) => [String(f * 3000 + i + 1), 'x']));
    const source = await csvDir('long', sourceRows);
    const { s } = await run(job('it_modes_long', source, { table }, { rowsPerSecond: 2000, maxReceiveCount: 2 }), ['--range-time-limit', '1']);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 6000, rowsWritten: 6000 });
    const [ranges] = await my.query<mysql.RowDataPacket[]>(`SELECT attempts FROM ${PREFIX}ranges WHERE run_id = ?`, [s.runId]);
    // Each range takes about 3 s at this rate: several deliveries of one second each, none counted as a failure.
    expect(Math.max(...ranges.map((r) => Number(r.attempts)))).toBeGreaterThanOrEqual(3);
    const d = new Digest();
    for (const r of sourceRows.flat()) d.add(r);
    expect(await mysqlDigest(my, `SELECT id, v FROM ${table}`)).toBe(d.toString());
  });
});
