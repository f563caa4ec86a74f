/**
 * Issue 13's job-file features against real MariaDB and PostgreSQL: "did you
 * mean", the source `where` run by check and plan, write modes that need a
 * key, file keys no column reads, target.create, source.query and constant
 * columns. Everything lives in a database (and a PostgreSQL schema) of this
 * file's own, with a random suffix, dropped after.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbConfig } from '../../functions/adapters/connections.ts';
import { createMysqlPool } from '../../functions/adapters/mysql/connect.ts';
import { MysqlSource } from '../../functions/adapters/mysql/source.ts';
import { createPgPool, PostgresSource } from '../../functions/adapters/postgres/source.ts';
import type { Row, Source } from '../../functions/core/ports.ts';
import { MYSQL_URL, pgClient, PG_URL, runCli, summary, tempDir, writeJob } from '../helpers.ts';

const suffix = randomBytes(4).toString('hex');
const DB = `bs_schema_${suffix}`;
const PGS = `bs_schema_${suffix}`;
const url = new URL(MYSQL_URL);
url.pathname = `/${DB}`;
const TARGET_URL = url.toString();

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;

beforeAll(async () => {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`CREATE DATABASE \`${DB}\``);
  await admin.end();
  my = await mysql.createConnection({ uri: TARGET_URL, typeCast: (field) => field.string() });
  pgc = await pgClient();
  await pgc.query(`CREATE SCHEMA ${PGS}`);
  dir = await tempDir();
  await pgc.query(`CREATE TABLE ${PGS}.orders (
      id BIGINT PRIMARY KEY, customer VARCHAR(40) NOT NULL, amount NUMERIC(12,2), placed TIMESTAMPTZ, paid BOOLEAN, meta JSONB, note TEXT)`);
  await pgc.query(`INSERT INTO ${PGS}.orders
      SELECT i, 'c' || (i % 7), (i * 1.25)::numeric(12,2), TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + i * INTERVAL '1 hour',
             i % 2 = 0, jsonb_build_object('i', i, 'tag', 't' || (i % 3)), CASE WHEN i % 5 = 0 THEN NULL ELSE E'line\\ttab ' || i END
        FROM generate_series(1, 500) i`);
  await pgc.query(`UPDATE ${PGS}.orders SET amount = NULL, placed = NULL, paid = NULL, meta = NULL WHERE id = 7`);
  await pgc.query(`ANALYZE ${PGS}.orders`);
});

afterAll(async () => {
  await my?.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await my?.end();
  await pgc?.query(`DROP SCHEMA IF EXISTS ${PGS} CASCADE`);
  await pgc?.end();
});

const pgSource = (extra: object = {}) => ({ type: 'postgres', connection: { url: PG_URL }, table: `${PGS}.orders`, ...extra });
const target = (table: string, extra: object = {}) => ({ type: 'mysql', connection: { url: TARGET_URL }, table, ...extra });
let jobs = 0;
const job = (source: object, tgt: object) => ({ name: `schema_${suffix}_${++jobs}`, source, target: tgt, channel: { distributed: false } });

async function cli(args: string[], spec: object) {
  const file = await writeJob(dir, spec, `job-${++jobs}.json`);
  return runCli([args[0], file, ...args.slice(1)]);
}

async function rows(sql: string): Promise<string[][]> {
  const [result] = await my.query({ sql, rowsAsArray: true });
  return result as string[][];
}

/** The one error line of a refused command, exit 2, no stack trace. */
function refused(result: { code: number | null; stderr: string }): string {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return result.stderr.trim();
}

describe('did you mean', () => {
  beforeAll(async () => {
    // The tutorial's table: created upper case, then named lower case (this server is case-sensitive unless lower_case_table_names is set).
    await my.query('CREATE TABLE `ODPS_RESULT` (id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12,2))');
  });

  it("names ODPS_RESULT for odps_result on a case-sensitive server, and the table is used as named on a case-insensitive one", async () => {
    const [[lower]] = await rows('SELECT @@lower_case_table_names');
    const spec = job(pgSource({ columns: ['id', 'customer', 'amount'] }), target('odps_result'));
    const result = await cli(['check'], spec);
    if (Number(lower) === 0) {
      expect(refused(result)).toMatch(new RegExp(`^batchsync: target\\.table: table ${DB}\\.odps_result does not exist on .*; did you mean ODPS_RESULT\\?$`));
      expect(refused(await cli(['run', '--json'], spec))).toMatch(/did you mean ODPS_RESULT\?/);
      expect(await rows('SELECT COUNT(*) FROM `ODPS_RESULT`')).toEqual([['0']]);
    } else {
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it('names the near source table, source column, split key and target column', async () => {
    expect(refused(await cli(['check'], job(pgSource({ table: `${PGS}.order` }), target('ODPS_RESULT'))))).toMatch(
      new RegExp(`source\\.table: table ${PGS}\\.order does not exist on .*; did you mean ${PGS}\\.orders\\?`),
    );
    expect(refused(await cli(['check'], job(pgSource({ columns: ['id', 'custmer', 'amount'] }), target('ODPS_RESULT'))))).toMatch(
      /source\.columns\[1\]: column "custmer" does not exist in .*orders; did you mean customer\?/,
    );
    expect(refused(await cli(['plan'], job(pgSource({ columns: ['id', 'customer', 'amount'], splitKey: 'idd' }), target('ODPS_RESULT'))))).toMatch(
      /source\.splitKey: column "idd" does not exist in .*orders; did you mean id\?/,
    );
    expect(refused(await cli(['check'], job(pgSource({ columns: ['id', 'customer', 'amount'] }), target('ODPS_RESULT', { columns: ['id', 'custome', 'amount'] }))))).toMatch(
      /target\.columns\[1\]: column "custome" does not exist in target table ODPS_RESULT; did you mean customer\?/,
    );
    expect(refused(await cli(['validate'], { ...job(pgSource(), target('ODPS_RESULT')), target: { ...target('ODPS_RESULT'), writeMod: 'upsert' } }))).toMatch(
      /target\.writeMod: unknown key; did you mean writeMode\?/,
    );
  });
});

describe('check and plan run the source where', () => {
  it('a syntax error is refused, naming source.where, by check, plan and run; nothing is written', async () => {
    await my.query('CREATE TABLE w_target (id BIGINT PRIMARY KEY, customer VARCHAR(40))');
    const spec = job(pgSource({ columns: ['id', 'customer'], where: 'id > 3 AND (customer = ' }), target('w_target'));
    for (const command of ['check', 'plan', 'run']) {
      expect(refused(await cli([command], spec))).toMatch(/^batchsync: source\.where: .*syntax error/);
    }
    const mySpec = job({ type: 'mysql', connection: { url: TARGET_URL }, table: 'w_target', where: 'nosuch > 1' }, target('w_target'));
    expect(refused(await cli(['check'], mySpec))).toMatch(/^batchsync: source\.where: .*Unknown column 'nosuch'/);
    expect(await rows('SELECT COUNT(*) FROM w_target')).toEqual([['0']]);
  });
});

describe('write modes that find existing rows need a key', () => {
  it('upsert, replace and ignore into a table without a primary or unique key are refused with the reason', async () => {
    await my.query('CREATE TABLE nokey (id BIGINT, customer VARCHAR(40))');
    for (const writeMode of ['upsert', 'replace', 'ignore']) {
      const spec = job(pgSource({ columns: ['id', 'customer'] }), target('nokey', { writeMode }));
      expect(refused(await cli(['check'], spec))).toMatch(new RegExp(`target\\.writeMode: "${writeMode}" needs a primary or unique key on nokey`));
      expect(refused(await cli(['run'], spec))).toMatch(/needs a primary or unique key/);
    }
    expect(await rows('SELECT COUNT(*) FROM nokey')).toEqual([['0']]);
    await my.query('ALTER TABLE nokey ADD UNIQUE KEY (id)');
    const ok = await cli(['run', '--json'], job(pgSource({ columns: ['id', 'customer'] }), target('nokey', { writeMode: 'upsert' })));
    expect(summary(ok)).toMatchObject({ status: 'succeeded', rowsWritten: 500 });
  });
});

describe('file keys that no column reads', () => {
  it('a JSON Lines key nmu beside a column num is reported by check and in the run summary', async () => {
    const data = join(dir, 'jsonl');
    await mkdir(data);
    await writeFile(join(data, 'a.jsonl'), '{"id": 1, "nmu": 10}\n{"id": 2, "nmu": 20}\n');
    await my.query('CREATE TABLE jl (id INT PRIMARY KEY, num INT)');
    const spec = job({ type: 'files', url: `file://${data}/`, format: 'jsonl', columns: ['id', 'num'] }, target('jl'));
    const check = await cli(['check'], spec);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('warning: source: key "nmu" of the files matches no column read, and is not loaded; did you mean num?');
    const run = await cli(['run', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 2, unmatchedKeys: ['nmu'] });
    expect(run.stderr).toContain('warning: source: key "nmu"');
    const csv = join(dir, 'csv');
    await mkdir(csv);
    await writeFile(join(csv, 'a.csv'), 'id,num,extra\n3,30,x\n');
    const csvRun = await cli(['run', '--json'], job({ type: 'files', url: `file://${csv}/`, format: 'csv', columns: ['id', 'num'] }, target('jl')));
    expect(summary(csvRun)).toMatchObject({ status: 'succeeded', rowsWritten: 1, unmatchedKeys: ['extra'] });
  });
});

describe('target.create', () => {
  it('creates the table from PostgreSQL types, key first; check and plan print the DDL and create nothing', async () => {
    const spec = job(pgSource(), target('created_pg', { create: true, writeMode: 'upsert' }));
    const check = await cli(['check'], spec);
    expect(check.code, check.stderr).toBe(0);
    const ddl = [
      `CREATE TABLE IF NOT EXISTS \`${DB}\`.\`created_pg\` (`,
      '  `id` BIGINT NOT NULL,',
      '  `customer` VARCHAR(40) NOT NULL,',
      '  `amount` DECIMAL(12,2) NULL,',
      '  `placed` DATETIME(6) NULL,',
      '  `paid` TINYINT(1) NULL,',
      '  `meta` JSON NULL,',
      '  `note` LONGTEXT NULL,',
      '  PRIMARY KEY (`id`)',
      ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    ].join('\n');
    expect(check.stdout).toContain(ddl);
    const plan = await cli(['plan', '--json'], spec);
    expect(JSON.parse(plan.stdout).createDdl).toBe(ddl);
    expect(await rows(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'created_pg'`)).toEqual([['0']]);

    const run = await cli(['run', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 500, dirtyRecords: 0 });
    const [[pk]] = await rows(`SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'created_pg' AND INDEX_NAME = 'PRIMARY'`);
    expect(pk).toBe('id');
    const [[charset]] = await rows(`SELECT CCSA.CHARACTER_SET_NAME FROM information_schema.TABLES T JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA ON CCSA.COLLATION_NAME = T.TABLE_COLLATION WHERE T.TABLE_SCHEMA = '${DB}' AND T.TABLE_NAME = 'created_pg'`);
    expect(charset).toBe('utf8mb4');

    const expected = await pgc.query({
      text: `SELECT id::text, customer, amount::text, to_char(placed AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), CASE WHEN paid THEN '1' WHEN NOT paid THEN '0' END, meta::text, note
               FROM ${PGS}.orders o ORDER BY o.id`,
      rowMode: 'array',
    });
    const loaded = await rows('SELECT id, customer, amount, placed, paid, meta, note FROM created_pg ORDER BY id');
    expect(loaded.length).toBe(500);
    for (const [i, row] of loaded.entries()) {
      const want = expected.rows[i] as (string | null)[];
      const { 5: meta, ...rest } = row;
      const { 5: wantMeta, ...wantRest } = want;
      expect(rest).toEqual(wantRest);
      expect(meta === null ? null : JSON.parse(meta)).toEqual(wantMeta === null ? null : JSON.parse(wantMeta));
    }
    expect(loaded[6]).toEqual(['7', 'c0', null, null, null, null, 'line\ttab 7']);

    // An existing table is never altered: a second run with another source shape fails on the mapping, and the table stays.
    const again = await cli(['run', '--json'], spec);
    expect(summary(again)).toMatchObject({ status: 'succeeded', rowsWritten: 500 });
    const [[columns]] = await rows(`SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'created_pg'`);
    expect(columns).toBe('7');
  });

  it('creates the table from Parquet types, the values loaded as written', async () => {
    const data = join(dir, 'parquet');
    await mkdir(data);
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    await conn.run(`COPY (SELECT i::BIGINT AS id, 'n' || i AS name, (i * 1.25)::DECIMAL(10,2) AS price,
                          TIMESTAMPTZ '2024-01-02 03:04:05+00' + i * INTERVAL 1 HOUR AS at, i % 2 = 0 AS even, i::DOUBLE / 4 AS quarter, DATE '2024-03-01' + i::INT AS day
                       FROM range(1, 301) t(i)) TO '${join(data, 'a.parquet')}' (FORMAT parquet)`);
    conn.closeSync();
    const spec = job({ type: 'files', url: `file://${data}/`, format: 'parquet' }, target('created_pq', { create: true }));
    const plan = await cli(['plan'], spec);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('`id` BIGINT NULL,\n  `name` LONGTEXT NULL,\n  `price` DECIMAL(10,2) NULL,\n  `at` DATETIME(6) NULL,\n  `even` TINYINT(1) NULL,\n  `quarter` DOUBLE NULL,\n  `day` DATE NULL');
    const run = await cli(['run', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 300, dirtyRecords: 0 });
    const loaded = await rows('SELECT id, name, price, at, even, quarter, day FROM created_pq ORDER BY id');
    expect(loaded.length).toBe(300);
    for (const [k, row] of loaded.entries()) {
      const i = k + 1;
      const at = new Date(Date.UTC(2024, 0, 2, 3 + i, 4, 5)).toISOString().replace('T', ' ').replace('Z', '000');
      const day = new Date(Date.UTC(2024, 2, 1 + i)).toISOString().slice(0, 10);
      expect(row).toEqual([String(i), `n${i}`, (i * 1.25).toFixed(2), at, i % 2 === 0 ? '1' : '0', String(i / 4), day]);
    }
  });
});

describe('source.query', () => {
  const aggregate = `SELECT customer, count(*) AS orders, sum(amount) AS total, max(id) AS last_id FROM ${PGS}.orders WHERE id > \${low} GROUP BY customer`;

  it('an aggregate query from PostgreSQL, split by its split key, loads exactly its rows', async () => {
    await my.query('CREATE TABLE per_customer (customer VARCHAR(40) PRIMARY KEY, orders BIGINT, total DECIMAL(14,2), last_id BIGINT)');
    const spec = job({ type: 'postgres', connection: { url: PG_URL }, query: aggregate, splitKey: 'customer' }, target('per_customer'));
    const plan = await cli(['plan', '--var', 'low=10', '--json'], spec);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).ranges).toBeGreaterThan(1);
    const run = await cli(['run', '--var', 'low=10', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 7, dirtyRecords: 0 });
    const expected = await pgc.query({ text: aggregate.replace('${low}', '10') + ' ORDER BY customer', rowMode: 'array' });
    expect(await rows('SELECT customer, orders, total, last_id FROM per_customer ORDER BY customer')).toEqual(expected.rows);
  });

  it('an aggregate query from MySQL without a split key is one range, loaded exactly', async () => {
    await my.query('CREATE TABLE my_orders (id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12,2))');
    await my.query('INSERT INTO my_orders SELECT seq, CONCAT("c", seq % 5), seq * 1.5 FROM seq_1_to_1000');
    await my.query('CREATE TABLE my_per_customer (customer VARCHAR(40) PRIMARY KEY, orders BIGINT, total DECIMAL(14,2))');
    const query = 'SELECT customer, COUNT(*) AS orders, SUM(amount) AS total FROM my_orders WHERE id <= ${high} GROUP BY customer';
    const spec = job({ type: 'mysql', connection: { url: TARGET_URL }, query }, target('my_per_customer', { writeMode: 'replace' }));
    const check = await cli(['check', '--var', 'high=900'], spec);
    expect(check.code, check.stderr).toBe(0);
    const run = await cli(['run', '--var', 'high=900', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 5, ranges: 1 });
    expect(await rows('SELECT customer, orders, total FROM my_per_customer ORDER BY customer')).toEqual(
      await rows('SELECT customer, COUNT(*), SUM(amount) FROM my_orders WHERE id <= 900 GROUP BY customer ORDER BY customer'),
    );
    // Split on a key the query exposes: the same rows.
    await my.query('TRUNCATE my_per_customer');
    const split = await cli(['run', '--var', 'high=800', '--json'], { ...spec, name: `${spec.name}_split`, source: { ...spec.source, splitKey: 'customer' } });
    expect(summary(split)).toMatchObject({ status: 'succeeded', rowsWritten: 5 });
    expect(await rows('SELECT customer, orders, total FROM my_per_customer ORDER BY customer')).toEqual(
      await rows('SELECT customer, COUNT(*), SUM(amount) FROM my_orders WHERE id <= 800 GROUP BY customer ORDER BY customer'),
    );
  });

  it('a query range without a key resumes after its checkpoint with exactly the rows not yet read', async () => {
    const db = (engine: 'mysql' | 'postgres', port: number, user: string, database: string): DbConfig =>
      ({ engine, host: '127.0.0.1', port, user, password: undefined, database, ssl: 'off', label: `${engine}` }) as unknown as DbConfig;
    const pgPool = createPgPool(db('postgres', 5432, 'postgres', 'test'), 2);
    const myPool = createMysqlPool(db('mysql', 3306, 'root', DB), 2);
    try {
      const sources: Source[] = [
        new PostgresSource(pgPool, { type: 'postgres', connection: { url: PG_URL }, query: `SELECT customer, paid, count(*) AS n FROM ${PGS}.orders GROUP BY customer, paid` }, 'pg'),
        new MysqlSource(myPool, { type: 'mysql', connection: { url: TARGET_URL }, query: 'SELECT customer, COUNT(*) AS n FROM my_orders GROUP BY customer UNION ALL SELECT customer, 1 FROM my_orders WHERE id < 4' }, DB, 'my'),
      ];
      for (const source of sources) {
        const [range, ...rest] = await source.plan(8);
        expect(rest).toEqual([]);
        const all: Row[][] = [];
        const checkpoints: string[] = [];
        for await (const batch of source.read(range, null, 3)) {
          all.push(batch.rows);
          checkpoints.push(batch.checkpoint);
        }
        expect(all.length).toBeGreaterThan(2);
        const flat = all.flat().map((r) => JSON.stringify(r));
        for (const [i, checkpoint] of checkpoints.entries()) {
          const after: string[] = [];
          for await (const batch of source.read(range, checkpoint, 3)) after.push(...batch.rows.map((r) => JSON.stringify(r)));
          expect(after).toEqual(flat.slice(all.slice(0, i + 1).flat().length));
        }
      }
    } finally {
      await pgPool.end();
      await myPool.end();
    }
  });

  it('a query with a mistake is refused by check, naming source.query', async () => {
    const spec = job({ type: 'postgres', connection: { url: PG_URL }, query: `SELECT nosuch FROM ${PGS}.orders` }, target('per_customer'));
    expect(refused(await cli(['check'], spec))).toMatch(/^batchsync: source\.query: .*column "nosuch" does not exist/);
  });
});

describe('constant and variable columns', () => {
  it('a ${bizdate} column gets the logical time\'s business date on every row', async () => {
    await my.query('CREATE TABLE with_dt (id BIGINT PRIMARY KEY, customer VARCHAR(40), dt CHAR(8) NOT NULL, src VARCHAR(10))');
    const spec = job(pgSource({ columns: ['id', 'customer'] }), target('with_dt', { columns: ['id', { name: 'dt', value: '${bizdate}' }, 'customer', { name: 'src', value: 'pg' }] }));
    const run = await cli(['run', '--logical-time', '2024-05-02T01:00:00Z', '--json'], spec);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 500, dirtyRecords: 0 });
    expect(await rows('SELECT dt, src, COUNT(*), MIN(id), MAX(id) FROM with_dt GROUP BY dt, src')).toEqual([['20240501', 'pg', '500', '1', '500']]);
    expect(await rows('SELECT customer FROM with_dt WHERE id = 8')).toEqual([['c1']]);
  });
});
