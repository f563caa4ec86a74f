import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parquetMetadata } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../functions/adapters/files/local-store.ts';
import { ParquetFileFormat } from '../../functions/adapters/files/parquet-format.ts';
import { buildConverter } from '../../functions/core/convert.ts';
import { JobError } from '../../functions/core/errors.ts';
import type { Row } from '../../functions/core/ports.ts';
import { column } from './columns.ts';

/**
 * Parquet written by DuckDB in every codec it writes, read by batchsync and
 * converted for MySQL columns, compared value for value with DuckDB's own
 * reading of the same file (as MySQL literal text).
 */

const CODECS = ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4_raw', 'lz4', 'brotli'];
const ROWS = 3000;

const SELECT = `SELECT
  i::BIGINT + 9007199254740000 AS id,
  (i * 7 - 10000)::INTEGER AS n,
  i * 0.25 AS dbl,
  (i * 12345 - 999999)::DECIMAL(18,4) / 100 AS price,
  ('-12345678901234567890.' || lpad((i * 7919 % 10000000000)::VARCHAR, 10, '0'))::DECIMAL(38,10) AS wide,
  CASE WHEN i % 5 = 0 THEN NULL ELSE '名前 ' || i || ' 🎓 "q", x' END AS name,
  DATE '2024-01-01' + (i % 400)::INTEGER AS day,
  TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 1000003) AS at,
  i % 3 = 0 AS flag,
  [i, i + 1, 9007199254740993 + i] AS list,
  {'a': i::INTEGER, 'b': 9007199254740993 + i, 'c': 'x' || i} AS obj
FROM range(${ROWS}) t(i)`;

/** What DuckDB reads from a file, as the text each MySQL column gets. */
const EXPECTED = (path: string) => `SELECT
  id::VARCHAR, n::VARCHAR, dbl::VARCHAR, printf('%.4f', price), wide::VARCHAR, name,
  strftime(day, '%Y-%m-%d'), strftime("at", '%Y-%m-%d %H:%M:%S.%f'), CASE WHEN flag THEN '1' ELSE '0' END,
  to_json(list)::VARCHAR, to_json(obj)::VARCHAR
FROM read_parquet('${path}')`;

const TARGET = [
  column('bigint', { name: 'id' }), column('int', { name: 'n' }), column('double', { name: 'dbl' }), column('decimal(18,4)', { name: 'price' }),
  column('decimal(38,10)', { name: 'wide' }), column('varchar(100)', { name: 'name' }), column('date', { name: 'day' }), column('datetime(6)', { name: 'at' }),
  column('tinyint(1)', { name: 'flag' }), column('json', { name: 'list' }), column('json', { name: 'obj' }),
];

let dir: string;
let duck: DuckDBConnection;
let instance: DuckDBInstance;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-parquet-'));
  instance = await DuckDBInstance.create(':memory:');
  duck = await instance.connect();
  for (const codec of CODECS) await duck.run(`COPY (${SELECT}) TO '${join(dir, `${codec}.parquet`)}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 1000)`);
});

afterAll(async () => {
  duck?.closeSync();
  instance?.closeSync();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function readThroughBatchsync(path: string): Promise<(string | null)[][]> {
  const store = new LocalStore(pathToFileURL(path).href);
  const format = new ParquetFileFormat(store);
  const [info] = await store.list();
  const columns = await format.columns(info);
  const parts = await format.split(info, 1, columns);
  expect(parts.length).toBeGreaterThanOrEqual(2);
  const names = columns.map((c) => c.name);
  const convert = buildConverter(columns, TARGET, { timeZone: 'UTC', emptyAsNull: true });
  const out: (string | null)[][] = [];
  for (const part of parts) {
    for await (const batch of format.read(part, null, { names, indexes: names.map((_, i) => i), all: names }, 500)) {
      const converted = convert(batch.rows as Row[], 0);
      expect(converted.dirty).toEqual([]);
      out.push(...converted.rows);
    }
  }
  return out;
}

describe('DuckDB-written Parquet in every codec', () => {
  it.each(CODECS)('%s: every value as DuckDB reads it', async (codec) => {
    const path = join(dir, `${codec}.parquet`);
    const expected = (await duck.runAndReadAll(EXPECTED(path))).getRows().map((r) => r.map((v) => (v === null ? null : String(v))));
    const got = await readThroughBatchsync(path);
    expect(got).toHaveLength(ROWS);
    for (let i = 0; i < ROWS; i += 1) if (JSON.stringify(got[i]) !== JSON.stringify(expected[i])) expect(got[i], `row ${i}`).toEqual(expected[i]);
    // Nested integers stay JSON numbers with all their digits.
    expect(got[1][9]).toBe('[1,2,9007199254740994]');
    expect(got[1][10]).toBe('{"a":1,"b":9007199254740994,"c":"x1"}');
  });

  it('the codecs really differ', async () => {
    const { readFile } = await import('node:fs/promises');
    const codecs = new Set<string>();
    for (const codec of CODECS) codecs.add(parquetMetadata((await readFile(join(dir, `${codec}.parquet`))).buffer as ArrayBuffer).row_groups[0].columns[0].meta_data!.codec);
    expect([...codecs].sort()).toEqual(expect.arrayContaining(['BROTLI', 'GZIP', 'SNAPPY', 'UNCOMPRESSED', 'ZSTD']));
    expect([...codecs].some((c) => c.startsWith('LZ4'))).toBe(true);
  });

  it('a file that is not Parquet, or in a codec nobody decodes, fails at planning, naming the file and the reason', async () => {
    const bad = join(dir, 'bad');
    await rm(bad, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(join(bad, 'a.parquet'), 'not parquet at all, not even close');
    const store = new LocalStore(pathToFileURL(bad).href);
    const format = new ParquetFileFormat(store);
    const [info] = await store.list();
    await expect(format.split(info, 1, [])).rejects.toThrow(JobError);
    await expect(format.split(info, 1, [])).rejects.toThrow(/a\.parquet/);
  });
});
