import type mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, mysqlConnection, mysqlDigest, PG_URL, pgClient, pgDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * SQL sources against the real servers: PostgreSQL (composite and string
 * keys, the types that need care, a table without a key), MySQL (composite
 * keys, a replica, incremental `where`), and balanced plans on a skewed key.
 * Each job runs with 2 workers over at least 2 ranges; the target is
 * compared with the source by count and content digest.
 */

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;
const REPLICA_URL = MYSQL_URL.replace(/\/[^/]*$/, '/it_src_replica');

beforeAll(async () => {
  my = await mysqlConnection();
  pgc = await pgClient();
  dir = await tempDir();
});

afterAll(async () => {
  await my?.end();
  await pgc?.end();
});

async function myTable(name: string, ddl: string): Promise<void> {
  await my.query(`DROP TABLE IF EXISTS ${name}`);
  await my.query(`CREATE TABLE ${name} (${ddl}) DEFAULT CHARSET=utf8mb4`);
}

async function job(name: string, source: object, target: string, extra: object = {}): Promise<string> {
  return writeJob(dir, {
    name,
    source,
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table: target, ledger: { prefix: 'it_src_' } },
    channel: { maxConcurrency: 2 },
    ...extra,
  }, `${name}.json`);
}

/** Runs a job with 2 workers; checks it succeeded over at least 2 ranges with `rows` rows written. */
async function run(file: string, rows: number, args: string[] = []): Promise<Record<string, unknown>> {
  const result = await runCli(['run', file, '--json', '--workers', '2', ...args]);
  const s = summary(result);
  expect(s.status, result.stderr).toBe('succeeded');
  expect(s.ranges as number).toBeGreaterThanOrEqual(2);
  expect(s).toMatchObject({ rowsRead: rows, rowsWritten: rows, dirtyRecords: 0 });
  return s;
}

async function plan(file: string, args: string[] = []): Promise<Array<{ id: number; description: string }>> {
  const result = await runCli(['plan', file, '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { rangeList: Array<{ id: number; description: string }> }).rangeList;
}

/** The largest range's rows over the mean, counting each range's rows with its own description (its SQL condition). */
async function skewOf(ranges: Array<{ description: string }>, count: (where: string) => Promise<number>, total: number): Promise<number> {
  const counts: number[] = [];
  for (const r of ranges) counts.push(await count(r.description));
  expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
  const ratio = Math.max(...counts) / (total / counts.length);
  console.log(`rows per range: ${counts.join(', ')}; largest / mean = ${ratio.toFixed(3)}`);
  return ratio;
}

describe('PostgreSQL', () => {
  it('numeric, timestamptz, boolean, jsonb, bytea and arrays on a composite text key, skewed', async () => {
    await pgc.query('DROP TABLE IF EXISTS it_src_pg_types');
    await pgc.query(`CREATE TABLE it_src_pg_types (
      tenant text NOT NULL, id bigint NOT NULL, amount numeric(30,10), at timestamptz, ok boolean, doc jsonb, raw bytea, nums int[], note text,
      PRIMARY KEY (tenant, id))`);
    // 80% of the rows belong to one tenant: the key's first column alone cannot balance the ranges.
    await pgc.query(`INSERT INTO it_src_pg_types
      SELECT CASE WHEN g % 10 < 8 THEN 'big' ELSE 'tenant-' || (g % 37) END, g,
             CASE WHEN g % 17 = 0 THEN NULL ELSE (g * 1234567.0123456789) % 99999999999 - 5000 END,
             timestamptz '2024-01-01 00:00:00+08' + g * interval '1 second 123456 microseconds',
             CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END,
             jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 7), 'text', 'quote " and \\ backslash'),
             decode(lpad(to_hex(g), 8, '0') || '00ff0a09', 'hex'),
             ARRAY[g, g % 10, -1],
             CASE g % 4 WHEN 0 THEN E'tab\\there\\nnew line' WHEN 1 THEN '大学 🎓' WHEN 2 THEN '' ELSE NULL END
        FROM generate_series(1, 120000) g`);
    await myTable('it_src_pg_types', `tenant VARCHAR(20) NOT NULL, id BIGINT NOT NULL, amount DECIMAL(30,10), at DATETIME(6), ok TINYINT(1),
      doc JSON, raw VARBINARY(64), nums JSON, note TEXT, PRIMARY KEY (tenant, id)`);
    const file = await job('it_src_pg_types', { type: 'postgres', connection: { url: PG_URL }, table: 'public.it_src_pg_types' }, 'it_src_pg_types');

    await run(file, 120_000);
    const expected = await pgDigest(
      pgc,
      `SELECT tenant, id::text, amount::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
              CASE WHEN ok IS NULL THEN NULL WHEN ok THEN '1' ELSE '0' END, doc::text, upper(encode(raw, 'hex')), to_json(nums)::text, note
         FROM it_src_pg_types`,
    );
    expect(await mysqlDigest(my, 'SELECT tenant, id, amount, at, ok, doc, HEX(raw), nums, note FROM it_src_pg_types')).toBe(expected);
  });

  it('a table without a primary key is read in ctid block ranges', async () => {
    await pgc.query('DROP TABLE IF EXISTS it_src_pg_nokey');
    await pgc.query('CREATE TABLE it_src_pg_nokey (id bigint, name text, amount numeric(12,2))');
    await pgc.query(`INSERT INTO it_src_pg_nokey SELECT g % 5000, 'name ' || g, g / 100.0 FROM generate_series(1, 150000) g`);
    await myTable('it_src_pg_nokey', 'id BIGINT, name VARCHAR(50), amount DECIMAL(12,2)');
    const file = await job('it_src_pg_nokey', { type: 'postgres', connection: { url: PG_URL }, table: 'it_src_pg_nokey' }, 'it_src_pg_nokey');

    const ranges = await plan(file);
    expect(ranges[0].description).toMatch(/^ctid < '\(\d+,0\)'::tid$/);
    expect(ranges.at(-1)?.description).toMatch(/^ctid >= '\(\d+,0\)'::tid$/);
    await run(file, 150_000);
    const expected = await pgDigest(pgc, 'SELECT id::text, name, amount::text FROM it_src_pg_nokey');
    expect(await mysqlDigest(my, 'SELECT id, name, amount FROM it_src_pg_nokey')).toBe(expected);
  });

  it('a nullable split key: its NULL rows get a range of their own; a replica is read instead of the primary', async () => {
    await pgc.query('DROP TABLE IF EXISTS it_src_pg_nullable');
    await pgc.query('CREATE TABLE it_src_pg_nullable (id bigint PRIMARY KEY, k varchar(20), v int)');
    await pgc.query(`INSERT INTO it_src_pg_nullable SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'k' || lpad((g % 5000)::text, 5, '0') END, g FROM generate_series(1, 60000) g`);
    await myTable('it_src_pg_nullable', 'id BIGINT PRIMARY KEY, k VARCHAR(20), v INT');
    const source = { type: 'postgres', connection: { url: PG_URL }, table: 'it_src_pg_nullable', splitKey: 'k' };
    const file = await job('it_src_pg_nullable', source, 'it_src_pg_nullable');
    const ranges = await plan(file);
    expect(ranges.at(-1)?.description).toBe('("k" IS NULL)');
    await run(file, 60_000);
    const expected = await pgDigest(pgc, 'SELECT id::text, k, v::text FROM it_src_pg_nullable');
    expect(await mysqlDigest(my, 'SELECT id, k, v FROM it_src_pg_nullable')).toBe(expected);

    // The replica: another database holding the same table with other rows.
    const exists = await pgc.query(`SELECT 1 FROM pg_database WHERE datname = 'it_src_replica'`);
    if (!exists.rowCount) await pgc.query('CREATE DATABASE it_src_replica');
    const replicaUrl = PG_URL.replace(/\/[^/]*$/, '/it_src_replica');
    const replica = new pg.Client({ connectionString: replicaUrl });
    await replica.connect();
    await replica.query('DROP TABLE IF EXISTS it_src_pg_nullable');
    await replica.query('CREATE TABLE it_src_pg_nullable (id bigint PRIMARY KEY, k varchar(20), v int)');
    await replica.query(`INSERT INTO it_src_pg_nullable SELECT g, 'r' || (g % 700), -g FROM generate_series(1, 30000) g`);
    await replica.end();
    await my.query('TRUNCATE TABLE it_src_pg_nullable');
    await run(await job('it_src_pg_replica', { ...source, replica: { url: replicaUrl } }, 'it_src_pg_nullable'), 30_000);
    const [[row]] = (await my.query({ sql: 'SELECT COUNT(*), SUM(v), MIN(k) FROM it_src_pg_nullable', rowsAsArray: true })) as unknown as [string[][]];
    expect(row.map(String)).toEqual(['30000', String(-(30000 * 30001) / 2), 'r0']);
  });
});

describe('balanced plans on a skewed key: 80% of the rows in 1% of the key space', () => {
  const ROWS = 400_000;
  const SPACE = 4_000_000_000;
  // Row g: the first 80% packed into the first 1% of the key space, the rest spread over the other 99%.
  const keyOf = (dialect: 'pg' | 'my') => {
    const div = dialect === 'pg' ? '/' : 'DIV';
    return `CASE WHEN g <= ${ROWS * 0.8} THEN g * ${SPACE / 100 / (ROWS * 0.8)} ELSE ${SPACE / 100} + (g - ${ROWS * 0.8}) * ((${SPACE} - ${SPACE / 100}) ${div} ${ROWS * 0.2}) END`;
  };

  it('PostgreSQL (from a block sample)', async () => {
    await pgc.query('DROP TABLE IF EXISTS it_src_pg_skew');
    // Wide rows, so the table has more blocks than the sample reads: the plan really comes from a sample.
    await pgc.query('CREATE TABLE it_src_pg_skew (id bigint PRIMARY KEY, pad text)');
    await pgc.query(`INSERT INTO it_src_pg_skew SELECT ${keyOf('pg')}, repeat('x', 200) FROM generate_series(1, ${ROWS}) g`);
    const [{ blocks }] = (await pgc.query(`SELECT pg_relation_size('it_src_pg_skew') / 8192 AS blocks`)).rows;
    expect(Number(blocks)).toBeGreaterThan(8000);
    await myTable('it_src_pg_skew', 'id BIGINT PRIMARY KEY, pad TEXT');
    const file = await job('it_src_pg_skew', { type: 'postgres', connection: { url: PG_URL }, table: 'it_src_pg_skew' }, 'it_src_pg_skew');

    const ranges = await plan(file);
    expect(ranges.length).toBe(8);
    const count = async (where: string) => Number((await pgc.query(`SELECT count(*) AS n FROM it_src_pg_skew WHERE ${where}`)).rows[0].n);
    expect(await skewOf(ranges, count, ROWS)).toBeLessThanOrEqual(1.3);
  });

  it('MySQL (from index estimates)', async () => {
    await myTable('it_src_my_skew', 'id BIGINT PRIMARY KEY, v INT');
    await my.query(`SET SESSION max_recursive_iterations = 1000000`);
    await my.query(`INSERT INTO it_src_my_skew WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ${ROWS}) SELECT ${keyOf('my')}, g FROM s`);
    await my.query('ANALYZE TABLE it_src_my_skew');
    await myTable('it_src_my_skew_t', 'id BIGINT PRIMARY KEY, v INT');
    const file = await job('it_src_my_skew', { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_my_skew' }, 'it_src_my_skew_t');

    const ranges = await plan(file);
    expect(ranges.length).toBe(8);
    const count = async (where: string) => {
      const [[row]] = (await my.query({ sql: `SELECT COUNT(*) FROM it_src_my_skew WHERE ${where}`, rowsAsArray: true })) as unknown as [string[][]];
      return Number(row[0]);
    };
    expect(await skewOf(ranges, count, ROWS)).toBeLessThanOrEqual(1.3);
  });
});

describe('MySQL', () => {
  const COLUMNS = 'tenant, id, amount, created, updated, HEX(raw), doc, f, note';
  const DDL = `tenant VARCHAR(20) NOT NULL, id BIGINT NOT NULL, amount DECIMAL(20,6), created DATETIME(6), updated TIMESTAMP NULL,
    raw VARBINARY(16), doc JSON, f DOUBLE, note TEXT, PRIMARY KEY (tenant, id)`;

  async function fill(table: string, rows: number, salt: number): Promise<void> {
    await myTable(table, DDL);
    await my.query(`SET SESSION max_recursive_iterations = 1000000`);
    await my.query(`INSERT INTO ${table} WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ${rows})
      SELECT IF(g % 10 < 8, 'big', CONCAT('t', g % 31)), g * 4194304 + ${salt}, IF(g % 13 = 0, NULL, (g * 1234.567891) % 99999999 - 500),
             TIMESTAMP('2024-01-01') + INTERVAL g SECOND + INTERVAL (g % 1000000) MICROSECOND,
             IF(g % 7 = 0, NULL, TIMESTAMP('2023-06-01') + INTERVAL g MINUTE), UNHEX(LPAD(HEX(g), 8, '0')),
             JSON_OBJECT('g', g, 'salt', ${salt}), g / 7, ELT(1 + g % 4, 'plain', '大学 🎓', CONCAT('tab\\tand\\nnewline ', g), NULL)
        FROM s`);
  }

  it('a composite key, exact decimals, times and bytes, 2 workers', async () => {
    await fill('it_src_my_types', 100_000, 0);
    await myTable('it_src_my_types_t', DDL);
    const file = await job('it_src_my_types', { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_my_types' }, 'it_src_my_types_t', { timezone: 'Asia/Shanghai' });
    await run(file, 100_000);
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_my_types_t`)).toBe(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_my_types`));
  });

  it('with a replica, every read goes to the replica; an unreachable one fails unless replicaFallback', async () => {
    await my.query('CREATE DATABASE IF NOT EXISTS it_src_replica');
    await fill('it_src_replica.it_src_standby', 60_000, 1);
    // The primary's copy differs: a read from it would show in the target.
    await fill('it_src_standby', 50_000, 2);
    const primary = await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_standby`);
    const replica = await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_replica.it_src_standby`);
    expect(replica).not.toBe(primary);

    await myTable('it_src_standby_t', DDL);
    const source = { type: 'mysql', connection: { url: MYSQL_URL }, replica: { url: REPLICA_URL }, table: 'it_src_standby' };
    await run(await job('it_src_standby', source, 'it_src_standby_t'), 60_000);
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_standby_t`)).toBe(replica);

    const down = { ...source, replica: { url: 'mysql://root@127.0.0.1:1/it_src_replica' } };
    const failed = await runCli(['run', await job('it_src_standby_down', down, 'it_src_standby_t'), '--json']);
    expect(failed.code).toBe(1);
    expect(failed.stderr + failed.stdout).toMatch(/source\.replica: cannot reach mysql:\/\/root@127\.0\.0\.1:1\/it_src_replica.*replicaFallback/);
    expect(failed.stderr).not.toMatch(/\n\s+at /);

    await my.query('TRUNCATE TABLE it_src_standby_t');
    await run(await job('it_src_standby_fallback', { ...down, replicaFallback: true }, 'it_src_standby_t'), 50_000);
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_src_standby_t`)).toBe(primary);
  });

  it('a nullable split key gets a NULL range read in primary key order; a table without any key is a clear error', async () => {
    await myTable('it_src_my_nullable', 'id INT PRIMARY KEY, k DATE NULL, v VARCHAR(20), KEY (k)');
    await my.query(`SET SESSION max_recursive_iterations = 1000000`);
    await my.query(`INSERT INTO it_src_my_nullable WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 60000)
      SELECT g, IF(g % 9 = 0, NULL, DATE('2020-01-01') + INTERVAL (g % 2000) DAY), CONCAT('v', g) FROM s`);
    await myTable('it_src_my_nullable_t', 'id INT PRIMARY KEY, k DATE NULL, v VARCHAR(20)');
    const file = await job('it_src_my_nullable', { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_my_nullable', splitKey: 'k' }, 'it_src_my_nullable_t');
    const ranges = await plan(file);
    expect(ranges.at(-1)?.description).toBe('(`k` IS NULL)');
    expect(ranges[1].description).toMatch(/^`k` >= '\d{4}-\d\d-\d\d' AND `k` < '\d{4}-\d\d-\d\d'$/);
    await run(file, 60_000);
    expect(await mysqlDigest(my, 'SELECT id, k, v FROM it_src_my_nullable_t')).toBe(await mysqlDigest(my, 'SELECT id, k, v FROM it_src_my_nullable'));

    await myTable('it_src_my_heap', 'id INT, v VARCHAR(20)');
    const heap = await runCli(['plan', await job('it_src_my_heap', { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_my_heap' }, 'it_src_my_nullable_t')]);
    expect(heap.code).toBe(2);
    expect(heap.stderr).toMatch(/source\.splitKey: it_src_my_heap has no primary key/);
  });

  it('an incremental where with ${bizdate}: plan shows the resolved SQL, the run loads that day', async () => {
    await myTable('it_src_my_daily', 'id BIGINT PRIMARY KEY, dt DATE NOT NULL, v VARCHAR(20), KEY (dt)');
    await my.query(`SET SESSION max_recursive_iterations = 1000000`);
    // Ten days of 20,000 rows each, ids increasing with the day, as an event table grows.
    await my.query(`INSERT INTO it_src_my_daily WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < 199999)
      SELECT g, DATE('2024-02-25') + INTERVAL (g DIV 20000) DAY, CONCAT('v', g) FROM s`);
    await my.query('ANALYZE TABLE it_src_my_daily');
    await myTable('it_src_my_daily_t', 'id BIGINT PRIMARY KEY, dt DATE NOT NULL, v VARCHAR(20)');
    // A fixed logical time: a job name of its own each time, so an earlier test run's ledger entry is not joined.
    const file = await job(`it_src_my_daily_${Date.now().toString(36)}`, { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_my_daily', where: "dt = '${bizdate}'" }, 'it_src_my_daily_t');
    const at = ['--logical-time', '2024-03-02T01:00:00Z'];

    const ranges = await plan(file, at);
    for (const r of ranges) expect(r.description).toMatch(/^\(dt = '20240301'\)/);
    const count = async (where: string) => {
      const [[row]] = (await my.query({ sql: `SELECT COUNT(*) FROM it_src_my_daily WHERE ${where}`, rowsAsArray: true })) as unknown as [string[][]];
      return Number(row[0]);
    };
    // The ranges are cut where that day's rows are, not across all ten days.
    expect(await skewOf(ranges, count, 20_000)).toBeLessThanOrEqual(2);

    await run(file, 20_000, at);
    expect(await mysqlDigest(my, 'SELECT id, dt, v FROM it_src_my_daily_t')).toBe(await mysqlDigest(my, "SELECT id, dt, v FROM it_src_my_daily WHERE dt = '2024-03-01'"));
  });
});
