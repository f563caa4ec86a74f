import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type Part, type Projection } from '../../functions/adapters/files/format.ts';
import { JsonlFileFormat, parseLine } from '../../functions/adapters/files/jsonl-format.ts';
import type { FileInfo, FileStore } from '../../functions/adapters/files/store.ts';
import type { Row } from '../../functions/core/ports.ts';

/** Files in memory, read in small chunks so records straddle them. */
function memoryStore(files: Record<string, Buffer>, chunk = 7): FileStore & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    reads,
    async list() {
      return Object.entries(files).map(([name, data]) => ({ path: name, name, size: data.length }));
    },
    async *read(path: string, start: number, end: number) {
      reads.push([start, end]);
      const data = files[path].subarray(start, end);
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    },
  };
}

const projection = (names: string[]): Projection => ({ names, indexes: names.map((_, i) => i), all: names });

async function readAll(format: JsonlFileFormat, part: Part, position: number | null, names: string[], batchRows = 2) {
  const rows: Row[] = [];
  const rejected: unknown[] = [];
  const positions: number[] = [];
  for await (const b of format.read(part, position, projection(names), batchRows)) {
    rows.push(...b.rows);
    rejected.push(...b.rejected.map((r) => r.reason));
    positions.push(b.position);
  }
  return { rows, rejected, positions };
}

describe('parseLine', () => {
  it('keeps top-level numbers a double would round as text, and nothing else', () => {
    expect(parseLine('{"id":12345678901234567890,"n":-0.12345678901234567,"small":12.5,"e":1e300}')).toEqual({
      id: '12345678901234567890',
      n: '-0.12345678901234567',
      small: 12.5,
      e: 1e300,
    });
    expect(parseLine('{"s":"12345678901234567890","q":"a \\" 12345678901234567890"}')).toEqual({ s: '12345678901234567890', q: 'a " 12345678901234567890' });
    expect((parseLine('{"nested":{"id":12345678901234567890}}') as { nested: { id: number } }).nested.id).toBeTypeOf('number');
  });
});

describe('JSON Lines files', () => {
  const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, name: `n${i}`.repeat(i % 5), nested: { a: [i] } }));
  const text = Buffer.from(`${lines.join('\n')}\n`);
  const file: FileInfo = { path: 'a.jsonl', name: 'a.jsonl', size: text.length };

  it('cuts at line starts without reading the file, and the parts hold every line once', async () => {
    const store = memoryStore({ 'a.jsonl': text });
    const format = new JsonlFileFormat(store, 'auto');
    const parts = await format.split(file, 300);
    expect(parts.length).toBeGreaterThan(4);
    // Each cut reads a window after it, not the file from its start.
    expect(store.reads.every(([start]) => start > 0)).toBe(true);
    const ids: unknown[] = [];
    for (const part of parts) {
      expect(part.start === 0 || text[part.start - 1] === 10).toBe(true);
      ids.push(...(await readAll(format, part, null, ['id'])).rows.map((r) => r[0]));
    }
    expect(ids).toEqual(lines.map((_, i) => i));
  });

  it('finds a line start past a window longer than one read', async () => {
    const long = Buffer.from(`${JSON.stringify({ id: 0, pad: 'x'.repeat(100_000) })}\n{"id":1}\n`);
    const format = new JsonlFileFormat(memoryStore({ 'l.jsonl': long }, 4096), 'auto');
    const parts = await format.split({ path: 'l.jsonl', name: 'l.jsonl', size: long.length }, 10);
    expect(parts.map((p) => [p.start, p.end])).toEqual([[0, long.indexOf(10) + 1], [long.indexOf(10) + 1, long.length]]);
  });

  it('resumes exactly at a batch position', async () => {
    const format = new JsonlFileFormat(memoryStore({ 'a.jsonl': text }), 'auto');
    const part: Part = { path: 'a.jsonl', name: 'a.jsonl', size: text.length, start: 0, end: text.length };
    const all = await readAll(format, part, null, ['id', 'nested'], 3);
    const resumed = await readAll(format, part, all.positions[4], ['id', 'nested'], 3);
    expect(resumed.rows).toEqual(all.rows.slice(15));
    expect(all.rows[3]).toEqual([3, { a: [3] }]);
  });

  it('rejects lines that are not JSON objects, skips blank lines, reads a last line without its newline', async () => {
    const data = Buffer.from('{"id":1}\n\nnot json\n[1,2]\n  \n{"id":2,"extra":true}');
    const format = new JsonlFileFormat(memoryStore({ 'b.jsonl': data }), 'auto');
    const part: Part = { path: 'b.jsonl', name: 'b.jsonl', size: data.length, start: 0, end: data.length };
    const { rows, rejected, positions } = await readAll(format, part, null, ['id', 'missing'], 10);
    expect(rows).toEqual([[1, null], [2, null]]);
    expect(rejected).toEqual([expect.stringMatching(/^not valid JSON/), 'not a JSON object']);
    expect(positions.at(-1)).toBe(data.length);
  });

  it('reads a gzip file whole, and resumes in its decompressed bytes', async () => {
    const zipped = gzipSync(text);
    const format = new JsonlFileFormat(memoryStore({ 'a.jsonl.gz': zipped }), 'auto');
    const zfile: FileInfo = { path: 'a.jsonl.gz', name: 'a.jsonl.gz', size: zipped.length };
    const parts = await format.split(zfile, 10);
    expect(parts).toEqual([{ path: 'a.jsonl.gz', name: 'a.jsonl.gz', size: zipped.length, start: 0, end: null, gzip: true, bytes: zipped.length * 4 }]);
    expect(await format.columns(zfile)).toEqual([{ name: 'id', type: 'json' }, { name: 'name', type: 'json' }, { name: 'nested', type: 'json' }]);
    const all = await readAll(format, parts[0], null, ['id'], 4);
    expect(all.rows.map((r) => r[0])).toEqual(lines.map((_, i) => i));
    const resumed = await readAll(format, parts[0], all.positions[2], ['id'], 4);
    expect(resumed.rows.map((r) => r[0])).toEqual(lines.slice(12).map((_, i) => i + 12));
  });
});
