import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { DuckDBInstance } from '@duckdb/node-api';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, MYSQL_URL, mysqlDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * Files that are hard to read, through `batchsync run` into MariaDB: a CSV
 * of more than 100 MB (multi-line quoted fields, stray quotes in unquoted
 * fields, one malformed record deep inside) split into many ranges;
 * DuckDB-written Parquet in every codec; an unreadable Parquet file that
 * must fail the run before the target is touched. Each test has its own
 * database, dropped after.
 */

const DB = `bs_files_${randomBytes(4).toString('hex')}`;
const url = MYSQL_URL.replace(/\/[^/?]*(\?|$)/, `/${DB}$1`);
let my: mysql.Connection;
let dir: string;

beforeAll(async () => {
  my = await mysql.createConnection({ uri: MYSQL_URL, typeCast: (field) => field.string(), multipleStatements: true });
  await my.query(`CREATE DATABASE ${DB} DEFAULT CHARSET utf8mb4`);
  await my.query(`USE ${DB}`);
  dir = await tempDir('bs-files-robust-');
});

afterAll(async () => {
  await my?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my?.end();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function job(name: string, source: object, table: string, extra: object = {}) {
  return writeJob(dir, { name, source, target: { type: 'mysql', connection: { url }, table, ...extra }, channel: { maxConcurrency: 2 } }, `${name}.json`);
}

describe('a CSV of more than 100 MB', () => {
  it('reads the same split as whole: 1 dirty record naming its line, every other row exact', { timeout: 900_000 }, async () => {
    const ROWS = 1_000_000;
    const BAD = 777_777;
    const path = join(dir, 'big', 'data.csv');
    await mkdir(join(dir, 'big'));
    const out = createWriteStream(path);
    const expected = new Digest();
    out.write('id,name,amount,created\n');
    let line = 2;
    let badLine = 0;
    let lines: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const amount = `${Math.floor(i / 3)}.${String((i * 37) % 10000).padStart(4, '0')}`;
      const created = new Date(Date.UTC(2024, 0, 1) + i * 61_000).toISOString().slice(0, 19).replace('T', ' ');
      let text: string;
      if (i === BAD) {
        badLine = line;
        text = `${i},"a closing quote"then text,${amount},${created}`;
      } else {
        // Quoted with a comma, doubled quotes and a line end; unquoted with a stray quote; plain.
        const name = i % 7 === 0 ? `comma, "quoted"\nline ${i} 大学 🎓 padding padding` : i % 11 === 0 ? `a 5" screen, no: a 5" screen ${i} padding` : `name ${i} with some padding to make the file big, and then a little more`;
        const field = i % 7 === 0 ? `"${name.replaceAll('"', '""')}"` : name.replaceAll(',', ';');
        expected.add([String(i), i % 7 === 0 ? name : name.replaceAll(',', ';'), amount, created]);
        text = `${i},${field},${amount},${created}`;
      }
      lines.push(text);
      line += i % 7 === 0 && i !== BAD ? 2 : 1;
      if (lines.length === 10_000) {
        if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
        lines = [];
      }
    }
    out.end(lines.length ? `${lines.join('\n')}\n` : '');
    await once(out, 'finish');
    expect((await stat(path)).size).toBeGreaterThan(100 << 20);

    await my.query('CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(200), amount DECIMAL(12,4), created DATETIME)');
    const file = await job('big_csv', { type: 'files', url: `file://${join(dir, 'big')}/`, format: 'csv' }, 'big');
    const result = await runCli(['run', file, '--json', '--workers', '2']);
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    expect(s.ranges as number).toBeGreaterThanOrEqual(4);
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS - 1, dirtyRecords: 1 });
    expect(await mysqlDigest(my, 'SELECT id, name, amount, created FROM big')).toBe(expected.toString());

    const dirty = await runCli(['dirty', s.runId as string, '--json', '--job', file]);
    const records = JSON.parse(dirty.stdout);
    expect(records).toHaveLength(1);
    expect(records[0].reason).toBe(`data.csv line ${badLine}: malformed CSV: a closing quote is followed by "t" instead of a delimiter or a line end`);
    expect(records[0].record).toContain(`${BAD},"a closing quote"then text`);
  });
});

describe('Parquet written by DuckDB', () => {
  const CODECS = ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4_raw', 'lz4', 'brotli'];
  const select = (k: number) => `SELECT
    ${k} * 1000000 + i AS id, 9007199254740993 + i AS big, i * 0.25 AS dbl, (i * 12345 - 999999)::DECIMAL(18,4) / 100 AS price,
    CASE WHEN i % 5 = 0 THEN NULL ELSE '名前 ' || i || ' 🎓' END AS name, TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 1000003) AS at,
    [i, 9007199254740993 + i] AS list, {'a': i::INTEGER, 'b': 9007199254740993 + i} AS obj
  FROM range(2000) t(i)`;

  it('every codec loads, value for value as DuckDB reads the files', async () => {
    await mkdir(join(dir, 'pq'));
    const instance = await DuckDBInstance.create(':memory:');
    const duck = await instance.connect();
    for (const [k, codec] of CODECS.entries()) await duck.run(`COPY (${select(k)}) TO '${join(dir, 'pq', `${codec}.parquet`)}' (FORMAT parquet, COMPRESSION ${codec})`);
    const rows = (await duck.runAndReadAll(`SELECT id::VARCHAR, big::VARCHAR, printf('%g', dbl), printf('%.4f', price), name, strftime("at", '%Y-%m-%d %H:%M:%S.%f'), to_json(list)::VARCHAR, to_json(obj)::VARCHAR FROM read_parquet('${join(dir, 'pq')}/*.parquet')`)).getRows();
    duck.closeSync();
    instance.closeSync();
    const expected = new Digest();
    for (const r of rows) expected.add(r.map((v) => (v === null ? null : String(v))));

    await my.query('CREATE TABLE pq (id BIGINT PRIMARY KEY, big BIGINT, dbl DOUBLE, price DECIMAL(18,4), name VARCHAR(50), at DATETIME(6), list JSON, obj JSON)');
    const file = await job('pq_codecs', { type: 'files', url: `file://${join(dir, 'pq')}/`, format: 'parquet' }, 'pq');
    const result = await runCli(['run', file, '--json', '--workers', '2']);
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    expect(s).toMatchObject({ rowsRead: 14_000, rowsWritten: 14_000, dirtyRecords: 0 });
    expect(await mysqlDigest(my, 'SELECT id, big, dbl, price, name, at, list, obj FROM pq')).toBe(expected.toString());
    const [[one]] = (await my.query({ sql: 'SELECT list, obj FROM pq WHERE id = 3000001', rowsAsArray: true })) as unknown as [string[][]];
    expect(one).toEqual(['[1,9007199254740994]', '{"a":1,"b":9007199254740994}']);
  });

  // Uses the files the test above wrote.
  it('an unreadable file fails the run at planning, naming the file, before truncate touches the table', async () => {
    await mkdir(join(dir, 'pq-bad'));
    const good = await readFile(join(dir, 'pq', 'zstd.parquet'));
    await writeFile(join(dir, 'pq-bad', 'a.parquet'), good);
    await writeFile(join(dir, 'pq-bad', 'b.parquet'), good.subarray(0, good.length - 100));
    await my.query('CREATE TABLE pq_bad LIKE pq');
    await my.query('INSERT INTO pq_bad (id) VALUES (42)');
    const file = await job('pq_bad', { type: 'files', url: `file://${join(dir, 'pq-bad')}/`, format: 'parquet' }, 'pq_bad', { loadMode: 'truncate' });
    const result = await runCli(['run', file, '--json']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/b\.parquet/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const [[count]] = (await my.query({ sql: 'SELECT COUNT(*) FROM pq_bad', rowsAsArray: true })) as unknown as [string[][]];
    expect(count).toEqual(['1']);
  });
});
