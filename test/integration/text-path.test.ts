import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, mysqlConnection, mysqlDigest, PG_URL, pgClient, pgDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * PostgreSQL → MySQL when every column passes as is: COPY's text goes to
 * LOAD DATA without being parsed. The values that text gets wrong if
 * passed blindly (\f and \v, backslashes, tabs, newlines, NULL, empty
 * strings), the values that must still become dirty records (NaN,
 * infinity, a key the table holds), and checkpoints on a key with
 * duplicates, resumed delivery after delivery.
 */

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  pgc = await pgClient();
  dir = await tempDir();
});

afterAll(async () => {
  await my?.end();
  await pgc?.end();
});

async function tables(name: string, fill: string): Promise<void> {
  await pgc.query(`DROP TABLE IF EXISTS ${name}`);
  await pgc.query(`CREATE TABLE ${name} (id int PRIMARY KEY, grp varchar(10) NOT NULL, name varchar(40), amount numeric(10,2), at timestamp)`);
  await pgc.query(`INSERT INTO ${name} ${fill}`);
  await my.query(`DROP TABLE IF EXISTS ${name}`);
  await my.query(`CREATE TABLE ${name} (id INT PRIMARY KEY, grp VARCHAR(10) NOT NULL, name VARCHAR(40), amount DECIMAL(10,2), at DATETIME) DEFAULT CHARSET=utf8mb4`);
}

async function run(name: string, source: object, channel: object, args: string[] = []) {
  const file = await writeJob(dir, {
    name,
    source: { type: 'postgres', connection: { url: PG_URL }, table: name, ...source },
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table: name, ledger: { prefix: 'it_text_' }, batchRows: 100 },
    channel: { maxConcurrency: 2, ...channel },
  }, `${name}.json`);
  const result = await runCli(['run', file, '--json', ...args]);
  return { s: summary(result), file };
}

const SELECT_MYSQL = (t: string) => `SELECT id, grp, name, amount, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s') FROM ${t}`;
const SELECT_PG = (t: string, where = 'TRUE') => `SELECT id::text, grp, name, amount::text, to_char(at, 'YYYY-MM-DD HH24:MI:SS') FROM ${t} WHERE ${where}`;

describe('COPY text straight to LOAD DATA', () => {
  it('every escape and NULL arrives as it was; NaN, infinity and a held key are dirty records, the rest of their chunks written', async () => {
    const t = 'it_text_values';
    const specials = [`E'tab\\there'`, `E'line\\nbreak'`, `E'back\\\\slash'`, `E'form\\ffeed'`, `E'vert\\vtab'`, `E'bs\\bx'`, `''`, 'NULL', `'ä中 \\N'`, `E'\\\\N'`];
    await tables(
      t,
      `SELECT g, 'g' || (g % 7), CASE WHEN g % 11 = 0 THEN (ARRAY[${specials.join(', ')}])[(g / 11) % ${specials.length} + 1] ELSE 'n' || g END,
              CASE WHEN g = 1234 THEN 'NaN' WHEN g % 50 = 0 THEN NULL ELSE g / 100.0 END,
              CASE WHEN g = 2222 THEN 'infinity' WHEN g % 70 = 0 THEN NULL ELSE timestamp '2024-01-01' + g * interval '1 second' END
         FROM generate_series(1, 3000) g`,
    );
    await my.query(`INSERT INTO ${t} VALUES (777, 'held', 'held', 7.77, '2020-01-01 00:00:00')`);
    const { s } = await run(t, {}, {});
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 3000, rowsWritten: 2997, dirtyRecords: 3 });
    const [dirty] = (await my.query(`SELECT reason FROM it_text_dirty WHERE run_id = ? ORDER BY reason`, [s.runId])) as unknown as [{ reason: string }[]];
    expect(dirty.map((d) => d.reason)).toEqual([
      "amount: 'NaN' is not a decimal number",
      "at: 'infinity' is not a date and time (YYYY-MM-DD HH:MM:SS)",
      "rejected by the database: Duplicate entry '777' for key 'PRIMARY'",
    ]);
    const expected = await pgDigest(pgc, `${SELECT_PG(t, 'id NOT IN (777, 1234, 2222)')} UNION ALL SELECT '777', 'held', 'held', '7.77', '2020-01-01 00:00:00'`);
    expect(await mysqlDigest(my, SELECT_MYSQL(t))).toBe(expected);
  });

  it('checkpoints on a split key with duplicates, resumed delivery after delivery: every row once', async () => {
    const t = 'it_text_resume';
    await tables(t, `SELECT g, 'k' || lpad((g % 20)::text, 2, '0'), 'n' || g, g / 100.0, timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, 6000) g`);
    // 2000 rows/s over 2 consumers: chunks of 500, cut only where grp changes (300 rows a value); each delivery has a second.
    const { s } = await run(t, { splitKey: 'grp' }, { rowsPerSecond: 2000 }, ['--range-time-limit', '1']);
    expect(s).toMatchObject({ status: 'succeeded', rowsRead: 6000, rowsWritten: 6000, dirtyRecords: 0 });
    const [ranges] = (await my.query(`SELECT attempts FROM it_text_ranges WHERE run_id = ?`, [s.runId])) as unknown as [{ attempts: string }[]];
    expect(Math.max(...ranges.map((r) => Number(r.attempts)))).toBeGreaterThanOrEqual(2);
    expect(await mysqlDigest(my, SELECT_MYSQL(t))).toBe(await pgDigest(pgc, SELECT_PG(t)));
  });
});
