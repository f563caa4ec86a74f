import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import type { Projection } from '../../functions/adapters/files/format.ts';
import { ParquetFileFormat } from '../../functions/adapters/files/parquet-format.ts';
import type { FileInfo, FileStore } from '../../functions/adapters/files/store.ts';
import type { Row } from '../../functions/core/ports.ts';

type Schema = NonNullable<Parameters<typeof parquetWriteBuffer>[0]['schema']>;

const N = 1000;
const ids = Array.from({ length: N }, (_, i) => i);
const schema: Schema = [
  { name: 'root', num_children: 8 },
  { name: 'id', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'price', type: 'INT64', converted_type: 'DECIMAL', scale: 2, precision: 18, repetition_type: 'OPTIONAL' },
  { name: 'big', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, converted_type: 'DECIMAL', scale: 10, precision: 38, repetition_type: 'OPTIONAL' },
  { name: 'at', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' }, repetition_type: 'OPTIONAL' },
  { name: 'local', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MILLIS' }, repetition_type: 'OPTIONAL' },
  { name: 'day', type: 'INT32', converted_type: 'DATE', repetition_type: 'OPTIONAL' },
  { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'obj', repetition_type: 'OPTIONAL', num_children: 1 },
  { name: 'k', type: 'INT64', repetition_type: 'OPTIONAL' },
];
const file = parquetWriteBuffer({
  columnData: [
    { name: 'id', data: ids.map((i) => BigInt(i) + 9_007_199_254_740_993n) },
    { name: 'price', data: ids.map((i) => (i % 10 === 0 ? null : BigInt(i * 101 - 5000))) },
    { name: 'big', data: ids.map((i) => -(10n ** 27n) - BigInt(i)) },
    { name: 'at', data: ids.map((i) => 1_704_067_200_000_000n + BigInt(i) * 1_000_001n) },
    { name: 'local', data: ids.map((i) => 1_704_067_200_000n + BigInt(i)) },
    { name: 'day', data: ids.map((i) => new Date(Date.UTC(2024, 0, 1 + i))) },
    { name: 'name', data: ids.map((i) => (i % 3 ? `名前 ${i}` : null)) },
    { name: 'obj', data: ids.map((i) => ({ k: BigInt(i) })) },
  ],
  schema,
  rowGroupSize: 250,
});
const info: FileInfo = { path: 'f.parquet', name: 'f.parquet', size: file.byteLength };

function store(): FileStore & { fetched: Array<[number, number]> } {
  const fetched: Array<[number, number]> = [];
  return {
    fetched,
    async list() {
      return [info];
    },
    async *read(_path: string, start: number, end: number) {
      fetched.push([start, end]);
      yield Buffer.from(file.slice(start, end));
    },
  };
}

async function rows(format: ParquetFileFormat, part: Parameters<ParquetFileFormat['read']>[0], position: number | null, names: string[]) {
  const projection: Projection = { names, indexes: [], all: [] };
  const out: Row[] = [];
  const positions: number[] = [];
  for await (const batch of format.read(part, position, projection, 100)) {
    out.push(...batch.rows);
    positions.push(batch.position);
  }
  return { out, positions };
}

describe('Parquet files', () => {
  it('names its columns and types, and cuts runs of row groups', async () => {
    const format = new ParquetFileFormat(store());
    const columns = await format.columns(info);
    expect(columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      'id INT64', 'price DECIMAL(18,2)', 'big DECIMAL(38,10)', 'at TIMESTAMP(MICROS, UTC)', 'local TIMESTAMP(MILLIS)', 'day DATE', 'name UTF8', 'obj GROUP',
    ]);
    const parts = await format.split(info, 1, columns);
    expect(parts.map((p) => format.describe(p))).toEqual([0, 1, 2, 3].map((g) => `f.parquet row group ${g}`));
    const two = await format.split(info, Number(parquetMetadata(file).row_groups[0].total_byte_size) * 2.5, columns);
    expect(two.map((p) => format.describe(p))).toEqual(['f.parquet row groups 0-1', 'f.parquet row groups 2-3']);
  });

  it('reads exact values: INT64, DECIMAL (int and bytes), TIMESTAMP (UTC and wall), DATE, strings, nested', async () => {
    const format = new ParquetFileFormat(store());
    const [part] = await format.split(info, 1e9, await format.columns(info));
    const { out } = await rows(format, part, null, ['id', 'price', 'big', 'at', 'local', 'day', 'name', 'obj']);
    expect(out).toHaveLength(N);
    expect(out[0]).toEqual([9_007_199_254_740_993n, null, '-100000000000000000.0000000000', '2024-01-01T00:00:00.000000Z', '2024-01-01 00:00:00.000', '2024-01-01', null, { k: 0n }]);
    expect(out[7]).toEqual([9_007_199_254_741_000n, '-42.93', '-100000000000000000.0000000007', '2024-01-01T00:00:07.000007Z', '2024-01-01 00:00:00.007', '2024-01-08', '名前 7', { k: 7n }]);
    expect(out[999][1]).toBe('958.99');
  });

  it('reads one part from the footer and its row groups only, and resumes at a position', async () => {
    const s = store();
    const format = new ParquetFileFormat(s);
    const parts = await format.split(info, 1, await format.columns(info));
    s.fetched.length = 0;
    const { out, positions } = await rows(format, parts[2], null, ['id', 'name']);
    expect(out.map((r) => r[0])).toEqual(ids.slice(500, 750).map((i) => BigInt(i) + 9_007_199_254_740_993n));
    const group = parquetMetadata(file).row_groups[2].columns.map((c) => c.meta_data!);
    const start = Math.min(...group.map((c) => Number(c.dictionary_page_offset ?? c.data_page_offset)));
    const end = Math.max(...group.map((c) => Number(c.dictionary_page_offset ?? c.data_page_offset) + Number(c.total_compressed_size)));
    const footer = file.byteLength - 8 - parquetMetadata(file).metadata_length;
    for (const [a, b] of s.fetched) expect((a >= start && b <= end) || a >= footer).toBe(true);

    const resumed = await rows(format, parts[2], positions[0], ['id']);
    expect(resumed.out.map((r) => r[0])).toEqual(out.slice(100).map((r) => r[0]));
  });
});
