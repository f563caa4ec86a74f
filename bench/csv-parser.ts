/**
 * The hand-written CSV reader (functions/core/csv.ts) against csv-parse on
 * the same bytes: is the hand-written one still worth keeping? 200,000
 * records (about 20 MB) of the benchmark's shape (ids, text, decimals,
 * datetimes), one in seven with a quoted field holding a comma, a doubled
 * quote and a newline, and some unquoted fields with a stray quote. Each
 * parser reads the bytes in 1 MB chunks three times; the best time counts.
 * `npx tsx bench/csv-parser.ts`; results in bench/CSV-PARSER.md.
 */
import { parse } from 'csv-parse';
import { parseCsv } from '../functions/core/csv.ts';

const ROWS = 200_000;
const lines: string[] = [];
for (let i = 0; i < ROWS; i++) {
  const text = i % 7 === 0 ? `"name ${i}, ""quoted""\nsecond line"` : i % 11 === 0 ? `5" screen ${i}` : `name ${i}`;
  lines.push(`${i},${text},${(i * 37) % 100000}.${i % 100},2024-01-${String((i % 28) + 1).padStart(2, '0')} 10:${String(i % 60).padStart(2, '0')}:00,大学 ${i % 13}`);
}
const bytes = Buffer.from(`${lines.join('\n')}\n`);

async function* chunks(): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += 1 << 20) yield bytes.subarray(i, i + (1 << 20));
}

async function handWritten(): Promise<number> {
  let n = 0;
  for await (const batch of parseCsv(chunks(), { delimiter: ',', quote: '"', nullValue: '' }, 5000)) n += batch.items.length;
  return n;
}

async function csvParse(): Promise<number> {
  let n = 0;
  const parser = parse({ relax_quotes: true, relax_column_count: true });
  const done = (async () => {
    for await (const _ of parser) n++;
  })();
  for await (const chunk of chunks()) if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
  parser.end();
  await done;
  return n;
}

async function best(fn: () => Promise<number>): Promise<{ ms: number; records: number }> {
  let ms = Infinity;
  let records = 0;
  for (let run = 0; run < 3; run++) {
    const t = performance.now();
    records = await fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, records };
}

const mb = bytes.length / 1e6;
for (const [name, fn] of [['batchsync reader', handWritten], ['csv-parse 6 (relax_quotes)', csvParse]] as const) {
  const { ms, records } = await best(fn);
  console.log(`${name.padEnd(28)} ${records} records, ${mb.toFixed(1)} MB: ${ms.toFixed(0)} ms, ${(mb / (ms / 1000)).toFixed(0)} MB/s`);
}
