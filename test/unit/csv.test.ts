import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CsvFormat, type CsvItem, csvAsText, parseCsv, recordStarts } from '../../functions/core/csv.ts';
import { parseTextRows } from '../../functions/core/text-rows.ts';

const FORMAT: CsvFormat = { delimiter: ',', quote: '"', nullValue: '' };
const STRAY = 'a quote opened on this line is never properly closed (a stray quote?)';

async function* chunksOf(bytes: Buffer | string, size: number): AsyncGenerator<Buffer> {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function parseAll(text: string | Buffer, size = 1 << 20, batchRows = 1000, format = FORMAT, from = { offset: 0, line: 1 }, max?: number) {
  const items: CsvItem[] = [];
  const offsets: number[] = [];
  for await (const batch of parseCsv(chunksOf(text, size), format, batchRows, from, max)) {
    items.push(...batch.items);
    offsets.push(batch.end);
  }
  const rows = items.map((i) => i.fields);
  return { items, rows, offsets };
}

/** What a reading yields, in a form two readings can be compared by. */
const shape = (items: CsvItem[]) => items.map((i) => (i.fields ? { line: i.line, fields: i.fields } : { line: i.line, bad: i.malformed, text: i.text }));

/** Reads `bytes` as ranges cut at the record starts found for `targets`, each range parsed alone. */
async function parseSplit(bytes: Buffer, targets: number[], chunk: number, format = FORMAT, max?: number) {
  const starts = await recordStarts(chunksOf(bytes, chunk), targets, format, bytes.length, undefined, max);
  const cuts = [{ offset: 0, line: 1 }, ...starts.filter((s) => s.offset < bytes.length)];
  const items: CsvItem[] = [];
  for (let i = 0; i < cuts.length; i++) {
    const end = i + 1 < cuts.length ? cuts[i + 1].offset : bytes.length;
    if (end <= cuts[i].offset) continue;
    for await (const batch of parseCsv(chunksOf(bytes.subarray(cuts[i].offset, end), chunk), format, 7, cuts[i], max)) items.push(...batch.items);
  }
  return { items, starts };
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

  it('a quote inside an unquoted field is a plain character', async () => {
    const { rows, items } = await parseAll('1,5" screen,x\n2,a"b"c,"q"\n3,"",x"\n');
    expect(rows).toEqual([
      ['1', '5" screen', 'x'],
      ['2', 'a"b"c', 'q'],
      ['3', '', 'x"'],
    ]);
    expect(items.every((i) => i.malformed === null)).toBe(true);
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
    // Offsets are absolute: a range that starts at byte 100 reports from there.
    expect((await parseAll(text, 3, 1, FORMAT, { offset: 100, line: 9 })).offsets).toEqual([105, 113, 117]);
  });

  it('text after a closing quote makes one malformed record, named by its line; reading goes on at the next line', async () => {
    const text = 'id,v\n1,"ok\nstill ok"\n2,"a"b,c\n3,x\n';
    for (const size of [1, 4, 1 << 20]) {
      const { items } = await parseAll(text, size);
      expect(shape(items)).toEqual([
        { line: 1, fields: ['id', 'v'] },
        { line: 2, fields: ['1', 'ok\nstill ok'] },
        { line: 4, bad: 'a closing quote is followed by "b" instead of a delimiter or a line end', text: '2,"a"b,c' },
        { line: 5, fields: ['3', 'x'] },
      ]);
      // The offset of the malformed record's end is where the next record begins (byte 31).
      expect(items[2].end).toBe(Buffer.byteLength('id,v\n1,"ok\nstill ok"\n2,"a"b,c\n'));
    }
  });

  it('a quote never closed costs its own line only', async () => {
    const { items } = await parseAll('1,"abc\n2,x\n3,y');
    expect(shape(items)).toEqual([
      { line: 1, bad: STRAY, text: '1,"abc' },
      { line: 2, fields: ['2', 'x'] },
      { line: 3, fields: ['3', 'y'] },
    ]);
  });

  it('a stray opening quote pairs with the next quote, and only its own line is lost', async () => {
    const { items } = await parseAll('1,"abc\n2,x\n3,"q"\n4,z\n');
    expect(shape(items)).toEqual([
      { line: 1, bad: STRAY, text: '1,"abc' },
      { line: 2, fields: ['2', 'x'] },
      { line: 3, fields: ['3', 'q'] },
      { line: 4, fields: ['4', 'z'] },
    ]);
  });

  it('a record longer than the limit is malformed, whatever the chunking', async () => {
    const text = `1,"${'x'.repeat(100)}\n${'y'.repeat(50)}"\n2,ok\n3,${'z'.repeat(200)}\n4,ok\n`;
    for (const size of [1, 13, 1 << 20]) {
      const { items } = await parseAll(text, size, 1000, FORMAT, undefined, 64);
      expect(shape(items).map((i) => ('bad' in i ? `${i.line} bad` : `${i.line} ${i.fields.join(',')}`))).toEqual([
        '1 bad', '2 ' + 'y'.repeat(50) + '"', '3 2,ok', '4 bad', '5 4,ok',
      ]);
    }
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
    const expectedStarts: number[] = [];
    let offset = 0;
    for (const r of records) {
      offset += Buffer.byteLength(r) + 1;
      expectedStarts.push(offset);
    }
    for (const chunk of [1, 5, 64, 1 << 20]) {
      const starts = await recordStarts(chunksOf(text, chunk), targets, FORMAT, size);
      for (const [i, s] of starts.entries()) {
        expect(s.offset).toBeGreaterThanOrEqual(targets[i]);
        expect([...expectedStarts, size]).toContain(s.offset);
        expect(expectedStarts.filter((e) => e >= targets[i] && e < s.offset)).toEqual([]);
        // Each record is 3 lines: the line of a start is known without reading from the file's start again.
        if (s.offset < size) expect(s.line).toBe(2 + 3 * (expectedStarts.indexOf(s.offset)));
      }
    }
  });

  it('a quote inside an unquoted field does not flip the splitter: whole and split read the same', async () => {
    const records = Array.from({ length: 400 }, (_, i) => (i % 5 === 0 ? `${i},5" screen,"a\nb"` : `${i},plain,"x"`));
    const bytes = Buffer.from(`${records.join('\n')}\n`);
    const whole = await parseAll(bytes);
    expect(whole.items.every((i) => i.malformed === null)).toBe(true);
    const split = await parseSplit(bytes, [1000, 2000, 3000, 4000], 333);
    expect(shape(split.items)).toEqual(shape(whole.items));
    expect(split.items).toHaveLength(400);
  });
});

// ---- properties ----------------------------------------------------------------

/** Pieces random CSV text is made of: quotes, doubled quotes, delimiters, CR, LF, CRLF, multi-byte characters, spaces. */
const PIECES = ['a', 'b1', ' ', ',', ',', '"', '"', '""', '\n', '\n', '\r\n', '\r', 'é', '大学', '🎓', '\\N', ''];
const csvText = fc.array(fc.constantFrom(...PIECES), { maxLength: 120 }).map((p) => p.join(''));

describe('property: a file reads the same whole or cut at any bytes', () => {
  it('random text, random cuts, random chunking, with and without the record-length limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvText,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(undefined, 12),
        async (text, rawCuts, chunk, max) => {
          const bytes = Buffer.from(text);
          const targets = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const whole = shape((await parseAll(bytes, 1 << 20, 1000, FORMAT, undefined, max)).items);
          expect(shape((await parseAll(bytes, chunk, 3, FORMAT, undefined, max)).items)).toEqual(whole);
          const split = await parseSplit(bytes, targets, chunk, FORMAT, max);
          expect(shape(split.items)).toEqual(whole);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('every byte is in exactly one record: records tile the data, and lines count the line ends', async () => {
    await fc.assert(
      fc.asyncProperty(csvText, fc.integer({ min: 1, max: 16 }), async (text, chunk) => {
        const bytes = Buffer.from(text);
        const { items } = await parseAll(bytes, chunk);
        let at = 0;
        let line = 1;
        for (const item of items) {
          expect(item.line).toBe(line);
          const lfs = bytes.subarray(at, item.end).filter((b) => b === 10).length;
          line += lfs;
          expect(item.endLine).toBe(line);
          at = item.end;
        }
        expect(at).toBe(bytes.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('property: valid CSV reads as csv-parse reads it (relax_quotes)', () => {
  const plain = fc.array(fc.constantFrom('a', 'Z9', ' ', 'é', '大学', '🎓', '"', "'"), { maxLength: 5 }).map((p) => p.join('')).filter((s) => !s.startsWith('"'));
  const quoted = fc.array(fc.constantFrom('a', ',', '"', '\n', '\r\n', '\r', 'é', '🎓', ' '), { maxLength: 6 }).map((p) => `"${p.join('').replaceAll('"', '""')}"`);
  const record = fc.array(fc.oneof(plain, quoted), { minLength: 1, maxLength: 5 }).map((f) => f.join(','));
  const file = fc.tuple(fc.array(fc.tuple(record, fc.constantFrom('\n', '\r\n')), { minLength: 1, maxLength: 30 }), fc.boolean()).map(([records, last]) => {
    const text = records.map(([r, end]) => r + end).join('');
    return last ? text : text.slice(0, text.endsWith('\r\n') ? -2 : -1);
  });
  it('same fields, no malformed record', async () => {
    const format = { ...FORMAT, nullValue: '\u0000' };
    await fc.assert(
      fc.asyncProperty(file, fc.integer({ min: 1, max: 32 }), async (text, chunk) => {
        const expected: string[][] = parse(text, { relax_quotes: true, relax_column_count: true, record_delimiter: ['\r\n', '\n'] });
        const { items } = await parseAll(text, chunk, 1000, format);
        expect(items.map((i) => i.malformed)).toEqual(items.map(() => null));
        expect(items.map((i) => i.fields)).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('property: CSV as escaped text holds the same records', () => {
  /** The records of a text reading, in order: text rows as fields, the others as parseCsv shows them. */
  async function textReading(bytes: Buffer, chunk: number, width: number, size: { rows: number; bytes: number }, format = FORMAT) {
    const records: unknown[] = [];
    const ends: number[] = [];
    for await (const batch of csvAsText(chunksOf(bytes, chunk), format, width, size)) {
      const rows = parseTextRows(batch.text, width);
      expect(rows.length).toBe(batch.rows);
      // Text rows and left-out records are in one order only within a batch: compare them as sets of each kind.
      records.push(...rows.map((fields) => ({ fields })), ...shape(batch.items).map((r) => ({ ...r, line: undefined })));
      ends.push(batch.end);
    }
    return { records, ends };
  }

  it('random text, random chunking, any width and batch size: the records parseCsv reads', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvText,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom({ rows: 2, bytes: 1 << 20 }, { rows: Number.POSITIVE_INFINITY, bytes: 5 }, { rows: 1000, bytes: 1 << 20 }),
        fc.constantFrom(FORMAT, { ...FORMAT, nullValue: '\\N' }, { delimiter: '\t', quote: "'", nullValue: 'NULL' }),
        async (text, chunk, width, size, format) => {
          const bytes = Buffer.from(format.delimiter === '\t' ? text.replaceAll(',', '\t').replaceAll('"', "'") : text);
          const { items } = await parseAll(bytes, 1 << 20, 1000, format);
          const { records, ends } = await textReading(bytes, chunk, width, size, format);
          const kind = (r: { fields?: unknown }) => (r.fields && (r.fields as unknown[]).length === width ? 'text' : 'left out');
          const expected = shape(items).map((r) => ('fields' in r && r.fields?.length === width ? { fields: r.fields } : { ...r, line: undefined }));
          const byKind = (list: unknown[]) => ['text', 'left out'].map((k) => list.filter((r) => kind(r as { fields?: unknown }) === k));
          expect(byKind(records)).toEqual(byKind(expected));
          expect(ends.at(-1) ?? 0).toBe(items.at(-1)?.end ?? 0);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('escapes what escaped text must, keeps quoted NULL text, and closes a batch at its bytes', async () => {
    const csv = 'a\\b,"x\ty"\n"",c\rd\r\n"l1\nl2",\n,,\n';
    const batches = [];
    for await (const b of csvAsText(chunksOf(csv, 3), FORMAT, 2, { rows: 100, bytes: 1 << 20 })) batches.push(b);
    expect(batches.map((b) => b.text.toString())).toEqual(['a\\\\b\tx\\ty\n\tc\\rd\nl1\\nl2\t\\N\n']);
    expect(batches[0].items.map((i) => [i.line, i.fields])).toEqual([[5, [null, null, null]]]);
    const small = [];
    for await (const b of csvAsText(chunksOf('1,2\n3,4\n5,6\n', 4), FORMAT, 2, { rows: 100, bytes: 4 })) small.push(b.rows);
    expect(small).toEqual([1, 1, 1]);
  });
});
