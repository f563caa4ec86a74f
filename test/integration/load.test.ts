import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, MYSQL_URL, mysqlConnection, mysqlDigest, PG_URL, pgClient, pgDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

const ROWS = 200_000;
const COLUMNS = 'id, education, num, amount, created';
const TARGET_DDL = (name: string) => `CREATE TABLE ${name} (
  id BIGINT NOT NULL PRIMARY KEY,
  education VARCHAR(255) NULL,
  num INT NULL,
  amount DECIMAL(12,2) NULL,
  created DATETIME NULL
) DEFAULT CHARSET=utf8mb4`;

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  pgc = await pgClient();
  dir = await tempDir();
});

afterAll(async () => {
  await my.end();
  await pgc.end();
});

/** Text that exercises quoting and escaping: delimiters, quotes, tabs, newlines, backslashes, CJK, emoji. */
function education(i: number): string | null {
  switch (i % 11) {
    case 0: return null;
    case 1: return `line one\nline two ${i}`;
    case 2: return `comma, "quoted" ${i}`;
    case 3: return `tab\there\\backslash ${i}`;
    case 4: return `大学本科 ${i} 🎓`;
    case 5: return '';
    default: return `education ${i % 97}`;
  }
}

describe('a job loads a 200k-row source into MySQL exactly, over several ranges and 2 workers', () => {
  it('from a PostgreSQL table', async () => {
    await pgc.query('DROP TABLE IF EXISTS it_load_src');
    await pgc.query('CREATE TABLE it_load_src (id bigint PRIMARY KEY, education text, num int, amount numeric(12,2), created timestamp)');
    await pgc.query(
      `INSERT INTO it_load_src
       SELECT g, CASE g % 11 WHEN 0 THEN NULL WHEN 1 THEN E'line one\\nline two ' || g WHEN 2 THEN 'comma, "quoted" ' || g
                 WHEN 3 THEN E'tab\\there\\\\backslash ' || g WHEN 4 THEN '大学本科 ' || g || ' 🎓' WHEN 5 THEN '' ELSE 'education ' || (g % 97) END,
              CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 7919) % 100000 - 50000 END,
              ((g * 31) % 10000000) / 100.0 - 50000,
              timestamp '2024-01-01' + g * interval '17 seconds'
         FROM generate_series(1, $1) g`,
      [ROWS],
    );
    await my.query('DROP TABLE IF EXISTS it_load_pg');
    await my.query(TARGET_DDL('it_load_pg'));
    const job = await writeJob(dir, {
      name: 'it_load_pg',
      source: { type: 'postgres', connection: { url: PG_URL }, table: 'public.it_load_src' },
      target: { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_load_pg' },
      channel: { maxConcurrency: 2 },
    }, 'pg.json');

    const result = await runCli(['run', job, '--json', '--workers', '2']);
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    // PostgreSQL ranges hold at least 512 blocks: this table is a few.
    expect(s.ranges as number).toBeGreaterThanOrEqual(2);
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0, error: null });
    console.log(`PostgreSQL → MySQL: ${ROWS} rows in ${s.durationMs} ms = ${Math.round(ROWS / ((s.durationMs as number) / 1000))} rows/s`);

    const expected = await pgDigest(pgc, `SELECT ${COLUMNS} FROM it_load_src`);
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_load_pg`)).toBe(expected);
  });

  it('from a directory of CSV files', async () => {
    const csvDir = join(dir, 'csv');
    await mkdir(csvDir);
    const expected = new Digest();
    const quote = (v: string | null) => (v === null ? '' : /[",\n]/.test(v) || v === '' ? `"${v.replaceAll('"', '""')}"` : v);
    const files = 4;
    for (let f = 0; f < files; f++) {
      const lines = ['id,education,num,amount,created'];
      for (let i = f * (ROWS / files) + 1; i <= (f + 1) * (ROWS / files); i++) {
        const num = i % 13 === 0 ? null : String(((i * 7919) % 100000) - 50000);
        const amount = (((i * 31) % 10000000) / 100 - 50000).toFixed(2);
        const created = new Date(Date.UTC(2024, 0, 1) + i * 17000).toISOString().slice(0, 19).replace('T', ' ');
        const edu = education(i);
        lines.push([String(i), quote(edu), num ?? '', amount, created].join(','));
        expected.add([String(i), edu, num, amount, created]);
      }
      await writeFile(join(csvDir, `part-${f}.csv`), `${lines.join('\n')}\n`);
    }
    await my.query('DROP TABLE IF EXISTS it_load_csv');
    await my.query(TARGET_DDL('it_load_csv'));
    const job = await writeJob(dir, {
      name: 'it_load_csv',
      source: { type: 'files', url: `file://${csvDir}/`, format: 'csv' },
      target: { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_load_csv' },
      channel: { maxConcurrency: 2 },
    }, 'csv.json');

    const result = await runCli(['run', job, '--json', '--workers', '2']);
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    expect(s.ranges as number).toBeGreaterThanOrEqual(4);
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0, error: null });
    console.log(`CSV → MySQL: ${ROWS} rows in ${s.durationMs} ms = ${Math.round(ROWS / ((s.durationMs as number) / 1000))} rows/s`);

    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_load_csv`)).toBe(expected.toString());

    // As on MySQL 8 with local_infile off: every chunk takes the multi-row INSERT path, with the same result.
    await my.query('TRUNCATE TABLE it_load_csv');
    const inserts = await runCli(['run', job, '--json', '--workers', '2'], { BATCHSYNC_LOAD_DATA: 'false' });
    expect(summary(inserts)).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0 });
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_load_csv`)).toBe(expected.toString());
  });
});
