import type { TextLike } from './convert.ts';
import type { Chunk, OutRow } from './ports.ts';

/**
 * Rows as escaped text: what PostgreSQL's COPY ... TO STDOUT writes and
 * MySQL's LOAD DATA (FIELDS TERMINATED BY '\t' ESCAPED BY '\\') reads. One
 * row a line ending in \n, fields split by tab, \N for NULL, and the
 * escapes \\ \t \n \r \b. PostgreSQL also writes \f and \v, which LOAD DATA
 * would read as the letters: a source passes them on as the plain bytes.
 * When every value of a chunk passes into the target as is, the source's
 * bytes go to the target without being parsed.
 */

/** How one column's texts pass as is: NULL, the empty string, and any other text (null: every text does). */
export interface FieldCheck {
  takesNull: boolean;
  takesEmpty: boolean;
  test: ((text: TextLike) => boolean) | null;
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

/**
 * Whether every line's first `checks.length` fields pass their checks, and
 * if so those fields' size as chunkBytes counts it (the text, a separator
 * after each value); -1 when one does not pass. Fields after them (a key
 * the source adds for its checkpoint) are not looked at. One pass over the
 * bytes; only the fields of checked columns become (short, ASCII) strings.
 */
export function textPassesAsIs(data: Buffer, checks: readonly FieldCheck[]): number {
  const width = checks.length;
  const view = new FieldView();
  view.data = data;
  let bytes = 0;
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
      if (!fieldPasses(view, escaped, checks[field])) return -1;
      bytes += i - start + 1;
    }
    if (b === NEWLINE) {
      // A line with fewer fields than columns is not a row of these columns.
      if (field < width - 1) return -1;
      field = 0;
    } else field++;
    start = i + 1;
    escaped = false;
  }
  return start === data.length ? bytes : -1;
}

function fieldPasses(field: FieldView, escaped: boolean, check: FieldCheck): boolean {
  if (field.length === 0) return check.takesEmpty;
  if (!escaped) return check.test === null || check.test(field);
  if (field.length === 2 && field.charCodeAt(0) === BACKSLASH && field.charCodeAt(1) === LETTER_N) return check.takesNull;
  // An escaped character never belongs to a number or a date: only free text passes with one.
  return check.test === null;
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** A field's text without its escapes (PostgreSQL's \f, \v, octal and hex ones too). */
export function unescapeText(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (e >= '0' && e <= '7') return String.fromCharCode(parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
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
