import { compressors } from 'hyparquet-compressors';
import { type AsyncBuffer, type DecodedArray, type FileMetaData, parquetMetadataAsync, parquetScan, parquetSchema, type SchemaElement } from 'hyparquet';
import { BatchsyncError, JobError, StatementError } from '../../core/errors.ts';
import type { Row, SourceColumn, Value } from '../../core/ports.ts';
import { formatDate, wallTimeAt } from '../../core/time.ts';
import type { FileFormat, Part, PartBatch, Projection, SizedPart } from './format.ts';
import type { FileInfo, FileStore } from './store.ts';

/**
 * Parquet files (hyparquet). A part is a run of row groups [start, end); a
 * position is a row number in the file. Only the footer and the selected
 * columns' chunks of the part's row groups are fetched (byte-range reads),
 * so a consumer fetches its range's bytes and no others. A row group is
 * decoded in slices of rows, so memory holds one row group's compressed
 * chunks and one slice's rows.
 *
 * Values: INT64 as bigint; DECIMAL as exact text (hyparquet would make a
 * double of it); TIMESTAMP as ISO text keeping every fraction digit, with
 * `Z` when adjusted to UTC and as a wall time otherwise; DATE as
 * `YYYY-MM-DD`; strings as text, unannotated bytes as bytes; nested groups
 * (lists, maps, structs) as JSON-able arrays and objects.
 */

/** Rows decoded at once: enough that a page is rarely decoded twice, few enough to keep memory small. */
const SLICE_ROWS = 65_536;

/** Turns a raw (unannotated) value of a column into its exact form; null when the column needs nothing. */
type Fix = ((value: unknown) => Value) | null;

const pad = (n: number | bigint, width: number) => String(n).padStart(width, '0');

/** A date of `days` since 1970-01-01 as `YYYY-MM-DD` (a date, not an instant: no time zone applies). */
function dateFromDays(days: number): string {
  return formatDate(wallTimeAt(days * 86_400_000, 'UTC'));
}

/**
 * Formats counts of `perSecond` units since the epoch as ISO text with all
 * their fraction digits: `…Z` when adjusted to UTC, a wall time otherwise.
 * Rows are usually near each other in time, so the text up to the minute is
 * kept from the last value; a Date is made once a minute, not once a row.
 */
function timestampFormatter(perSecond: number, digits: number, utc: boolean): (value: bigint | number) => string {
  let lastMinute = Number.NaN;
  let prefix = '';
  return (value) => {
    let seconds: number;
    let fraction: number | bigint;
    // Milli- and microseconds of any real date fit a double exactly: number arithmetic is much cheaper than bigint.
    const n = Number(value);
    if (Number.isSafeInteger(n)) {
      seconds = Math.floor(n / perSecond);
      fraction = n - seconds * perSecond;
    } else {
      const unit = BigInt(perSecond);
      let s = BigInt(value) / unit;
      let f = BigInt(value) % unit;
      if (f < 0n) {
        f += unit;
        s -= 1n;
      }
      seconds = Number(s);
      fraction = f;
    }
    const minute = Math.floor(seconds / 60);
    if (minute !== lastMinute) {
      const iso = new Date(minute * 60_000).toISOString();
      prefix = utc ? iso.slice(0, 17) : `${iso.slice(0, 10)} ${iso.slice(11, 17)}`;
      lastMinute = minute;
    }
    const second = seconds - minute * 60;
    return `${prefix}${second < 10 ? '0' : ''}${second}${digits ? `.${pad(fraction, digits)}` : ''}${utc ? 'Z' : ''}`;
  };
}

/** The unscaled integer of a DECIMAL stored as bytes: big-endian two's complement. */
function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return bytes.length && bytes[0] & 0x80 ? n - (1n << BigInt(bytes.length * 8)) : n;
}

function decimalText(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = pad(negative ? -unscaled : unscaled, scale + 1);
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

const UNITS = { MILLIS: [1000, 3], MICROS: [1_000_000, 6], NANOS: [1_000_000_000, 9] } as const;

/** How a top-level column's annotation is read exactly, when hyparquet's own reading would round it. */
function exactReader(el: SchemaElement): Fix {
  const lt = el.logical_type;
  if (el.converted_type === 'DECIMAL' || lt?.type === 'DECIMAL') {
    const scale = lt?.type === 'DECIMAL' ? lt.scale : (el.scale ?? 0);
    return (v) => decimalText(v instanceof Uint8Array ? bytesToBigInt(v) : BigInt(v as number | bigint), scale);
  }
  const unit = lt?.type === 'TIMESTAMP' ? lt.unit : el.converted_type === 'TIMESTAMP_MILLIS' ? 'MILLIS' : el.converted_type === 'TIMESTAMP_MICROS' ? 'MICROS' : null;
  if (unit) {
    const [perSecond, digits] = UNITS[unit];
    const utc = lt?.type === 'TIMESTAMP' ? lt.isAdjustedToUTC : true;
    const format = timestampFormatter(perSecond, digits, utc);
    return (v) => format(v as number | bigint);
  }
  return null;
}

/** A column's type in words, for `batchsync check`. */
function typeName(el: SchemaElement): string {
  const lt = el.logical_type;
  if (lt?.type === 'DECIMAL') return `DECIMAL(${lt.precision},${lt.scale})`;
  if (el.converted_type === 'DECIMAL') return `DECIMAL(${el.precision},${el.scale})`;
  if (lt?.type === 'TIMESTAMP') return `TIMESTAMP(${lt.unit}${lt.isAdjustedToUTC ? ', UTC' : ''})`;
  if (lt) return lt.type;
  if (el.converted_type) return el.converted_type;
  return el.num_children ? 'GROUP' : (el.type ?? 'GROUP');
}

/** A file read through byte-range GETs; the slices of one row group are kept until the next one. */
function rangeBuffer(store: FileStore, file: { path: string; size: number }): AsyncBuffer & { forget(): void } {
  let cache = new Map<string, Promise<ArrayBuffer>>();
  const fetch = async (start: number, end: number): Promise<ArrayBuffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of store.read(file.path, start, end)) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
  return {
    byteLength: file.size,
    slice(start: number, end = file.size) {
      const key = `${start}-${end}`;
      let hit = cache.get(key);
      if (!hit) {
        hit = fetch(start, end);
        cache.set(key, hit);
      }
      return hit;
    },
    forget() {
      cache = new Map();
    },
  };
}

/** The codecs a file may use: what hyparquet decodes itself and what hyparquet-compressors adds. */
const CODECS = new Set(['UNCOMPRESSED', ...Object.keys(compressors)]);

/**
 * Why a file's footer says it cannot be read, or null: every column chunk's
 * codec must be one we decode, and the schema must build. Checked when
 * planning, so an unreadable file fails the run before anything is written.
 */
function unreadable(metadata: FileMetaData): string | null {
  for (const rg of metadata.row_groups) {
    for (const chunk of rg.columns) {
      const codec = chunk.meta_data?.codec;
      if (codec && !CODECS.has(codec)) {
        return `column ${chunk.meta_data?.path_in_schema.join('.')} is compressed with ${codec}, which batchsync cannot decode (it reads ${[...CODECS].join(', ')})`;
      }
    }
  }
  try {
    parquetSchema(metadata);
  } catch (error) {
    return `its schema cannot be read (${(error as Error).message})`;
  }
  return null;
}

function assertReadable(file: FileInfo, metadata: FileMetaData): void {
  const problem = unreadable(metadata);
  if (problem) throw new JobError(`source.url: ${file.name} cannot be read: ${problem}`);
}

/** Dates as dates (no time zone applies), and INT96 timestamps (legacy, UTC) with their nanoseconds. */
const PARSERS = { dateFromDays, timestampFromNanoseconds: timestampFormatter(1_000_000_000, 9, true) };

export class ParquetFileFormat implements FileFormat {
  constructor(private readonly store: FileStore) {}

  async columns(file: FileInfo): Promise<SourceColumn[]> {
    const metadata = await this.metadata(file);
    return parquetSchema(metadata).children.map((c) => ({ name: c.element.name, type: typeName(c.element) }));
  }

  async check(file: FileInfo): Promise<void> {
    assertReadable(file, await this.metadata(file));
  }

  async split(file: FileInfo, bytes: number, columns: readonly SourceColumn[]): Promise<SizedPart[]> {
    const metadata = await this.metadata(file);
    assertReadable(file, metadata);
    const names = parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = columns.filter((c) => !names.includes(c.name));
    if (missing.length) throw new JobError(`source.url: ${file.name} has no column ${missing.map((c) => c.name).join(', ')} (it has ${names.join(', ')})`);
    const parts: SizedPart[] = [];
    let group: SizedPart | null = null;
    metadata.row_groups.forEach((rg, i) => {
      // Weighed by the decoded size: what the consumer works through.
      const size = Number(rg.total_byte_size);
      if (group && group.bytes + size > bytes) group = null;
      if (!group) {
        group = { path: file.path, name: file.name, size: file.size, start: i, end: i, bytes: 0 };
        parts.push(group);
      }
      group.end = i + 1;
      group.bytes += size;
    });
    return parts;
  }

  async *read(part: Part, position: number | null, projection: Projection, batchRows: number): AsyncGenerator<PartBatch> {
    const buffer = rangeBuffer(this.store, part);
    const metadata = await this.metadata(part, buffer);
    const top = parquetSchema(metadata).children;
    const names = [...projection.names];
    const elements = names.map((name) => top.find((c) => c.element.name === name)?.element as SchemaElement);
    const fixes = elements.map((el) => (el.num_children ? null : exactReader(el)));
    // Annotations we read ourselves are taken off, so hyparquet hands over the stored integers and bytes.
    const raw = new Set(elements.filter((_, i) => fixes[i]));
    const plain: FileMetaData = { ...metadata, schema: metadata.schema.map((el) => (raw.has(el) ? { ...el, converted_type: undefined, logical_type: undefined } : el)) };
    // Column by column, each chunk fetched whole once (the exact range, so hyparquet copies nothing) and decoded a slice at a time.
    const scan = await parquetScan({ file: buffer, metadata: plain, columns: names, compressors, utf8: false, useOffsetIndex: false, parsers: PARSERS }).catch((error: unknown) => {
      throw this.readError(part, error);
    });
    const width = names.length;
    let groupStart = metadata.row_groups.slice(0, part.start).reduce((sum, rg) => sum + Number(rg.num_rows), 0);
    for (let g = part.start; g < (part.end as number); g++) {
      const groupEnd = groupStart + Number(metadata.row_groups[g].num_rows);
      buffer.forget();
      for (let from = Math.max(position ?? groupStart, groupStart); from < groupEnd; ) {
        const to = Math.min(groupEnd, from + Math.max(SLICE_ROWS, batchRows));
        const columns: DecodedArray[] = await Promise.all(names.map((column) => scan.readColumn({ column, rowStart: from, rowEnd: to }))).catch((error: unknown) => {
          throw this.readError(part, error);
        });
        for (let b = from; b < to; b += batchRows) {
          const end = Math.min(to, b + batchRows);
          const rows: Row[] = new Array(end - b);
          for (let r = b; r < end; r++) {
            const row: Row = new Array(width);
            for (let i = 0; i < width; i++) {
              const v = columns[i][r - from] as Value | undefined;
              const fix = fixes[i];
              row[i] = v === undefined || v === null ? null : fix ? fix(v) : v;
            }
            rows[r - b] = row;
          }
          yield { rows, rejected: [], position: end };
        }
        from = to;
      }
      groupStart = groupEnd;
    }
  }

  describe(part: Part): string {
    const last = (part.end as number) - 1;
    return `${part.name} row group${last > part.start ? `s ${part.start}-${last}` : ` ${part.start}`}`;
  }

  private readError(part: Part, error: unknown): Error {
    if (error instanceof BatchsyncError) return error;
    return new StatementError(`${part.name}: cannot read Parquet rows: ${(error as Error).message}`, { cause: error });
  }

  /** The footer alone: its length from the last 8 bytes, then exactly its bytes. */
  private async metadata(file: { path: string; name: string; size: number }, buffer = rangeBuffer(this.store, file)): Promise<FileMetaData> {
    try {
      return await parquetMetadataAsync(buffer, { initialFetchSize: 8 });
    } catch (error) {
      if (error instanceof BatchsyncError) throw error;
      throw new JobError(`source.url: ${file.name} is not a Parquet file (${(error as Error).message})`, { cause: error });
    }
  }
}
