import { JobError } from '../../core/errors.ts';
import type { Row, SourceColumn, Value } from '../../core/ports.ts';
import { describeBytes, evenCuts, type FileFormat, GZIP_RATIO, isGzip, lineStarts, type Part, type PartBatch, partBytes, type Projection, type SizedPart } from './format.ts';
import type { FileInfo, FileStore } from './store.ts';

/**
 * JSON Lines: one JSON object a line. A newline inside a JSON value is
 * always escaped, so any newline is a record boundary: a file is cut by
 * reading a small window at each cut (no scan, on S3 too). A position is the
 * byte after the last line read. Numbers that a double cannot hold exactly
 * (long integers, long decimals) are kept as their text.
 */
export class JsonlFileFormat implements FileFormat {
  constructor(
    private readonly store: FileStore,
    private readonly compression: 'none' | 'gzip' | 'auto',
  ) {}

  async columns(file: FileInfo): Promise<SourceColumn[] | null> {
    const gzip = isGzip(file.name, this.compression);
    const whole: Part = { path: file.path, name: file.name, size: file.size, start: 0, end: gzip ? null : file.size, gzip: gzip || undefined };
    for await (const batch of this.lines(whole, 0, 1)) {
      const [first] = batch.records;
      const value = parseLine(first.text);
      if (!isObject(value)) throw new JobError(`source.url: the first line of ${file.name} is not a JSON object; give source.columns`);
      return Object.keys(value).map((name) => ({ name, type: 'json' }));
    }
    throw new JobError(`source.url: ${file.name} is empty; give source.columns`);
  }

  async split(file: FileInfo, bytes: number): Promise<SizedPart[]> {
    const base = { path: file.path, name: file.name, size: file.size };
    if (isGzip(file.name, this.compression)) return [{ ...base, start: 0, end: null, gzip: true, bytes: file.size * GZIP_RATIO }];
    const targets = evenCuts(0, file.size, bytes);
    const cuts = [...new Set([0, ...(await lineStarts(this.store, file, targets)), file.size])].sort((a, b) => a - b);
    const parts: SizedPart[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1] > cuts[i]) parts.push({ ...base, start: cuts[i], end: cuts[i + 1], bytes: cuts[i + 1] - cuts[i] });
    return parts;
  }

  async *read(part: Part, position: number | null, projection: Projection, batchRows: number): AsyncGenerator<PartBatch> {
    const names = projection.names;
    for await (const batch of this.lines(part, position ?? part.start, batchRows)) {
      const rows: Row[] = [];
      const rejected: PartBatch['rejected'] = [];
      for (const { text } of batch.records) {
        let value: unknown;
        try {
          value = parseLine(text);
        } catch (error) {
          rejected.push({ record: text, reason: `not valid JSON: ${(error as Error).message}` });
          continue;
        }
        if (!isObject(value)) {
          rejected.push({ record: text, reason: 'not a JSON object' });
          continue;
        }
        const row: Row = new Array(names.length);
        for (let i = 0; i < names.length; i++) row[i] = (value[names[i]] ?? null) as Value;
        rows.push(row);
      }
      yield { rows, rejected, position: batch.position };
    }
  }

  describe(part: Part): string {
    return describeBytes(part);
  }

  /** Non-blank lines from `start`, in batches, each batch with the byte after its last line. */
  private async *lines(part: Part, start: number, batchRows: number): AsyncGenerator<{ records: Array<{ text: string }>; position: number }> {
    let carry: Buffer | null = null;
    let offset = start; // of carry's (or the next chunk's) first byte
    let records: Array<{ text: string }> = [];
    for await (const chunk of partBytes(this.store, part, start)) {
      const data: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      let from = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, from)) {
        const text = data.toString('utf8', from, nl);
        from = nl + 1;
        if (text.trim()) records.push({ text });
        if (records.length >= batchRows) {
          yield { records, position: offset + from };
          records = [];
        }
      }
      carry = from < data.length ? data.subarray(from) : null;
      offset += from;
    }
    // The last line may lack its newline.
    if (carry && carry.toString('utf8').trim()) records.push({ text: carry.toString('utf8') });
    if (records.length) yield { records, position: offset + (carry?.length ?? 0) };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A run of 16 or more digits (with a point or exponent) may be a number a double rounds. */
const LONG_NUMBER = /\d[\d.eE+-]{15,}/;

/**
 * Parses a line. A top-level number a double cannot hold exactly (16 or more
 * significant digits) is kept as its text, so `12345678901234567890` reaches
 * a BIGINT or DECIMAL column intact; numbers nested deeper stay numbers, as
 * JSON has them.
 */
export function parseLine(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  return JSON.parse(quoteLongNumbers(text));
}

function significantDigits(token: string): number {
  return token.replace(/[eE].*$/, '').replace(/[^0-9]/g, '').replace(/^0+/, '').length;
}

/** The JSON text with each long number token that is a member of the top-level object quoted. */
function quoteLongNumbers(text: string): string {
  let out = '';
  let last = 0;
  let depth = 0;
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '{' || c === '[') {
      depth++;
      i++;
    } else if (c === '}' || c === ']') {
      depth--;
      i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && '0123456789.eE+-'.includes(text[j])) j++;
      if (depth === 1 && significantDigits(text.slice(i, j)) >= 16) {
        out += `${text.slice(last, i)}"${text.slice(i, j)}"`;
        last = j;
      }
      i = j;
    } else i++;
  }
  return out + text.slice(last);
}
