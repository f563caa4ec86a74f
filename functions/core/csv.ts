/**
 * CSV (RFC 4180 with a chosen delimiter and quote). One record reader, on
 * bytes, serves both the planner's splitter (`recordStarts`) and the
 * parser (`parseCsv`), so a file reads the same whole or cut into byte
 * ranges: a cut is only ever made where the reader, run from the file's
 * start, begins a record.
 *
 * The rules:
 * - A quote opens a quoted field only as a field's first character; a quote
 *   anywhere else in an unquoted field (`5" screen`) is a plain character.
 * - In a quoted field a doubled quote is one quote; the closing quote must
 *   be followed by a delimiter, a line end (LF or CRLF) or the end of data.
 * - A record ends at LF; a CR just before it belongs to the line end.
 * - A malformed record (text after a closing quote, a quote never closed
 *   before the end of the data, or a record longer than `maxRecordBytes`)
 *   is reported as the first line of the record, with its 1-based line
 *   number, and reading goes on at the line after it: a stray opening quote
 *   costs its own line, not every line up to the next quote.
 * Lines are physical lines (LF-counted), as an editor numbers them.
 */

import { parseTextLine } from './text-rows.ts';

export interface CsvFormat {
  delimiter: string;
  quote: string;
  /** An unquoted field equal to this is NULL; a quoted one never is. */
  nullValue: string;
}

/** A record longer than this (from its first byte to its line end) is malformed: it bounds the reader's memory. */
export const MAX_RECORD_BYTES = 32 << 20;

/** What a malformed record's text is cut to in its dirty record. */
const MAX_BAD_TEXT = 4096;

const LF = 10;
const CR = 13;
const NEED = -1;
const BAD = -2;
const EMPTY = Buffer.alloc(0);
const TAB = 9;
const BACKSLASH = 92;
const LETTER_N = 78;
/** The byte after the backslash that escapes a byte in escaped text; 0: the byte is itself. */
const ESCAPE_AS = new Uint8Array(256);
for (const [byte, letter] of [[0, '0'], [TAB, 't'], [LF, 'n'], [CR, 'r'], [BACKSLASH, '\\']] as const) ESCAPE_AS[byte] = letter.charCodeAt(0);

/** One record read: its fields (null when only boundaries are read), or why it is malformed. */
export interface CsvItem {
  /** The fields; null for a malformed record, or when the reader reads boundaries only. */
  fields: (string | null)[] | null;
  /** Set for a malformed record: what is wrong. */
  malformed: string | null;
  /** A malformed record's first line, for its dirty record (bounded). */
  text: string | null;
  /** The 1-based line where the record starts. */
  line: number;
  /** The absolute byte offset after the record: where the next record starts. */
  end: number;
  /** The line of the byte at `end`. */
  endLine: number;
}

export interface CsvReaderOptions {
  /** The absolute byte offset of the first byte pushed: where a record starts. */
  offset?: number;
  /** The 1-based line number of that byte. */
  line?: number;
  /** false: only record boundaries are found, no field is made (the splitter). */
  fields?: boolean;
  /**
   * Records are written as escaped text (text-rows.ts) instead of fields:
   * read() stops after `bytes` of text, and takeText() hands it over. A
   * record of another width than `width` is not written: it is an item
   * with its fields.
   */
  text?: { width: number; bytes: number };
  maxRecordBytes?: number;
}

/**
 * Reads records from bytes pushed in order. Bytes are kept from the start
 * of the record being read, so a record may span any number of chunks; a
 * record still incomplete is scanned again only once the data after it has
 * at least doubled, so a long record costs linear time.
 */
export class CsvReader {
  private buf: Buffer = EMPTY;
  /** Absolute offset of buf[0]. */
  private base: number;
  private pos = 0;
  private line: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The last scan needed more bytes than the buffer had. */
  private starved = true;
  /** Dropping bytes up to the next LF: the rest of a malformed record's first line. */
  private skipping = false;
  private skipped: CsvItem | null = null;
  /** Index of the next quote in buf at or after `quoteFrom` (Infinity: none). */
  private quoteAt = -1;
  private quoteFrom = Infinity;
  private readonly delimiter: number;
  private readonly quote: number;
  private readonly quotePair: string;
  private readonly quoteText: string;
  private readonly delimiterText: string;
  private readonly nullValue: string;
  private readonly collect: boolean;
  private readonly max: number;
  // Text mode: the text written so far (out[0, outLen)), its rows, and the last scan's end of text and field count.
  private readonly text: { width: number; bytes: number } | null;
  private readonly nullBytes: Buffer;
  private out: Buffer = EMPTY;
  private outLen = 0;
  private textRows = 0;
  private textEnd = 0;
  private width = 0;
  // Results of the last scan.
  private fields: (string | null)[] = [];
  private lines = 0;
  private reason = '';
  /** With BAD: the index after the last byte the verdict needed. */
  private reach = 0;
  /** With BAD: the index where the record went wrong. */
  private wrongAt = 0;

  constructor(format: CsvFormat, options: CsvReaderOptions = {}) {
    this.delimiter = asciiCode(format.delimiter, 'delimiter');
    this.quote = asciiCode(format.quote, 'quote');
    this.quoteText = format.quote;
    this.quotePair = format.quote + format.quote;
    this.delimiterText = format.delimiter;
    this.nullValue = format.nullValue;
    this.base = options.offset ?? 0;
    this.line = options.line ?? 1;
    this.collect = (options.fields ?? true) && !options.text;
    this.max = options.maxRecordBytes ?? MAX_RECORD_BYTES;
    this.text = options.text ?? null;
    this.nullBytes = Buffer.from(format.nullValue, 'utf8');
  }

  /** Text mode: the text written since the last call, and its rows. */
  takeText(): { data: Buffer; rows: number } {
    const taken = { data: this.out.subarray(0, this.outLen), rows: this.textRows };
    this.out = EMPTY;
    this.outLen = this.textRows = 0;
    return taken;
  }

  /** The absolute offset where the next record starts. */
  get offset(): number {
    return this.base + this.pos;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /**
   * Appends records to `out` until it holds `limit` (in text mode, with the
   * rows written, or until the text reaches its bytes), or the bytes run
   * out. True when it stopped at the limit (call again); false when it needs
   * more bytes, or, with `final` (no more bytes come), when all is read.
   */
  read(out: CsvItem[], limit: number, final: boolean): boolean {
    const textBytes = this.text?.bytes ?? Number.POSITIVE_INFINITY;
    if (this.starved) {
      if (!final && this.pendingBytes < Math.max(1, this.buf.length - this.pos)) return false;
      this.merge();
    }
    while (out.length + this.textRows < limit && this.outLen < textBytes) {
      const len = this.buf.length;
      if (this.skipping) {
        const lf = this.buf.indexOf(LF, this.pos);
        if (lf < 0) {
          this.pos = len;
          if (this.pendingBytes) {
            this.merge();
            continue;
          }
          if (final) this.endSkip(out);
          return this.starve(final);
        }
        this.pos = lf + 1;
        this.line++;
        this.endSkip(out);
        continue;
      }
      if (this.pos >= len) {
        if (this.pendingBytes) {
          this.merge();
          continue;
        }
        return this.starve(final);
      }
      const start = this.pos;
      let next = this.scan(start, final);
      if (next === NEED && len - start <= this.max) {
        if (this.pendingBytes && this.pendingBytes >= len - start) {
          this.merge();
          continue;
        }
        return this.starve(final);
      }
      if (next < 0 || next - start > this.max) next = this.verdict(start, next, len);
      const line = this.line;
      if (next === BAD) {
        // The dirty record is the record's first line: wait for its end, unless the record is already too long.
        if (!final && len - start <= this.max && this.buf.indexOf(LF, start) < 0) {
          if (this.pendingBytes && this.pendingBytes >= len - start) {
            this.merge();
            continue;
          }
          return this.starve(final);
        }
        const item = this.malformed(start, line);
        if (item) out.push(item);
        continue;
      }
      this.pos = next;
      this.line += this.lines;
      if (this.text !== null && this.width === this.text.width) {
        this.outLen = this.textEnd;
        this.textRows++;
        continue;
      }
      // In text mode, a record of another width is left out of the text: it is reported with its fields.
      const fields = this.text !== null ? parseTextLine(this.out.toString('utf8', this.outLen, this.textEnd - 1)) : this.collect ? this.fields : null;
      out.push({ fields, malformed: null, text: null, line, end: this.base + next, endLine: this.line });
    }
    return true;
  }

  private starve(final: boolean): boolean {
    this.starved = !final;
    return false;
  }

  /** The skip over a malformed record's first line is over: the record is reported, ending here. */
  private endSkip(out: CsvItem[]): void {
    this.skipping = false;
    const item = this.skipped as CsvItem;
    this.skipped = null;
    item.end = this.base + this.pos;
    item.endLine = this.line;
    out.push(item);
  }

  private merge(): void {
    const rest = this.buf.subarray(this.pos);
    this.buf = this.pending.length === 1 && rest.length === 0 ? this.pending[0] : Buffer.concat([rest, ...this.pending]);
    this.base += this.pos;
    this.pos = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.quoteFrom = Infinity;
    this.starved = false;
  }

  /**
   * Why the record at `start` is malformed, judged on its own bytes only, so
   * the reason is the same however the data was chunked or cut into ranges:
   * a range parsed alone ends where the whole-file reading resumed, so there
   * a stray quote runs into the range's end instead of into a later quote.
   * `next` is the end of a complete record longer than the limit, NEED (more
   * than the limit buffered), or BAD (`reason`, `reach`, `wrongAt` set).
   */
  private verdict(start: number, next: number, len: number): number {
    const tooLong = next === NEED || (next >= 0 ? next : this.reach) - start > this.max;
    let wrongAt = next >= 0 ? next - 1 : next === NEED ? len : this.wrongAt;
    if (tooLong) wrongAt = Math.min(wrongAt, start + this.max);
    const lf = this.buf.indexOf(LF, start);
    // A line end inside the record before it went wrong: a quoted field ran past the record's first line.
    if (lf >= 0 && lf < wrongAt) this.reason = 'a quote opened on this line is never properly closed (a stray quote?)';
    else if (tooLong) this.reason = `the line is longer than ${this.max} bytes`;
    return BAD;
  }

  /**
   * The malformed record at `start`: its first line is the dirty record,
   * and reading goes on after that line. Null when that line's end is not
   * in the buffer yet: the record is reported once it is skipped over.
   */
  private malformed(start: number, line: number): CsvItem | null {
    const lf = this.buf.indexOf(LF, start);
    const stop = lf < 0 ? this.buf.length : lf;
    let textEnd = Math.min(stop, start + Math.min(MAX_BAD_TEXT, this.max));
    if (textEnd === stop && textEnd > start && this.buf[textEnd - 1] === CR) textEnd--;
    const item: CsvItem = { fields: null, malformed: this.reason, text: this.buf.toString('utf8', start, textEnd), line, end: 0, endLine: 0 };
    if (lf < 0) {
      this.pos = this.buf.length;
      this.skipping = true;
      this.skipped = item;
      return null;
    }
    this.pos = lf + 1;
    this.line++;
    item.end = this.base + this.pos;
    item.endLine = this.line;
    return item;
  }

  /**
   * Scans the record at `pos`: the index after it, NEED when the buffer
   * ends first (and more may come), or BAD with `reason` set. Fields go to
   * `this.fields`, LFs crossed to `this.lines`.
   */
  private scan(pos: number, final: boolean): number {
    const buf = this.buf;
    const len = buf.length;
    const quote = this.quote;
    const delimiter = this.delimiter;
    const collect = this.collect;
    if (pos < this.quoteFrom || this.quoteAt < pos) {
      const q = buf.indexOf(quote, pos);
      this.quoteAt = q < 0 ? Infinity : q;
      this.quoteFrom = pos;
    }
    const lf = buf.indexOf(LF, pos);
    const text = this.text !== null;
    if (text) {
      // A byte takes at most 3 of text: 2 when escaped, or a delimiter's tab and an empty NULL field's \N after it.
      this.reserve(3 * ((lf >= 0 && this.quoteAt > lf ? lf + 1 : len) - pos) + 3);
      this.textEnd = this.outLen;
      this.width = 0;
    }
    if (lf >= 0 && this.quoteAt > lf) {
      // No quote on this line: every field is unquoted, and the native split does it.
      if (text) {
        const lineEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
        let start = pos;
        for (let k = pos; k < lineEnd; k++) {
          if (buf[k] !== delimiter) continue;
          this.putField(buf, start, k, false, false);
          start = k + 1;
        }
        this.putField(buf, start, lineEnd, false, false);
        this.out[this.textEnd - 1] = LF;
      } else if (collect) {
        const lineEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
        const fields: (string | null)[] = buf.toString('utf8', pos, lineEnd).split(this.delimiterText);
        for (let f = 0; f < fields.length; f++) if (fields[f] === this.nullValue) fields[f] = null;
        this.fields = fields;
      }
      this.lines = 1;
      return lf + 1;
    }
    const fields: (string | null)[] = [];
    let lines = 0;
    let i = pos;
    for (;;) {
      if (i < len && buf[i] === quote) {
        let j = i + 1;
        let pairs = false;
        let close: number;
        for (;;) {
          const q = buf.indexOf(quote, j);
          if (q < 0) {
            if (!final) return NEED;
            this.reason = 'a quoted field is never closed';
            this.reach = len;
            this.wrongAt = len;
            return BAD;
          }
          if (q + 1 >= len && !final) return NEED; // the next byte may be a second quote
          if (buf[q + 1] === quote) {
            pairs = true;
            j = q + 2;
            continue;
          }
          close = q;
          break;
        }
        if (close > i + 1) {
          const inside = buf.subarray(i + 1, close);
          for (let n = inside.indexOf(LF); n >= 0; n = inside.indexOf(LF, n + 1)) lines++;
        }
        if (text) this.putField(buf, i + 1, close, true, pairs);
        else if (collect) {
          const value = buf.toString('utf8', i + 1, close);
          fields.push(pairs ? value.replaceAll(this.quotePair, this.quoteText) : value);
        }
        i = close + 1;
        if (i >= len) break; // final: the data ends the record
        const c = buf[i];
        if (c === delimiter) {
          i++;
          continue;
        }
        if (c === LF) {
          lines++;
          i++;
          break;
        }
        if (c === CR && i + 1 < len && buf[i + 1] === LF) {
          lines++;
          i += 2;
          break;
        }
        if (c === CR && i + 1 >= len) {
          if (!final) return NEED;
          i++;
          break;
        }
        this.reason = `a closing quote is followed by ${JSON.stringify([...buf.toString('utf8', i, Math.min(len, i + 4))][0])} instead of a delimiter or a line end`;
        this.reach = i + 1;
        this.wrongAt = i;
        return BAD;
      }
      let j = i;
      while (j < len) {
        const c = buf[j];
        if (c === delimiter || c === LF) break;
        j++;
      }
      if (j >= len && !final) return NEED;
      const e = j < len && j > i && buf[j - 1] === CR && buf[j] === LF ? j - 1 : j;
      if (text) this.putField(buf, i, e, false, false);
      else if (collect) {
        const value = buf.toString('utf8', i, e);
        fields.push(value === this.nullValue ? null : value);
      }
      i = j;
      if (i >= len) break;
      if (buf[i] === LF) {
        lines++;
        i++;
        break;
      }
      i++; // a delimiter: another field follows
    }
    if (text) this.out[this.textEnd - 1] = LF;
    this.fields = fields;
    this.lines = lines;
    return i;
  }

  /**
   * Text mode: writes the field buf[start, end) and a tab after it at
   * textEnd (the record's last tab becomes its line end). An unquoted field
   * equal to the null value is \N; in a quoted one with `pairs` (doubled
   * quotes) a doubled quote is one.
   */
  private putField(buf: Buffer, start: number, end: number, quoted: boolean, pairs: boolean): void {
    const out = this.out;
    let o = this.textEnd;
    const nulls = this.nullBytes;
    if (!quoted && end - start === nulls.length && (end === start || buf.compare(nulls, 0, nulls.length, start, end) === 0)) {
      out[o++] = BACKSLASH;
      out[o++] = LETTER_N;
    } else {
      for (let i = start; i < end; i++) {
        const c = buf[i];
        const escape = ESCAPE_AS[c];
        if (escape !== 0) {
          out[o++] = BACKSLASH;
          out[o++] = escape;
        } else out[o++] = c;
        if (pairs && c === this.quote) i++;
      }
    }
    out[o++] = TAB;
    this.textEnd = o;
    this.width++;
  }

  /** Text mode: room for `bytes` more after the text written so far. */
  private reserve(bytes: number): void {
    if (this.outLen + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.outLen + bytes, 2 * this.out.length, 64 << 10));
    this.out.copy(grown, 0, 0, this.outLen);
    this.out = grown;
  }
}

function asciiCode(char: string, what: string): number {
  const code = char.charCodeAt(0);
  if (char.length !== 1 || code > 127 || code === LF || code === CR) throw new CsvFormatError(`csv.${what} must be one ASCII character other than a line end`);
  return code;
}

/** A delimiter or quote the reader cannot use. */
export class CsvFormatError extends Error {}

/** A record start found by the splitter: its byte offset and line. */
export interface RecordStart {
  offset: number;
  line: number;
}

/**
 * For each target offset (ascending, absolute), the first record start at
 * or after it, found by reading records from `from` (a record start on
 * line `line`) with the parser's own reader, so a cut is always where the
 * parser reading the whole file would begin a record. A target with no
 * record start after it maps to `end`.
 */
export async function recordStarts(
  chunks: AsyncIterable<Buffer>,
  targets: readonly number[],
  format: CsvFormat,
  end: number,
  from: { offset: number; line: number } = { offset: 0, line: 1 },
  maxRecordBytes = MAX_RECORD_BYTES,
): Promise<RecordStart[]> {
  const reader = new CsvReader(format, { offset: from.offset, line: from.line, fields: false, maxRecordBytes });
  const found: RecordStart[] = [];
  const items: CsvItem[] = [];
  // The start of the record being read: a target at or before it maps to it.
  let at = { offset: from.offset, line: from.line };
  const take = (): boolean => {
    for (const item of items) {
      while (found.length < targets.length && targets[found.length] <= at.offset) found.push(at);
      at = { offset: item.end, line: item.endLine };
    }
    while (found.length < targets.length && targets[found.length] <= at.offset) found.push(at);
    items.length = 0;
    return found.length === targets.length;
  };
  let done = targets.length === 0;
  for await (const chunk of chunks) {
    if (done) break;
    reader.push(chunk);
    while (!done && reader.read(items, 4096, false)) done = take();
    if (!done) done = take();
  }
  if (!done) {
    while (!done && reader.read(items, 4096, true)) done = take();
    if (!done) take();
  }
  while (found.length < targets.length) found.push({ offset: end, line: 0 });
  return found.map((s) => (s.offset >= end ? { offset: end, line: s.line } : s));
}

export interface ParsedBatch {
  /** Records in order, malformed ones included. */
  items: CsvItem[];
  /** The absolute byte offset after the batch's last record. */
  end: number;
}

/**
 * Parses a stream of bytes that starts at a record boundary (absolute
 * offset `from.offset`, line `from.line`) into batches of `batchRows`
 * records. The last record may lack its line end. Never throws for the
 * data's sake: a malformed record is an item saying what is wrong.
 */
export async function* parseCsv(
  chunks: AsyncIterable<Buffer>,
  format: CsvFormat,
  batchRows: number,
  from: { offset: number; line: number } = { offset: 0, line: 1 },
  maxRecordBytes = MAX_RECORD_BYTES,
): AsyncGenerator<ParsedBatch> {
  const reader = new CsvReader(format, { offset: from.offset, line: from.line, maxRecordBytes });
  let items: CsvItem[] = [];
  for await (const chunk of chunks) {
    reader.push(chunk);
    while (reader.read(items, batchRows, false)) {
      yield { items, end: reader.offset };
      items = [];
    }
  }
  while (reader.read(items, batchRows, true)) {
    yield { items, end: reader.offset };
    items = [];
  }
  if (items.length > 0) yield { items, end: reader.offset };
}

export interface TextCsvBatch {
  /** The records of `width` fields, as escaped text (text-rows.ts). */
  text: Buffer;
  rows: number;
  /** The records left out of the text, in order: malformed ones, and those of another width (with their fields). */
  items: CsvItem[];
  /** The absolute byte offset after the batch's last record. */
  end: number;
}

/**
 * parseCsv, with the records written as escaped text: batches of about
 * `size.rows` records or `size.bytes` of text, whichever comes first.
 */
export async function* csvAsText(
  chunks: AsyncIterable<Buffer>,
  format: CsvFormat,
  width: number,
  size: { rows: number; bytes: number },
  from: { offset: number; line: number } = { offset: 0, line: 1 },
  maxRecordBytes = MAX_RECORD_BYTES,
): AsyncGenerator<TextCsvBatch> {
  const reader = new CsvReader(format, { offset: from.offset, line: from.line, text: { width, bytes: size.bytes }, maxRecordBytes });
  let items: CsvItem[] = [];
  const batch = (): TextCsvBatch => {
    const { data, rows } = reader.takeText();
    const taken = { text: data, rows, items, end: reader.offset };
    items = [];
    return taken;
  };
  for await (const chunk of chunks) {
    reader.push(chunk);
    while (reader.read(items, size.rows, false)) yield batch();
  }
  while (reader.read(items, size.rows, true)) yield batch();
  const last = batch();
  if (last.rows > 0 || last.items.length > 0) yield last;
}
