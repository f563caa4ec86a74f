import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startFauxqs } from 'fauxqs';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3Store } from '../../functions/adapters/files/s3-store.ts';
import { FilesSource } from '../../functions/adapters/files/source.ts';
import { Digest, MYSQL_URL, mysqlConnection, mysqlDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * Files sources against the S3 emulator (and one local directory): each
 * job runs with 2 workers over at least 4 ranges, and the target is compared
 * with the data written, by count and content digest.
 */

let server: Awaited<ReturnType<typeof startFauxqs>>;
let s3: S3Client;
let my: mysql.Connection;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startFauxqs({ port: 0, logger: false });
  server.createBucket('it-src');
  env = { AWS_ENDPOINT_URL_S3: server.address, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  s3 = createS3Client({ endpoint: server.address, region: 'us-east-1', forcePathStyle: true });
  my = await mysqlConnection();
  dir = await tempDir();
});

afterAll(async () => {
  s3?.destroy();
  await my?.end();
  await server?.stop();
});

const put = (key: string, body: Uint8Array | string) =>
  s3.send(new PutObjectCommand({ Bucket: 'it-src', Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body }));

async function table(name: string, columns: string): Promise<void> {
  await my.query(`DROP TABLE IF EXISTS ${name}`);
  await my.query(`CREATE TABLE ${name} (${columns}) DEFAULT CHARSET=utf8mb4`);
}

/** Runs a job with 2 workers; checks it succeeded over at least 4 ranges with every row written. */
async function runJob(name: string, source: object, target: string, rows: number, extraEnv = env): Promise<Record<string, unknown>> {
  const job = await writeJob(dir, {
    name,
    source,
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table: target, ledger: { prefix: 'it_src_' } },
    channel: { maxConcurrency: 2 },
  }, `${name}.json`);
  const result = await runCli(['run', job, '--json', '--workers', '2'], extraEnv);
  const s = summary(result);
  expect(s.status, result.stderr).toBe('succeeded');
  expect(s.ranges as number).toBeGreaterThanOrEqual(4);
  expect(s).toMatchObject({ rowsRead: rows, rowsWritten: rows, dirtyRecords: 0 });
  return s;
}

const name = (i: number) => (i % 7 === 0 ? `comma, "quoted"\nline ${i}` : i % 7 === 1 ? `大学 ${i} 🎓` : `name ${i}`);
const amount = (i: number) => `${Math.floor(i / 3)}.${String((i * 37) % 10000).padStart(4, '0')}`;
const created = (i: number) => new Date(Date.UTC(2024, 0, 1) + i * 61_000).toISOString().slice(0, 19).replace('T', ' ');

describe('files on S3', () => {
  it('CSV: a big file cut at record boundaries, a gzip file, many small files grouped', async () => {
    const expected = new Digest();
    const line = (i: number) => {
      expected.add([String(i), name(i), amount(i), created(i)]);
      return `${i},"${name(i).replaceAll('"', '""')}",${amount(i)},${created(i)}\n`;
    };
    const header = 'id,name,amount,created\n';
    let big = header;
    for (let i = 0; i < 60_000; i++) big += line(i);
    let zipped = header;
    for (let i = 60_000; i < 70_000; i++) zipped += line(i);
    await put('csv/big.csv', big);
    await put('csv/more.csv.gz', gzipSync(zipped));
    for (let f = 0; f < 30; f++) {
      let small = header;
      for (let i = 70_000 + f * 100; i < 70_000 + (f + 1) * 100; i++) small += line(i);
      await put(`csv/small/part-${String(f).padStart(2, '0')}.csv`, small);
    }
    await put('csv/_SUCCESS', '');
    await table('it_src_s3_csv', 'id BIGINT PRIMARY KEY, name VARCHAR(255), amount DECIMAL(14,4), created DATETIME');

    const s = await runJob('it_src_s3_csv', { type: 'files', url: 's3://it-src/csv/', format: 'csv' }, 'it_src_s3_csv', 73_000);
    // 32 files, but the small ones share ranges.
    expect(s.ranges as number).toBeLessThan(20);
    expect(await mysqlDigest(my, 'SELECT id, name, amount, created FROM it_src_s3_csv')).toBe(expected.toString());
  });

  it('JSON Lines: long integers exact, nested objects as JSON, a gzip file', async () => {
    const expected = new Digest();
    const record = (i: number) => {
      const id = 1_800_000_000_000_000_000n + BigInt(i) * 4_194_304n; // snowflake-like, beyond 2^53
      const meta = { tags: ['a', `t${i % 5}`], n: i };
      expected.add([String(id), name(i), (i / 4).toFixed(2), JSON.stringify(meta), i % 2 ? '1' : '0']);
      return `{"id":${id},"name":${JSON.stringify(name(i))},"amount":${i / 4},"meta":${JSON.stringify(meta)},"flag":${i % 2 === 1}}\n`;
    };
    let big = '';
    for (let i = 0; i < 50_000; i++) big += record(i);
    let zipped = '';
    for (let i = 50_000; i < 60_000; i++) zipped += record(i);
    await put('jsonl/a.jsonl', big);
    await put('jsonl/b.jsonl.gz', gzipSync(zipped));
    await table('it_src_s3_jsonl', 'id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(255), amount DECIMAL(12,2), meta JSON, flag TINYINT(1)');

    await runJob('it_src_s3_jsonl', { type: 'files', url: 's3://it-src/jsonl/', format: 'jsonl' }, 'it_src_s3_jsonl', 60_000);
    expect(await mysqlDigest(my, 'SELECT id, name, amount, meta, flag FROM it_src_s3_jsonl')).toBe(expected.toString());
  });

  it('Parquet: INT64, DECIMAL, TIMESTAMP, DATE, strings and nested values, ranges of row groups', async () => {
    const expected = new Digest();
    for (let f = 0; f < 3; f++) {
      const ids = Array.from({ length: 20_000 }, (_, k) => f * 20_000 + k);
      for (const i of ids) {
        const ts = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().slice(0, 19).replace('T', ' ');
        expected.add([
          String(BigInt(i) * 1_000_000_007n),
          scaled(BigInt(i) * 123_456_789n - 5n, 4),
          `${ts}.${String(i % 1_000_000).padStart(6, '0')}`,
          new Date(Date.UTC(2020, 0, 1 + (i % 1000))).toISOString().slice(0, 10),
          i % 3 ? `s${i}` : null,
          JSON.stringify(['a', String(i % 10)]),
          JSON.stringify({ x: i, y: 'z' }),
        ]);
      }
      await put(`parquet/part-${f}.parquet`, new Uint8Array(parquetFile(ids, 5000)));
    }
    await table(
      'it_src_s3_parquet',
      'id BIGINT PRIMARY KEY, amount DECIMAL(18,4), ts DATETIME(6), d DATE, s VARCHAR(50), tags JSON, obj JSON',
    );
    await runJob('it_src_s3_parquet', { type: 'files', url: 's3://it-src/parquet/', format: 'parquet' }, 'it_src_s3_parquet', 60_000);
    expect(await mysqlDigest(my, 'SELECT id, amount, ts, d, s, tags, obj FROM it_src_s3_parquet')).toBe(expected.toString());
  });

  it('Parquet: the consumer of one range fetches only its row group and the footer', async () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => i);
    const file = parquetFile(ids, 10_000);
    await put('bytes/one.parquet', new Uint8Array(file));
    const metadata = parquetMetadata(file);
    expect(metadata.row_groups.length).toBe(4);

    const requests: Array<{ key: string; start: number; end: number; bytes: number }> = [];
    const client = createS3Client({ endpoint: server.address, region: 'us-east-1', forcePathStyle: true });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'GetObjectCommand') {
          const input = args.input as { Key: string; Range: string };
          const [start, end] = input.Range.replace('bytes=', '').split('-').map(Number);
          const output = result.output as { ContentLength?: number };
          requests.push({ key: input.Key, start, end: end + 1, bytes: output.ContentLength ?? 0 });
        }
        return result;
      },
      { step: 'initialize' },
    );
    const source = new FilesSource(new S3Store(client, 's3://it-src/bytes/'), { type: 'files', url: 's3://it-src/bytes/', format: 'parquet', compression: 'auto' });
    const ranges = await source.plan(4);
    expect(ranges.map((r) => r.description)).toEqual([0, 1, 2, 3].map((g) => `one.parquet row group ${g}`));

    requests.length = 0;
    let rows = 0;
    for await (const batch of source.read(ranges[2], null, 1000)) rows += batch.rows.length;
    expect(rows).toBe(10_000);

    const columns = metadata.row_groups[2].columns.map((c) => c.meta_data!);
    const groupStart = Math.min(...columns.map((c) => Number(c.dictionary_page_offset ?? c.data_page_offset)));
    const groupEnd = Math.max(...columns.map((c) => Number(c.dictionary_page_offset ?? c.data_page_offset) + Number(c.total_compressed_size)));
    const footerStart = file.byteLength - 8 - metadata.metadata_length;
    for (const r of requests) {
      expect(r.key).toBe('bytes/one.parquet');
      const inGroup = r.start >= groupStart && r.end <= groupEnd;
      const inFooter = r.start >= footerStart && r.end <= file.byteLength;
      expect(inGroup || inFooter, `bytes ${r.start}-${r.end}`).toBe(true);
    }
    const fetched = requests.reduce((sum, r) => sum + r.bytes, 0);
    expect(fetched).toBeLessThanOrEqual(groupEnd - groupStart + file.byteLength - footerStart);
    expect(fetched).toBeLessThan(file.byteLength / 2);
    console.log(`Parquet range read: ${fetched} of ${file.byteLength} bytes fetched (row group ${groupEnd - groupStart}, footer ${file.byteLength - footerStart})`);
    client.destroy();
  });

  it('an s3:// URL naming one object reads that object; a missing bucket is a clear error', async () => {
    await table('it_src_s3_one', 'id BIGINT PRIMARY KEY, name VARCHAR(255), amount DECIMAL(14,4), created DATETIME');
    const job = await writeJob(dir, {
      name: 'it_src_s3_missing',
      source: { type: 'files', url: 's3://it-src-missing/csv/', format: 'csv' },
      target: { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_src_s3_one', ledger: { prefix: 'it_src_' } },
    }, 'missing.json');
    const result = await runCli(['plan', job], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/it-src-missing/);
    expect(result.stderr).not.toMatch(/\n\s+at /);

    const store = new S3Store(s3, 's3://it-src/csv/big.csv');
    const files = await store.list();
    expect(files.map((f) => f.name)).toEqual(['big.csv']);
  });
});

describe('files on a local directory', () => {
  it('JSON Lines and Parquet from file://', async () => {
    const local = join(dir, 'local');
    await mkdir(join(local, 'jsonl'), { recursive: true });
    await mkdir(join(local, 'parquet'), { recursive: true });
    const expected = new Digest();
    let text = '';
    for (let i = 0; i < 40_000; i++) {
      text += `${JSON.stringify({ id: i, name: name(i), amount: amount(i), created: created(i) })}\n`;
      expected.add([String(i), name(i), amount(i), created(i)]);
    }
    await writeFile(join(local, 'jsonl', 'a.jsonl'), text);
    await table('it_src_local_jsonl', 'id BIGINT PRIMARY KEY, name VARCHAR(255), amount DECIMAL(14,4), created DATETIME');
    await runJob('it_src_local_jsonl', { type: 'files', url: `file://${local}/jsonl/`, format: 'jsonl', columns: ['id', 'name', 'amount', 'created'] }, 'it_src_local_jsonl', 40_000);
    expect(await mysqlDigest(my, 'SELECT id, name, amount, created FROM it_src_local_jsonl')).toBe(expected.toString());

    const ids = Array.from({ length: 20_000 }, (_, i) => i);
    await writeFile(join(local, 'parquet', 'a.parquet'), new Uint8Array(parquetFile(ids, 4000)));
    await table('it_src_local_parquet', 'id BIGINT PRIMARY KEY, s VARCHAR(50)');
    await runJob('it_src_local_parquet', { type: 'files', url: `file://${local}/parquet/`, format: 'parquet', columns: ['id', 's'] }, 'it_src_local_parquet', 20_000);
    const [[row]] = (await my.query({ sql: 'SELECT COUNT(*), SUM(id), COUNT(s) FROM it_src_local_parquet', rowsAsArray: true })) as unknown as [string[][]];
    expect(row.map(String)).toEqual(['20000', String(ids.reduce((a, b) => a + b, 0) * 1_000_000_007), String(ids.filter((i) => i % 3).length)]);
  });
});

/** An unscaled decimal as MySQL shows it with `scale` places. */
function scaled(unscaled: bigint, scale: number): string {
  const digits = String(unscaled < 0n ? -unscaled : unscaled).padStart(scale + 1, '0');
  return `${unscaled < 0n ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** A Parquet file of the test's columns for `ids`, in row groups of `groupRows`. */
function parquetFile(ids: number[], groupRows: number): ArrayBuffer {
  // hyparquet-writer brings its own hyparquet types.
  const schema: NonNullable<Parameters<typeof parquetWriteBuffer>[0]['schema']> = [
    { name: 'root', num_children: 7 },
    { name: 'id', type: 'INT64', repetition_type: 'REQUIRED' },
    { name: 'amount', type: 'INT64', converted_type: 'DECIMAL', scale: 4, precision: 18, logical_type: { type: 'DECIMAL', scale: 4, precision: 18 }, repetition_type: 'OPTIONAL' },
    { name: 'ts', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' }, repetition_type: 'OPTIONAL' },
    { name: 'd', type: 'INT32', converted_type: 'DATE', repetition_type: 'OPTIONAL' },
    { name: 's', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'tags', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'obj', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'x', type: 'INT32', repetition_type: 'OPTIONAL' },
    { name: 'y', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  ];
  return parquetWriteBuffer({
    columnData: [
      { name: 'id', data: ids.map((i) => BigInt(i) * 1_000_000_007n) },
      { name: 'amount', data: ids.map((i) => BigInt(i) * 123_456_789n - 5n) },
      { name: 'ts', data: ids.map((i) => BigInt(Date.UTC(2024, 0, 1) + i * 1000) * 1000n + BigInt(i % 1_000_000)) },
      { name: 'd', data: ids.map((i) => new Date(Date.UTC(2020, 0, 1 + (i % 1000)))) },
      { name: 's', data: ids.map((i) => (i % 3 ? `s${i}` : null)) },
      { name: 'tags', data: ids.map((i) => ['a', String(i % 10)]) },
      { name: 'obj', data: ids.map((i) => ({ x: i, y: 'z' })) },
    ],
    schema,
    rowGroupSize: groupRows,
  });
}
