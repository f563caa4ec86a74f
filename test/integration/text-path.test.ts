import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

describe('CSV as text straight to LOAD DATA', () => {
  it('the same rows and dirty records as the row-by-row path: quotes, escapes, NULLs, text of another form, bad records', async () => {
    const lines = ['id,grp,name,amount,at'];
    for (let g = 1; g <= 3000; g++) {
      const name = [`"tab\there"`, `"line\nbreak"`, 'back\\slash', `"say ""hi"""`, '""', '', 'ä中 \\N', `"a,b"`, 'cr\rx'][g % 9];
      const amount = g === 1234 ? 'n/a' : g % 13 === 0 ? `+${g}` : g % 50 === 0 ? '' : (g / 100).toFixed(2);
      const at = g === 2222 ? '2024-02-30 00:00:00' : g % 17 === 0 ? '2024-01-01T00:00:05' : g % 70 === 0 ? '' : `2024-01-01 ${String(g % 24).padStart(2, '0')}:00:00`;
      lines.push(g === 1500 ? `${g},g,too,many,fields,here` : g === 2500 ? `${g},g,"never closed` : `${g},g${g % 7},${name},${amount},${at}`);
    }
    const csvDir = join(dir, 'csv-text');
    await mkdir(csvDir, { recursive: true });
    await writeFile(join(csvDir, 'rows.csv'), `${lines.join('\r\n')}\r\n`);
    const columns = ['id', 'grp', 'name', 'amount', 'at'];
    const load = async (t: string, named: boolean) => {
      await my.query(`DROP TABLE IF EXISTS ${t}`);
      await my.query(`CREATE TABLE ${t} (id INT PRIMARY KEY, grp VARCHAR(10) NOT NULL, name VARCHAR(40), amount DECIMAL(10,2), at DATETIME) DEFAULT CHARSET=utf8mb4`);
      // Named columns are read as rows and converted value by value: the oracle.
      const source = { type: 'files', url: `file://${csvDir}/`, format: 'csv', ...(named ? { columns } : {}) };
      const file = await writeJob(dir, { name: t, source, target: { type: 'mysql', connection: { url: MYSQL_URL }, table: t, ledger: { prefix: 'it_text_' }, batchRows: 700 }, channel: { maxConcurrency: 2 } }, `${t}.json`);
      const s = summary(await runCli(['run', file, '--json']));
      const [dirty] = (await my.query(`SELECT reason, record FROM it_text_dirty WHERE run_id = ? ORDER BY reason`, [s.runId])) as unknown as [{ reason: string; record: string }[]];
      return { s, dirty, digest: await mysqlDigest(my, SELECT_MYSQL(t)) };
    };
    const text = await load('it_text_csv', false);
    const rows = await load('it_text_csv_rows', true);
    expect(text.s).toMatchObject({ status: 'succeeded', rowsRead: 3000, dirtyRecords: 4 });
    expect(text.dirty.map((d) => d.reason.replace(/^rows\.csv line \d+: /, '')).sort()).toEqual([
      "amount: 'n/a' is not a decimal number",
      "at: '2024-02-30 00:00:00' is not a date and time (YYYY-MM-DD HH:MM:SS)",
      'malformed CSV: a quote opened on this line is never properly closed (a stray quote?)',
      'record has 6 fields, expected 5',
    ].sort());
    // bytesWritten counts the text sent, escapes included, and is not compared.
    const counts = (s: typeof text.s) => ({ ...s, runId: '', job: '', logicalTime: '', startedAt: '', finishedAt: '', durationMs: 0, bytesWritten: 0 });
    expect(counts(text.s)).toEqual(counts(rows.s));
    expect(text.dirty).toEqual(rows.dirty);
    expect(text.digest).toBe(rows.digest);
    const [[quoted]] = (await my.query(`SELECT name, amount, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s') AS at FROM it_text_csv WHERE id = 17 * 13`)) as unknown as [Record<string, string>[]];
    expect(quoted).toEqual({ name: null, amount: '221.00', at: '2024-01-01 00:00:05' });
  });
});
