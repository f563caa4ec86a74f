import type { TextLike } from './convert.ts';
import type { Chunk, OutRow } from './ports.ts';

/**
 * Rows as escaped text: what PostgreSQL's COPY ... TO STDOUT writes and
 * MySQL's LOAD DATA (FIELDS TERMINATED BY '\t' ESCAPED BY '\\') reads. One
 * row a line ending in \n, fields split by tab, \N for NULL, and the
 * escapes \\ \t \n \r \b (and \0 for NUL, which PostgreSQL text never holds).
 * PostgreSQL also writes \f and \v, which LOAD DATA would read as the
 * letters: a source passes them on as the plain bytes. Lines whose every
 * value passes into the target as is go to it without being parsed; the
 * others are parsed, converted and written back as lines (mendText).
 */

/** How one column's texts pass as is: NULL, the empty string, and any other text (null: every text does). */
export interface FieldCheck {
  takesNull: boolean;
  takesEmpty: boolean;
  test: ((text: TextLike) => boolean) | null;
  /** The test holds for a text with escapes too (free text, or a bound on its length: escapes only lengthen it). */
  escapable: boolean;
}

/** A field's bytes read as char codes: the checks look at ASCII positions only, so no string is made. */
class FieldView implements TextLike {
  data: Buffer = Buffer.alloc(0);
  start = 0;
  length = 0;
  charCodeAt(index: number): number {
    return index >= 0 && index < this.length ? this.data[this.start + index] : Number.NaN;
  }
}

const TAB = 9;
const NEWLINE = 10;
const BACKSLASH = 92;
const LETTER_N = 78;

/** What checkText found: the lines that do not pass, and the size of those that do. */
export interface TextVerdict {
  /** The byte offsets where the lines that do not pass start. */
  bad: number[];
  /** The passing lines' checked fields as chunkBytes counts them (the text, a separator after each value). */
  bytes: number;
}

/**
 * Checks every line's first `checks.length` fields. Fields after them (a key
 * the source adds for its checkpoint) are not looked at. One pass over the
 * bytes, with no string made: a failing field costs the rest of its line.
 */
export function checkText(data: Buffer, checks: readonly FieldCheck[]): TextVerdict {
  const width = checks.length;
  const view = new FieldView();
  view.data = data;
  const bad: number[] = [];
  let bytes = 0;
  let lineStart = 0;
  let lineBytes = 0;
  let field = 0;
  let start = 0;
  let escaped = false;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === BACKSLASH) escaped = true;
    if (b !== TAB && b !== NEWLINE) continue;
    if (field < width) {
      view.start = start;
      view.length = i - start;
      // A line with fewer fields than columns is not a row of these columns either.
      if (!fieldPasses(view, escaped, checks[field]) || (b === NEWLINE && field < width - 1)) {
        bad.push(lineStart);
        i = data.indexOf(NEWLINE, i);
        if (i < 0) i = data.length;
        lineStart = start = i + 1;
        lineBytes = field = 0;
        escaped = false;
        continue;
      }
      lineBytes += i - start + 1;
    }
    if (b === NEWLINE) {
      bytes += lineBytes;
      lineBytes = field = 0;
      lineStart = i + 1;
    } else field++;
    start = i + 1;
    escaped = false;
  }
  // A last line without its line end is not a whole row.
  if (lineStart < data.length) bad.push(lineStart);
  return { bad, bytes };
}

function fieldPasses(field: FieldView, escaped: boolean, check: FieldCheck): boolean {
  if (field.length === 0) return check.takesEmpty;
  if (escaped) {
    if (field.length === 2 && field.charCodeAt(0) === BACKSLASH && field.charCodeAt(1) === LETTER_N) return check.takesNull;
    // An escaped character never belongs to a number or a date: only free text passes with one.
    if (!check.escapable) return false;
  }
  return check.test === null || check.test(field);
}

/**
 * The text with each line starting at `bad` (from checkText) replaced by the
 * line `fix` makes of its fields (the first `width`), or dropped where it
 * gives null (a dirty row); a replacement line ends in `skip` NULL fields
 * where the source's lines carry fields of their own. Lines keep their order.
 */
export function mendText(data: Buffer, bad: readonly number[], width: number, skip: number, fix: (fields: (string | null)[]) => OutRow | null): { data: Buffer; rows: number } {
  const parts: Buffer[] = [];
  let rows = 0;
  let from = 0;
  const nullFields = Array.from({ length: skip }, () => null);
  for (const start of bad) {
    if (start > from) parts.push(data.subarray(from, start));
    let end = data.indexOf(NEWLINE, start);
    if (end < 0) end = data.length;
    const fields = parseTextLine(data.toString('utf8', start, end));
    fields.length = width;
    const row = fix(fields);
    if (row !== null) {
      parts.push(Buffer.from(encodeTextRows([skip ? [...row, ...nullFields] : row]), 'utf8'));
      rows++;
    }
    from = end + 1;
  }
  if (from < data.length) parts.push(data.subarray(from));
  return { data: Buffer.concat(parts), rows };
}

const TEXT_SPECIAL = /[\t\n\r\\\0]/;
const TEXT_SPECIALS = /[\t\n\r\\\0]/g;
const TEXT_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\\': '\\\\', '\0': '\\0' };

/**
 * Rows as escaped text: \N for NULL, special characters escaped.
 * `free[i]`: column i's values may hold one (numbers, dates and hex cannot,
 * and are not looked at); by default every column's may.
 */
export function encodeTextRows(rows: readonly OutRow[], free?: readonly boolean[]): string {
  const lines = new Array<string>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    let plain = true;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (v === null || ((free?.[i] ?? true) && TEXT_SPECIAL.test(v))) {
        plain = false;
        break;
      }
    }
    // Most rows need nothing done to their values: the native join builds the line.
    lines[r] = plain ? (row as string[]).join('\t') : row.map((v, i) => (v === null ? '\\N' : (free?.[i] ?? true) ? v.replace(TEXT_SPECIALS, (c) => TEXT_ESCAPES[c]) : v)).join('\t');
  }
  return rows.length ? lines.join('\n') + '\n' : '';
}

/** Both readings' escapes: PostgreSQL's (\f, \v) and LOAD DATA's (\0, \Z), which the other never writes. */
const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '0': '\0', Z: '\x1a' };

/** A field's text without its escapes: any other escaped character is itself (COPY's output has no octal or hex escapes). */
export function unescapeText(field: string): string {
  return field.replace(/\\(.)/gs, (_, e: string) => ESCAPES[e] ?? e);
}

/** The fields of one line, NULLs as null. */
export function parseTextLine(line: string): (string | null)[] {
  const fields: (string | null)[] = line.split('\t');
  // Most lines have no NULL (\N) and no escape: both need a backslash.
  if (!line.includes('\\')) return fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string;
    if (f === '\\N') fields[i] = null;
    else if (f.includes('\\')) fields[i] = unescapeText(f);
  }
  return fields;
}

/** The first `width` fields of each line. */
export function parseTextRows(data: Buffer, width: number): OutRow[] {
  const text = data.toString('utf8');
  const rows: OutRow[] = [];
  for (let start = 0, nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
    const fields = parseTextLine(text.slice(start, nl));
    fields.length = width;
    rows.push(fields);
  }
  return rows;
}

/** A text chunk as rows, for a target that must write them one by one (INSERTs, a rejected row); the source rows are the same values. */
export function withParsedRows(chunk: Chunk): Chunk {
  if (!chunk.text) return chunk;
  const rows = parseTextRows(chunk.text.data, chunk.columns.length);
  return { ...chunk, rows, sourceRows: rows, text: undefined };
}
