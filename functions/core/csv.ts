import { StringDecoder } from 'node:string_decoder';

/**
 * CSV (RFC 4180 with a chosen delimiter and quote): record boundaries for
 * splitting a file into byte ranges, and a streaming parser that reports the
 * byte offset after each batch so a range can resume exactly there.
 */

export interface CsvFormat {
  delimiter: string;
  quote: string;
  /** An unquoted field equal to this is NULL; a quoted one never is. */
  nullValue: string;
}

const NEWLINE = 10;

/**
 * For each target offset (ascending), the first record start at or after it,
 * found by tracking quote parity from the start of the file, so a newline
 * inside a quoted field is never taken for a boundary. A target with no
 * record start after it maps to the end of the data (`end`).
 */
export async function recordStarts(chunks: AsyncIterable<Buffer>, targets: readonly number[], quoteChar: string, end: number): Promise<number[]> {
  const quote = quoteChar.charCodeAt(0);
  const found: number[] = [];
  let offset = 0;
  let inQuote = false;
  for await (const chunk of chunks) {
    let p = 0;
    while (found.length < targets.length && p < chunk.length) {
      if (inQuote) {
        const q = chunk.indexOf(quote, p);
        if (q < 0) break;
        inQuote = false;
        p = q + 1;
        continue;
      }
      const q = chunk.indexOf(quote, p);
      const stop = q < 0 ? chunk.length : q;
      // A newline at target-1 means a record starts exactly at the target.
      const from = Math.max(p, targets[found.length] - offset - 1);
      const n = from < stop ? chunk.indexOf(NEWLINE, from) : -1;
      if (n >= 0 && n < stop) {
        const start = offset + n + 1;
        // Targets close together can share one record start.
        while (found.length < targets.length && targets[found.length] <= start) found.push(start);
        p = n + 1;
        continue;
      }
      if (q < 0) break;
      inQuote = true;
      p = q + 1;
    }
    offset += chunk.length;
    if (found.length === targets.length) break;
  }
  while (found.length < targets.length) found.push(end);
  return found.map((start) => Math.min(start, end));
}

export interface ParsedBatch {
  rows: (string | null)[][];
  /** Bytes from the parser's start to the end of the batch's last record. */
  bytesConsumed: number;
}

/**
 * Parses a stream of bytes that starts at a record boundary into batches of
 * `batchRows` records. The last record may lack its newline. A quote that
 * never closes is an error naming the offset where the record began.
 */
export async function* parseCsv(chunks: AsyncIterable<Buffer>, format: CsvFormat, batchRows: number): AsyncGenerator<ParsedBatch> {
  const decoder = new StringDecoder('utf8');
  const delimiter = format.delimiter.charCodeAt(0);
  const quote = format.quote.charCodeAt(0);
  const quotePair = format.quote + format.quote;
  const nullValue = format.nullValue;
  let text = '';
  let consumedBytes = 0;
  let rows: (string | null)[][] = [];

  // The next quote at or after the parse position (-1: none in the text); kept so that finding it stays linear.
  let nextQuote = -1;
  let quoteFrom = Infinity;

  // Parses one record at `pos`; returns the index after it, or -1 when the text ends first.
  let record: (string | null)[] = [];
  const parseRecord = (pos: number, final: boolean): number => {
    const end = text.indexOf('\n', pos);
    if (pos < quoteFrom || (nextQuote >= 0 && nextQuote < pos)) {
      nextQuote = text.indexOf(format.quote, pos);
      quoteFrom = pos;
    }
    if (end >= 0 && (nextQuote < 0 || nextQuote > end)) {
      // No quote in this line: the native split does it.
      const lineEnd = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
      record = text.slice(pos, lineEnd).split(format.delimiter);
      for (let f = 0; f < record.length; f++) if (record[f] === nullValue) record[f] = null;
      return end + 1;
    }
    record = [];
    const len = text.length;
    let i = pos;
    for (;;) {
      if (i < len && text.charCodeAt(i) === quote) {
        let j = i + 1;
        let hasPair = false;
        for (;;) {
          const q = text.indexOf(format.quote, j);
          if (q < 0) return -1;
          if (q + 1 < len && text.charCodeAt(q + 1) === quote) {
            hasPair = true;
            j = q + 2;
            continue;
          }
          if (q + 1 >= len && !final) return -1; // the next char may be a second quote
          const value = text.slice(i + 1, q);
          record.push(hasPair ? value.replaceAll(quotePair, format.quote) : value);
          i = q + 1;
          break;
        }
      } else {
        let j = i;
        while (j < len) {
          const c = text.charCodeAt(j);
          if (c === delimiter || c === NEWLINE) break;
          j++;
        }
        if (j >= len && !final) return -1;
        let e = j;
        if (j < len && text.charCodeAt(j) === NEWLINE && e > i && text.charCodeAt(e - 1) === 13) e--;
        const value = text.slice(i, e);
        record.push(value === nullValue ? null : value);
        i = j;
      }
      if (i >= len) return final ? len : -1;
      const c = text.charCodeAt(i);
      if (c === delimiter) {
        i++;
        continue;
      }
      if (c === 13 && i + 1 < len && text.charCodeAt(i + 1) === NEWLINE) return i + 2;
      if (c === NEWLINE) return i + 1;
      if (c === 13 && i + 1 >= len && !final) return -1;
      throw new CsvSyntaxError(`a quoted field is followed by ${JSON.stringify(text[i])} instead of a delimiter or a line end`);
    }
  };

  const drain = function* (final: boolean): Generator<ParsedBatch> {
    let pos = 0;
    let batchStart = 0;
    while (pos < text.length) {
      const next = parseRecord(pos, final);
      if (next < 0) break;
      rows.push(record);
      pos = next;
      if (rows.length >= batchRows) {
        consumedBytes += Buffer.byteLength(text.slice(batchStart, pos));
        batchStart = pos;
        yield { rows, bytesConsumed: consumedBytes };
        rows = [];
      }
    }
    consumedBytes += Buffer.byteLength(text.slice(batchStart, pos));
    text = text.slice(pos);
    quoteFrom = Infinity;
  };

  try {
    for await (const chunk of chunks) {
      text += decoder.write(chunk);
      yield* drain(false);
    }
    text += decoder.end();
    yield* drain(true);
    if (text.length > 0) throw new CsvSyntaxError('a quoted field is never closed');
  } catch (error) {
    if (error instanceof CsvSyntaxError) error.offset = consumedBytes;
    throw error;
  }
  if (rows.length > 0) yield { rows, bytesConsumed: consumedBytes };
}

/** Malformed CSV; `offset` is counted from where the parser started. */
export class CsvSyntaxError extends Error {
  offset = 0;
}
