import { describe, expect, it } from 'vitest';
import { CsvFileFormat } from '../../functions/adapters/files/csv-format.ts';
import type { Part, Projection } from '../../functions/adapters/files/format.ts';
import type { FileInfo, FileStore } from '../../functions/adapters/files/store.ts';
import { JobError } from '../../functions/core/errors.ts';

/** A file of 2,000 records: multi-line quoted fields, stray quotes in unquoted fields, one malformed record (on line 2,002). */
const lines: string[] = ['id,text,n'];
for (let i = 0; i < 2000; i++) {
  if (i === 1500) lines.push(`${i},"broken"here,${i}`);
  else if (i % 3 === 0) lines.push(`${i},"two\nlines ""q""",${i}`);
  else lines.push(`${i},5" screen,${i}`);
}
const file = Buffer.from(`${lines.join('\n')}\n`);
const info: FileInfo = { path: 'f.csv', name: 'dir/f.csv', size: file.length };
const store: FileStore = {
  async list() {
    return [info];
  },
  async *read(_path, start, end) {
    for (let i = start; i < end; i += 997) yield file.subarray(i, Math.min(end, i + 997));
  },
};
const format = () => new CsvFileFormat(store, { header: true, delimiter: ',', quote: '"', nullValue: '' }, 'none');
const projection: Projection = { names: ['id', 'text', 'n'], indexes: [0, 1, 2], all: ['id', 'text', 'n'] };

async function readParts(parts: Part[]) {
  const rows: unknown[][] = [];
  const rejected: Array<{ record: unknown; reason: string }> = [];
  for (const part of parts) {
    for await (const batch of format().read(part, null, projection, 100)) {
      rows.push(...batch.rows);
      rejected.push(...batch.rejected);
    }
  }
  return { rows, rejected };
}

describe('CSV files', () => {
  it('read the same whole or split; the malformed record is one dirty record naming the file and the line its record starts on', async () => {
    const f = format();
    const columns = (await f.columns(info)) ?? [];
    const whole = await readParts(await f.split(info, file.length * 2, columns));
    const parts = await f.split(info, 4096, columns);
    expect(parts.length).toBeGreaterThan(5);
    const split = await readParts(parts);
    expect(split).toEqual(whole);
    expect(whole.rows).toHaveLength(1999);
    // 1 header line, 500 two-line records before record 1500.
    expect(whole.rejected).toEqual([{ record: '1500,"broken"here,1500', reason: 'dir/f.csv line 2002: malformed CSV: a closing quote is followed by "h" instead of a delimiter or a line end' }]);
    expect(whole.rows[1]).toEqual(['1', '5" screen', '1']);
    expect(whole.rows[3]).toEqual(['3', 'two\nlines "q"', '3']);
  });

  it('a range resumed inside a part still names the right line', async () => {
    const f = format();
    const [part] = await f.split(info, file.length * 2, (await f.columns(info)) ?? []);
    let resumeAt = 0;
    for await (const batch of f.read(part, null, projection, 700)) {
      resumeAt = batch.position;
      break;
    }
    const rejected: string[] = [];
    for await (const batch of f.read(part, resumeAt, projection, 100)) rejected.push(...batch.rejected.map((r) => r.reason));
    expect(rejected).toEqual(['dir/f.csv line 2002: malformed CSV: a closing quote is followed by "h" instead of a delimiter or a line end']);
  });

  it('a delimiter or quote that is not one ASCII character is a job error', () => {
    expect(() => new CsvFileFormat(store, { header: true, delimiter: '§', quote: '"', nullValue: '' }, 'none')).toThrow(JobError);
  });
});
