import { describe, expect, it } from 'vitest';
import { type CsvFormat, parseCsv, recordStarts } from '../../functions/core/csv.ts';

const FORMAT: CsvFormat = { delimiter: ',', quote: '"', nullValue: '' };

async function* chunksOf(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function parseAll(text: string, size = 1 << 20, batchRows = 1000, format = FORMAT) {
  const rows: (string | null)[][] = [];
  const offsets: number[] = [];
  for await (const batch of parseCsv(chunksOf(text, size), format, batchRows)) {
    rows.push(...batch.rows);
    offsets.push(batch.bytesConsumed);
  }
  return { rows, offsets };
}

describe('parseCsv', () => {
  it('reads quoted fields, doubled quotes, delimiters and newlines inside quotes, CRLF and NULLs', async () => {
    const text = 'a,"b, ""c""",1\r\n"multi\nline",,""""\n"x",\u5927\u5b66,🎓';
    for (const size of [1, 2, 3, 7, 1 << 20]) {
      const { rows } = await parseAll(text, size);
      expect(rows).toEqual([
        ['a', 'b, "c"', '1'],
        ['multi\nline', null, '"'],
        ['x', '大学', '🎓'],
      ]);
    }
  });

  it('an unquoted field equal to nullValue is NULL, a quoted one is text', async () => {
    const { rows } = await parseAll('\\N,"\\N",\n', 1 << 20, 10, { ...FORMAT, nullValue: '\\N' });
    expect(rows).toEqual([[null, '\\N', '']]);
  });

  it('reports the byte offset after each batch, in bytes not characters', async () => {
    const text = 'é,1\n"ü\n",2\nz,3\n';
    const { offsets } = await parseAll(text, 2, 1);
    expect(offsets).toEqual([5, 13, 17]);
    expect(Buffer.byteLength(text)).toBe(17);
  });

  it('a quote that never closes is an error', async () => {
    await expect(parseAll('a,"b\nc,d\n')).rejects.toThrow(/never closed/);
  });

  it('text after a closing quote is an error', async () => {
    await expect(parseAll('"a"b,c\n')).rejects.toThrow(/followed by "b"/);
  });

  it('uses the configured delimiter and quote', async () => {
    const { rows } = await parseAll("a\t'b\tc'\n", 1 << 20, 10, { delimiter: '\t', quote: "'", nullValue: '' });
    expect(rows).toEqual([['a', 'b\tc']]);
  });
});

describe('recordStarts', () => {
  it('never cuts inside a quoted field, whatever the chunking', async () => {
    const records = ['id,text', ...Array.from({ length: 300 }, (_, i) => `${i},"line\n${'x'.repeat(i % 17)}\n""q"""`)];
    const text = `${records.join('\n')}\n`;
    const size = Buffer.byteLength(text);
    const targets = [1, 100, 101, 777, 2000, 3333, size - 3];
    for (const chunk of [1, 5, 64, 1 << 20]) {
      const starts = await recordStarts(chunksOf(text, chunk), targets, '"', size);
      // Every start is a record start: parsing from it gives whole records only.
      const expectedStarts: number[] = [];
      let offset = 0;
      for (const r of records) {
        offset += Buffer.byteLength(r) + 1;
        expectedStarts.push(offset);
      }
      for (const [i, s] of starts.entries()) {
        expect(s).toBeGreaterThanOrEqual(targets[i]);
        expect([...expectedStarts, size]).toContain(s);
        expect(expectedStarts.filter((e) => e >= targets[i] && e < s)).toEqual([]);
      }
    }
  });

  it('ranges cut at the found starts parse back into exactly the whole file', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => `${i},"a,b\n${i}",${i % 3 ? i : ''}`);
    const text = `${records.join('\n')}\n`;
    const size = Buffer.byteLength(text);
    const starts = await recordStarts(chunksOf(text, 333), [1000, 5000, 9000, 12000], '"', size);
    const cuts = [0, ...starts, size];
    const all: (string | null)[][] = [];
    const bytes = Buffer.from(text);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const part = bytes.subarray(cuts[i], cuts[i + 1]).toString();
      all.push(...(await parseAll(part, 50)).rows);
    }
    expect(all).toEqual((await parseAll(text)).rows);
    expect(all).toHaveLength(1000);
  });
});
