import { JobError } from './errors.ts';
import type { DirtyRecord, OutRow, OutValue, Row, SourceColumn, TargetColumn, Value } from './ports.ts';
import { daysInMonth, formatDate, formatDateTime, instantOf, wallTimeAt, type WallTime } from './time.ts';
import type { FieldCheck } from './text-rows.ts';

/**
 * Conversion of source values to the live target column types. Each column
 * gets a converter built once from information_schema; per value it is a
 * type test and, for most values, one regex. A value that does not fit is
 * not guessed at: the row becomes a dirty record with a reason a person
 * understands ("num: 'abc' is not an integer").
 */

export interface ConvertOptions {
  /** How datetimes without an offset are read and written. */
  timeZone: string;
  /** An empty string into a non-string column is NULL. */
  emptyAsNull: boolean;
}

/** A value that does not fit; `problem` completes "<column>: <value> ...". */
class Misfit {
  constructor(readonly problem: string) {}
}
type Converted = OutValue | Misfit;
type ColumnConverter = (value: Exclude<Value, null>) => Converted;

const MAX_SHOWN = 60;

/** A value as a reason shows it: quoted text, shortened. */
export function showValue(value: Value): string {
  let text: string;
  if (typeof value === 'string') text = `'${value}'`;
  else if (value instanceof Uint8Array) text = `${value.length} bytes`;
  else if (value instanceof Date) text = Number.isNaN(value.getTime()) ? 'an invalid date' : value.toISOString();
  else if (typeof value === 'object' && value !== null) {
    try {
      text = JSON.stringify(value, jsonReplacer);
    } catch {
      text = 'a value with no JSON form';
    }
  } else text = String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…${text.startsWith("'") ? "'" : ''}` : text;
}

// ---- integers ---------------------------------------------------------------

const INT_RE = /^[+-]?\d+$/;

const INT_BITS: Record<string, number> = { tinyint: 8, smallint: 16, mediumint: 24, int: 32, integer: 32, bigint: 64 };

function integerConverter(col: TargetColumn): ColumnConverter {
  const bits = INT_BITS[col.dataType];
  const min = col.unsigned ? 0n : -(1n << BigInt(bits - 1));
  const max = col.unsigned ? (1n << BigInt(bits)) - 1n : (1n << BigInt(bits - 1)) - 1n;
  const minN = Number(min);
  const maxN = Number(max);
  const outOfRange = new Misfit(`is out of range for ${col.columnType} (${min} to ${max})`);
  // Below 2^53 a Number compares exactly; only BIGINT needs BigInt, and only for long strings.
  const exact = bits < 53;
  const inRange = (text: string): boolean => {
    if (exact || text.length < 16) {
      const n = Number(text);
      return n >= minN && n <= maxN;
    }
    const n = BigInt(text);
    return n >= min && n <= max;
  };
  return (value) => {
    if (typeof value === 'string') {
      if (INT_RE.test(value)) return inRange(value) ? value : outOfRange;
      const text = value.trim();
      if (!INT_RE.test(text)) return new Misfit('is not an integer');
      return inRange(text) ? text : outOfRange;
    }
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) return new Misfit('is not an integer');
      return value >= minN && value <= maxN ? String(value) : outOfRange;
    }
    if (typeof value === 'bigint') return value >= min && value <= max ? String(value) : outOfRange;
    if (typeof value === 'boolean') return value ? '1' : '0';
    return new Misfit('is not an integer');
  };
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off']);

/** TINYINT(1), MySQL's BOOLEAN: truth words as 1/0, and small integers as they are. */
function booleanConverter(col: TargetColumn): ColumnConverter {
  const integer = integerConverter(col);
  return (value) => {
    if (typeof value === 'string') {
      const word = value.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return '1';
      if (FALSE_WORDS.has(word)) return '0';
      const out = integer(value);
      return out instanceof Misfit ? new Misfit('is not a boolean') : out;
    }
    return integer(value);
  };
}

// ---- exact and approximate numbers -------------------------------------------

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Adds one to a string of digits. */
function incrementDigits(digits: string): string {
  const chars = digits.split('');
  let i = chars.length - 1;
  while (i >= 0 && chars[i] === '9') chars[i--] = '0';
  if (i < 0) return `1${chars.join('')}`;
  chars[i] = String(Number(chars[i]) + 1);
  return chars.join('');
}

/** An exponent beyond this makes a value no DECIMAL holds (65 digits) or one that rounds to zero at any scale (30). */
const MAX_EXPONENT = 1000;

const MAX_DECIMAL_DIGITS = 65;

/** A decimal too large for any DECIMAL column: more digits than the widest holds. */
const OVERFLOW = { sign: '', int: '1'.padEnd(MAX_DECIMAL_DIGITS + 1, '0'), frac: '' } as const;

/**
 * A decimal literal rounded to `scale` places (half away from zero, as MySQL
 * does), computed on the digits so no float ever touches the value; null if
 * it is not a number.
 */
export function normalizeDecimal(text: string, scale: number): { sign: string; int: string; frac: string } | null {
  const m = DECIMAL_RE.exec(text);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
  let int = m[2];
  let frac = m[3] ?? '';
  const exp = m[4] ? Number(m[4]) : 0;
  if (exp > MAX_EXPONENT || exp < -MAX_EXPONENT) {
    // Judged before any digit is padded: `1e999999999` must not build a string of a billion zeros.
    const digits = int + frac;
    const first = digits.search(/[1-9]/);
    if (first < 0) return { sign: '', int: '', frac: '0'.repeat(scale) };
    // How many digits the value has before its point (negative: zeros after the point before its first digit).
    const place = int.length - first + exp;
    if (place > MAX_DECIMAL_DIGITS) return OVERFLOW;
    if (place < -scale) return { sign: '', int: '', frac: '0'.repeat(scale) };
    // Otherwise the text itself is about as long as the exponent: padding it costs no more than reading it.
  }
  if (exp > 0) {
    frac = frac.padEnd(exp, '0');
    int += frac.slice(0, exp);
    frac = frac.slice(exp);
  } else if (exp < 0) {
    int = int.padStart(-exp, '0');
    frac = int.slice(int.length + exp) + frac;
    int = int.slice(0, int.length + exp);
  }
  if (frac.length > scale) {
    const roundUp = frac.charCodeAt(scale) >= 53; // '5'
    frac = frac.slice(0, scale);
    if (roundUp) {
      const digits = incrementDigits(int + frac);
      int = digits.slice(0, digits.length - scale);
      frac = digits.slice(digits.length - scale);
    }
  }
  int = int.replace(/^0+/, '');
  const zero = int === '' && !/[1-9]/.test(frac);
  return { sign: m[1] === '-' && !zero ? '-' : '', int, frac: frac.padEnd(scale, '0') };
}

function decimalConverter(col: TargetColumn): ColumnConverter {
  const precision = col.precision ?? 10;
  const scale = col.scale ?? 0;
  const maxInt = precision - scale;
  const tooLarge = new Misfit(`does not fit ${col.columnType}`);
  // Most values already fit as written: no leading zeros to strip, no rounding to do.
  const intPart = maxInt > 0 ? `(0|[1-9]\\d{0,${maxInt - 1}})` : '0';
  const fits = new RegExp(`^${col.unsigned ? '' : '-?'}${intPart}${scale ? `(\\.\\d{1,${scale}})?` : ''}$`);
  return (value) => {
    if (typeof value === 'string' && fits.test(value)) return value;
    let text: string;
    if (typeof value === 'string') text = value.trim();
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
    else if (typeof value === 'bigint') text = String(value);
    else return new Misfit('is not a decimal number');
    const d = normalizeDecimal(text, scale);
    if (!d) return new Misfit('is not a decimal number');
    if (d.int.length > maxInt) return tooLarge;
    if (col.unsigned && d.sign === '-') return new Misfit(`is negative, column is ${col.columnType}`);
    return `${d.sign}${d.int || '0'}${scale ? `.${d.frac}` : ''}`;
  };
}

const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const FLOAT_MAX = 3.4028234663852886e38;

function floatConverter(col: TargetColumn): ColumnConverter {
  const max = col.dataType === 'float' ? FLOAT_MAX : Number.MAX_VALUE;
  const check = (n: number, text: string): Converted => {
    if (!Number.isFinite(n)) return new Misfit('is not a finite number');
    if (Math.abs(n) > max) return new Misfit(`is out of range for ${col.columnType}`);
    if (col.unsigned && n < 0) return new Misfit(`is negative, column is ${col.columnType}`);
    return text;
  };
  return (value) => {
    if (typeof value === 'string') {
      const text = value.trim();
      return FLOAT_RE.test(text) ? check(Number(text), text) : new Misfit('is not a number');
    }
    if (typeof value === 'number') return check(value, String(value));
    if (typeof value === 'bigint') return check(Number(value), String(value));
    return new Misfit('is not a number');
  };
}

// ---- text and bytes ---------------------------------------------------------------

/** Text of any source value, for string-typed columns. */
function asText(value: Exclude<Value, null>): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  if (typeof value === 'object') return exactJson(value);
  return String(value);
}

function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

const OUTSIDE_CHARSET: Record<string, { re: RegExp; problem: string }> = {
  utf8mb3: { re: /[\u{10000}-\u{10FFFF}]/u, problem: 'has a 4-byte character (such as an emoji) that a utf8mb3 column cannot hold' },
  utf8: { re: /[\u{10000}-\u{10FFFF}]/u, problem: 'has a 4-byte character (such as an emoji) that a utf8 (utf8mb3) column cannot hold' },
  latin1: { re: /[^\u0000-\u00ff\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]/, problem: 'has characters a latin1 column cannot hold' },
  ascii: { re: /[^\u0000-\u007f]/, problem: 'has characters an ascii column cannot hold' },
};

/** CHAR/VARCHAR count characters; the TEXT kinds are limited in bytes. */
function stringConverter(col: TargetColumn): ColumnConverter {
  const max = col.maxLength ?? Number.MAX_SAFE_INTEGER;
  const inBytes = col.dataType.endsWith('text');
  const charset = col.charset ? OUTSIDE_CHARSET[col.charset] : undefined;
  // utf8mb4 needs at most 4 bytes a UTF-16 unit pair, 3 a unit: text this short always fits.
  const safeUnits = inBytes ? Math.floor(max / 3) : max;
  return (value) => {
    const text = asText(value);
    if (text.length > safeUnits) {
      if (inBytes) {
        const bytes = Buffer.byteLength(text, 'utf8');
        if (bytes > max) return new Misfit(`is ${bytes} bytes, column holds ${max}`);
      } else {
        const chars = codePoints(text);
        if (chars > max) return new Misfit(`is ${chars} characters, column holds ${max}`);
      }
    }
    if (charset && charset.re.test(text)) return new Misfit(charset.problem);
    return text;
  };
}

/** BINARY/VARBINARY/BLOB kinds, limited in bytes, written as hex. */
function binaryConverter(col: TargetColumn): ColumnConverter {
  const max = col.maxLength ?? Number.MAX_SAFE_INTEGER;
  return (value) => {
    const bytes =
      value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : Buffer.from(asText(value), 'utf8');
    if (bytes.length > max) return new Misfit(`is ${bytes.length} bytes, column holds ${max}`);
    return bytes.toString('hex');
  };
}

// ---- dates and times --------------------------------------------------------------

const DATETIME_RE =
  /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

interface ParsedTime {
  wall: WallTime;
  fraction: string;
  /** Minutes east of UTC, when the text carried an offset. */
  offset: number | null;
}

function parseDateTime(text: string): ParsedTime | null {
  const m = DATETIME_RE.exec(text);
  if (!m) return null;
  const wall = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: m[4] ? Number(m[4]) : 0,
    minute: m[5] ? Number(m[5]) : 0,
    second: m[6] ? Number(m[6]) : 0,
  };
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > daysInMonth(wall.year, wall.month)) return null;
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59) return null;
  let offset: number | null = null;
  const zone = m[8];
  if (zone) {
    if (zone === 'Z' || zone === 'z') offset = 0;
    else {
      const digits = zone.slice(1).replace(':', '');
      offset = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
    }
  }
  return { wall, fraction: m[7] ?? '', offset };
}

const digit = (text: string, i: number) => text.charCodeAt(i) - 48;
const two = (text: string, i: number) => digit(text, i) * 10 + digit(text, i + 1);
const PLAIN_RE = /^\d{4}-\d\d-\d\d(?: \d\d:\d\d:\d\d)?$/;

/** `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, a real date and time in years 1971 to 2037 (safe for TIMESTAMP too). */
function isPlainDateTime(text: string): boolean {
  if (!PLAIN_RE.test(text)) return false;
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  if (year <= 1970 || year > 2037 || month < 1 || month > 12 || day < 1 || (day > 28 && day > daysInMonth(year, month))) return false;
  return text.length === 10 || (two(text, 11) < 24 && two(text, 14) < 60 && two(text, 17) < 60);
}

const TIMESTAMP_MIN_MS = 1000;
const TIMESTAMP_MAX_MS = 2147483647000;

/**
 * DATE, DATETIME and TIMESTAMP. Text without an offset is a wall time in the
 * job's zone; with an offset (or a Date) it is an instant, shown in the job's
 * zone. TIMESTAMP values are written in UTC (the session's time zone).
 */
function dateTimeConverter(col: TargetColumn, timeZone: string): ColumnConverter {
  const isTimestamp = col.dataType === 'timestamp';
  const isDate = col.dataType === 'date';
  const fsp = col.fsp ?? 0;
  const writeZone = isTimestamp ? 'UTC' : timeZone;
  const format = (wall: WallTime, fraction: string): string => {
    if (isDate) return formatDate(wall);
    const base = formatDateTime(wall);
    return fsp > 0 && fraction ? `${base}.${fraction.slice(0, fsp)}` : base;
  };
  const fromInstant = (ms: number, fraction: string): Converted => {
    if (isTimestamp && (ms < TIMESTAMP_MIN_MS || ms > TIMESTAMP_MAX_MS)) {
      return new Misfit('is outside the TIMESTAMP range (1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC)');
    }
    const wall = wallTimeAt(ms, writeZone);
    if (wall.year < 1000 || wall.year > 9999) return new Misfit(`is outside the ${col.dataType.toUpperCase()} range (years 1000 to 9999)`);
    return format(wall, fraction);
  };
  const plainWallTime = !isTimestamp || timeZone === 'UTC';
  return (value) => {
    // The common case: a wall time as MySQL writes it, in a zone that needs no conversion.
    if (typeof value === 'string' && plainWallTime && (isDate ? value.length === 10 : value.length === 19) && isPlainDateTime(value)) return value;
    if (value instanceof Date) {
      const ms = value.getTime();
      if (Number.isNaN(ms)) return new Misfit('is not a valid date');
      return fromInstant(Math.floor(ms / 1000) * 1000, String(ms % 1000 < 0 ? 1000 + (ms % 1000) : ms % 1000).padStart(3, '0'));
    }
    if (typeof value !== 'string') return new Misfit(isDate ? 'is not a date' : 'is not a date and time');
    const parsed = parseDateTime(value.trim());
    if (!parsed) return new Misfit(isDate ? 'is not a date (YYYY-MM-DD)' : 'is not a date and time (YYYY-MM-DD HH:MM:SS)');
    const { wall, fraction, offset } = parsed;
    // TIMESTAMP always goes through its instant, so its range is checked in UTC too.
    if (offset === null && writeZone === timeZone && !isTimestamp) {
      if (wall.year < 1000) return new Misfit(`is outside the ${col.dataType.toUpperCase()} range (years 1000 to 9999)`);
      return format(wall, fraction);
    }
    const ms = offset === null ? instantOf(wall, timeZone) : instantOf(wall, 'UTC') - offset * 60_000;
    return fromInstant(ms, fraction);
  };
}

const TIME_RE = /^(-?)(\d{1,3}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?$/;

function timeConverter(): ColumnConverter {
  return (value) => {
    if (typeof value !== 'string') return new Misfit('is not a time (HH:MM:SS)');
    const m = TIME_RE.exec(value.trim());
    if (!m || Number(m[3]) > 59 || Number(m[4] ?? 0) > 59 || Number(m[2]) > 838) return new Misfit('is not a time (HH:MM:SS)');
    return value.trim();
  };
}

function yearConverter(): ColumnConverter {
  return (value) => {
    const text = typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
    const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
    return n === 0 || (n >= 1901 && n <= 2155) ? String(n) : new Misfit('is not a year (1901 to 2155)');
  };
}

// ---- enum, set, json, bit -----------------------------------------------------

function memberConverter(col: TargetColumn): ColumnConverter {
  const byLower = new Map(col.members.map((m) => [m.toLowerCase(), m]));
  const list = col.members.map((m) => `'${m}'`).join(', ');
  const isSet = col.dataType === 'set';
  return (value) => {
    const text = asText(value);
    if (!isSet) return byLower.get(text.toLowerCase()) ?? new Misfit(`is not one of ${list}`);
    if (text === '') return '';
    const out: string[] = [];
    for (const part of text.split(',')) {
      const member = byLower.get(part.toLowerCase());
      if (member === undefined) return new Misfit(`has '${part}', not one of ${list}`);
      out.push(member);
    }
    return out.join(',');
  };
}

function jsonConverter(): ColumnConverter {
  return (value) => {
    if (typeof value !== 'string') return exactJson(value);
    try {
      JSON.parse(value);
      return value;
    } catch {
      return new Misfit('is not valid JSON');
    }
  };
}

function bitConverter(col: TargetColumn): ColumnConverter {
  const max = (1n << BigInt(col.precision ?? 1)) - 1n;
  return (value) => {
    const text = typeof value === 'boolean' ? (value ? '1' : '0') : asText(value).trim();
    if (!/^\d+$/.test(text)) return new Misfit('is not a bit value (an unsigned integer)');
    return BigInt(text) <= max ? text : new Misfit(`is out of range for ${col.columnType}`);
  };
}

// ---- assembly ---------------------------------------------------------------------

type Kind = 'integer' | 'boolean' | 'decimal' | 'float' | 'string' | 'binary' | 'datetime' | 'time' | 'year' | 'member' | 'json' | 'bit';

const KINDS: Record<string, Kind> = {
  tinyint: 'integer', smallint: 'integer', mediumint: 'integer', int: 'integer', integer: 'integer', bigint: 'integer',
  decimal: 'decimal', numeric: 'decimal', float: 'float', double: 'float', real: 'float',
  char: 'string', varchar: 'string', tinytext: 'string', text: 'string', mediumtext: 'string', longtext: 'string',
  binary: 'binary', varbinary: 'binary', tinyblob: 'binary', blob: 'binary', mediumblob: 'binary', longblob: 'binary',
  date: 'datetime', datetime: 'datetime', timestamp: 'datetime', time: 'time', year: 'year',
  enum: 'member', set: 'member', json: 'json', bit: 'bit',
};

/** The kind of a target column, or a JobError for types batchsync cannot write. */
export function columnKind(col: TargetColumn): Kind {
  if (col.dataType === 'tinyint' && /^tinyint\(1\)/i.test(col.columnType)) return 'boolean';
  const kind = KINDS[col.dataType];
  if (!kind) throw new JobError(`target column ${col.name}: type ${col.columnType} is not supported`);
  return kind;
}

function converterFor(col: TargetColumn, options: ConvertOptions): ColumnConverter {
  switch (columnKind(col)) {
    case 'integer': return integerConverter(col);
    case 'boolean': return booleanConverter(col);
    case 'decimal': return decimalConverter(col);
    case 'float': return floatConverter(col);
    case 'string': return stringConverter(col);
    case 'binary': return binaryConverter(col);
    case 'datetime': return dateTimeConverter(col, options.timeZone);
    case 'time': return timeConverter();
    case 'year': return yearConverter();
    case 'member': return memberConverter(col);
    case 'json': return jsonConverter();
    case 'bit': return bitConverter(col);
  }
}

const TAKES_EMPTY_STRING = new Set<Kind>(['string', 'binary', 'member']);

/** The converter of one column, NULL and empty-string rules included. */
export function columnConverter(col: TargetColumn, options: ConvertOptions): (value: Value) => Converted {
  const convert = converterFor(col, options);
  const nullOk = col.nullable || col.autoIncrement;
  const notNull = new Misfit('is NULL, column is NOT NULL');
  const emptyIsNull = options.emptyAsNull && !TAKES_EMPTY_STRING.has(columnKind(col));
  return (value) => {
    if (value === null || value === undefined || (emptyIsNull && value === '')) return nullOk ? null : notNull;
    try {
      return convert(value);
    } catch (error) {
      // Whatever a value makes a converter do, it is that row's problem, never the run's.
      return new Misfit(`cannot be converted: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}

/** Marks a bigint's digits in JSON text, to be unquoted after: the mark (with NUL bytes) cannot occur in escaped JSON strings. */
const BIGINT_MARK = '\u0000bigint\u0000';
const BIGINT_MARKED = /"\\u0000bigint\\u0000(-?\d+)"/g;

/**
 * JSON text of a value where integers of any size stay JSON numbers with
 * every digit (`[1,9007199254740993]`, never `["1","9007199254740993"]`):
 * what a JSON or text column gets from a nested source value.
 */
export function exactJson(value: unknown): string {
  let marked = false;
  const json = JSON.stringify(value, (key, v: unknown) => {
    if (typeof v === 'bigint') {
      marked = true;
      return `${BIGINT_MARK}${v}`;
    }
    return jsonReplacer(key, v);
  });
  return marked ? json.replace(BIGINT_MARKED, '$1') : json;
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  return value;
}

const MAX_RECORD_CHARS = 8192;

/** JSON of a value, cut at a bounded size with a mark saying so. */
export function boundedJson(value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value, jsonReplacer) ?? 'null';
  } catch (error) {
    // A record that has no JSON form (a cycle) is still recorded, by saying so.
    json = JSON.stringify(`(no JSON form: ${(error as Error).message.split('\n')[0]})`);
  }
  return json.length > MAX_RECORD_CHARS ? `${json.slice(0, MAX_RECORD_CHARS)}…(truncated, ${json.length} characters)` : json;
}

/** A source row as the JSON object a dirty record keeps. */
export function recordJson(names: readonly string[], row: Row): string {
  const object: Record<string, unknown> = {};
  names.forEach((name, i) => (object[name] = row[i]));
  return boundedJson(object);
}

export interface ConvertedBatch {
  rows: OutRow[];
  sourceRows: Row[];
  dirty: DirtyRecord[];
}

/** Converts source rows for the mapped target columns, position by position. */
export type RowConverter = (rows: readonly Row[], rangeId: number) => ConvertedBatch;

/**
 * Builds the converter for a mapping: source column i goes to target column
 * i. Rows that convert go out as text; the others become dirty records
 * naming the first column that does not fit.
 */
export function buildConverter(source: readonly SourceColumn[], target: readonly TargetColumn[], options: ConvertOptions): RowConverter {
  const converters = target.map((col, i) => withPassThrough(source.length === target.length ? source[i] : undefined, col, columnConverter(col, options)));
  const names = source.map((c) => c.name);
  const width = converters.length;
  return (rows, rangeId) => {
    const out: OutRow[] = [];
    const sourceRows: Row[] = [];
    const dirty: DirtyRecord[] = [];
    for (const row of rows) {
      const converted: OutRow = new Array(width);
      let misfit: string | null = null;
      for (let i = 0; i < width; i++) {
        const value = converters[i](row[i]);
        if (value instanceof Misfit) {
          misfit = `${target[i].name}: ${showValue(row[i])} ${value.problem}`;
          dirty.push({ rangeId, column: target[i].name, reason: misfit, record: recordJson(names, row) });
          break;
        }
        converted[i] = value;
      }
      if (misfit === null) {
        out.push(converted);
        sourceRows.push(row);
      }
    }
    return { rows: out, sourceRows, dirty };
  };
}

// ---- values that cannot be dirty ----------------------------------------------------
//
// A column whose source type already guarantees that the target takes every
// value as its text needs no check per value: int4 into INT, varchar(n) into
// a utf8mb4 VARCHAR(m >= n), numeric(p,s) into a DECIMAL wide enough,
// timestamp into DATETIME. Decided once per column; a value of another
// shape than the type's usual text (NaN, infinity, a BC date, an empty
// string, a non-string) still goes through the full converter.

const SOURCE_INT_BITS: Record<string, number> = { smallint: 16, int2: 16, integer: 32, int4: 32, int: 32, bigint: 64, int8: 64 };
const PG_VARCHAR_RE = /^(?:character varying|varchar|character|char)\((\d+)\)$/;
const PG_NUMERIC_RE = /^(?:numeric|decimal)\((\d+),(\d+)\)$/;
const PG_TIMESTAMP_RE = /^timestamp(?:\((\d)\))?(?: without time zone)?$/;

const isDigit = (c: number) => c >= 48 && c <= 57;

/** What the checks below read of a value's text: a string, or a view of escaped text's bytes (text-rows.ts), ASCII where they look. */
export interface TextLike {
  readonly length: number;
  charCodeAt(index: number): number;
}

const ANY_TEXT = () => true;

/** What a value of `source` must look like to pass as is into `target`; null when the types give no such guarantee. */
export function passesAsIs(source: SourceColumn, target: TargetColumn): ((text: TextLike) => boolean) | null {
  const type = source.type.toLowerCase().trim();
  const kind = columnKind(target);
  const bits = SOURCE_INT_BITS[type];
  if (bits !== undefined && kind === 'integer' && !target.unsigned && INT_BITS[target.dataType] >= bits) {
    return (text) => isDigit(text.charCodeAt(text.length - 1));
  }
  const varchar = PG_VARCHAR_RE.exec(type);
  if (varchar && kind === 'string' && target.charset === 'utf8mb4' && target.maxLength !== null) {
    const chars = Number(varchar[1]);
    // The TEXT kinds count bytes: 4 a character at most in utf8mb4.
    const fits = target.dataType.endsWith('text') ? target.maxLength >= 4 * chars : target.maxLength >= chars;
    return fits ? ANY_TEXT : null;
  }
  const numeric = PG_NUMERIC_RE.exec(type);
  if (numeric && kind === 'decimal' && target.precision !== null && target.scale !== null) {
    const [p, s] = [Number(numeric[1]), Number(numeric[2])];
    // NaN is the one numeric(p,s) text that ends in a letter.
    if (target.scale >= s && target.precision - target.scale >= p - s) return (text) => isDigit(text.charCodeAt(text.length - 1));
    return null;
  }
  const timestamp = PG_TIMESTAMP_RE.exec(type);
  if ((timestamp && target.dataType === 'datetime') || (type === 'date' && target.dataType === 'date')) {
    const fractionFits = (target.fsp ?? 0) >= Number(timestamp?.[1] ?? 6);
    // YYYY-MM-DD[ HH:MM:SS[.ffffff]] with a 4-digit year from 1000 (not infinity, not BC, not year 10000 or later); a fraction only when DATETIME keeps all of it.
    const length = type === 'date' ? 10 : 19;
    return (text) =>
      (text.length === length || (fractionFits && text.length > 20 && text.length <= 26 && text.charCodeAt(19) === 46)) &&
      text.charCodeAt(4) === 45 &&
      text.charCodeAt(0) >= 49 &&
      text.charCodeAt(0) <= 57 &&
      isDigit(text.charCodeAt(text.length - 1));
  }
  return null;
}

// ---- text already in the target's own form ------------------------------------------
//
// A value of a source type that guarantees nothing (a CSV field, a text
// column) still passes as is when its text is already what the column's
// converter would write: digits in range into an integer, `-12.50` into a
// DECIMAL(12,2), a valid `YYYY-MM-DD HH:MM:SS` into a DATETIME, short text into
// a utf8mb4 VARCHAR. These checks read only ASCII positions and accept
// nothing the converter would change or reject, so a value they refuse just
// takes the converter's path.

function integerText(col: TargetColumn): (text: TextLike) => boolean {
  const bits = INT_BITS[col.dataType];
  const max = col.unsigned ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
  const min = col.unsigned ? 0 : -(2 ** (bits - 1));
  // BIGINT's bounds as digits (the lower one without its sign), for values too long to add up exactly.
  const bounds = bits !== 64 ? null : col.unsigned ? { max: '18446744073709551615', min: '0' } : { max: '9223372036854775807', min: '9223372036854775808' };
  return (text) => {
    const sign = text.charCodeAt(0);
    const negative = sign === 45;
    const from = negative || sign === 43 ? 1 : 0;
    if (text.length === from) return false;
    let n = 0;
    for (let i = from; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (!isDigit(c)) return false;
      n = n * 10 + c - 48;
    }
    // Up to 15 digits the sum is exact; a longer value is compared by its digits (BIGINT), or does not fit.
    if (text.length - from <= 15) return negative ? -n >= min : n <= max;
    return bounds !== null && (!negative || !col.unsigned) && digitsAtMost(text, from, negative ? bounds.min : bounds.max);
  };
}

/** Whether the digits of `text` from `from` are a number at most `bound` (digits, no leading zero). */
function digitsAtMost(text: TextLike, from: number, bound: string): boolean {
  while (from < text.length - 1 && text.charCodeAt(from) === 48) from++;
  const length = text.length - from;
  if (length !== bound.length) return length < bound.length;
  for (let i = 0; i < length; i++) {
    const d = text.charCodeAt(from + i) - bound.charCodeAt(i);
    if (d !== 0) return d < 0;
  }
  return true;
}

/** `-?(0|[1-9]\d*)(\.\d+)?` with at most `maxInt` and `maxFrac` digits, no sign when `unsigned`: what decimalConverter keeps as written. */
function plainNumber(maxInt: number, maxFrac: number, unsigned: boolean): (text: TextLike) => boolean {
  return (text) => {
    let i = !unsigned && text.charCodeAt(0) === 45 ? 1 : 0;
    const intStart = i;
    while (isDigit(text.charCodeAt(i))) i++;
    const intDigits = i - intStart;
    if (intDigits === 0 || (intDigits > 1 && text.charCodeAt(intStart) === 48) || intDigits > Math.max(1, maxInt)) return false;
    if (intDigits === 1 && maxInt === 0 && text.charCodeAt(intStart) !== 48) return false;
    if (i === text.length) return true;
    if (text.charCodeAt(i) !== 46) return false;
    const fracStart = ++i;
    while (isDigit(text.charCodeAt(i))) i++;
    return i === text.length && i > fracStart && i - fracStart <= maxFrac;
  };
}

const twoDigits = (text: TextLike, i: number): number => {
  const [a, b] = [text.charCodeAt(i) - 48, text.charCodeAt(i + 1) - 48];
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
};

/** `YYYY-MM-DD`, a real day in years 1000 to 9999. */
function plainDate(text: TextLike): boolean {
  const [century, year] = [twoDigits(text, 0), twoDigits(text, 2)];
  const [month, day] = [twoDigits(text, 5), twoDigits(text, 8)];
  return century >= 10 && year >= 0 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(century * 100 + year, month);
}

/** `YYYY-MM-DD HH:MM:SS`, then `.` and 1 to `fsp` digits: what a DATETIME(fsp) keeps as written. */
function plainDateTime(fsp: number): (text: TextLike) => boolean {
  return (text) => {
    if (text.length !== 19 && (text.length < 21 || text.length > 20 + fsp || text.charCodeAt(19) !== 46)) return false;
    for (let i = 20; i < text.length; i++) if (!isDigit(text.charCodeAt(i))) return false;
    const [hour, minute, second] = [twoDigits(text, 11), twoDigits(text, 14), twoDigits(text, 17)];
    return plainDate(text) && text.charCodeAt(10) === 32 && text.charCodeAt(13) === 58 && text.charCodeAt(16) === 58 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59;
  };
}

/**
 * A check of text that is already what `target`'s converter writes, for a
 * value whose source type guarantees nothing; null for the kinds without
 * one. `lengthOnly`: the check only bounds the length, so it holds for escaped
 * text too (escapes only lengthen it).
 */
export function targetForm(target: TargetColumn): { test: (text: TextLike) => boolean; lengthOnly: boolean } | null {
  switch (columnKind(target)) {
    case 'integer':
    case 'boolean':
      return { test: integerText(target), lengthOnly: false };
    case 'decimal': {
      const scale = target.scale ?? 0;
      return { test: plainNumber((target.precision ?? 10) - scale, scale, target.unsigned), lengthOnly: false };
    }
    case 'float': {
      // Fewer integer digits than the type's largest value has: finite and in range whatever follows.
      const test = plainNumber(target.dataType === 'float' ? 38 : 308, Number.MAX_SAFE_INTEGER, target.unsigned);
      return { test, lengthOnly: false };
    }
    case 'datetime':
      if (target.dataType === 'date') return { test: (text) => text.length === 10 && plainDate(text), lengthOnly: false };
      // TIMESTAMP values go through their instant (time zones, the 2038 range): always the converter.
      return target.dataType === 'datetime' ? { test: plainDateTime(target.fsp ?? 0), lengthOnly: false } : null;
    case 'string': {
      if (target.charset !== 'utf8mb4' || target.maxLength === null) return null;
      // A character is at least one UTF-16 unit and one byte; the TEXT kinds count bytes, at most 3 a unit.
      const safe = target.dataType.endsWith('text') ? Math.floor(target.maxLength / 3) : target.maxLength;
      return { test: (text) => text.length <= safe, lengthOnly: true };
    }
    default:
      return null;
  }
}

/**
 * How each column's escaped text (text-rows.ts) passes as is: by what the
 * types guarantee (passesAsIs), or else by the text's own form (targetForm);
 * null when a column has neither. NULL and the empty string pass where the
 * column's own converter keeps them as they are.
 */
export function textChecks(source: readonly SourceColumn[], target: readonly TargetColumn[], options: ConvertOptions): FieldCheck[] | null {
  if (source.length !== target.length) return null;
  const checks: FieldCheck[] = [];
  for (const [i, col] of target.entries()) {
    const passes = passesAsIs(source[i], col);
    const form = passes ? null : targetForm(col);
    if (!passes && !form) return null;
    const full = columnConverter(col, options);
    const test = passes ? (passes === ANY_TEXT ? null : passes) : (form as NonNullable<typeof form>).test;
    checks.push({ takesNull: full(null) === null, takesEmpty: full('') === '', test, escapable: test === null || form?.lengthOnly === true });
  }
  return checks;
}

/** `full`, skipped for the non-empty strings that `passesAsIs` or `targetForm` lets through. */
function withPassThrough(source: SourceColumn | undefined, target: TargetColumn, full: (value: Value) => Converted): (value: Value) => Converted {
  const passes = (source ? passesAsIs(source, target) : null) ?? targetForm(target)?.test;
  if (!passes) return full;
  return (value) => (typeof value === 'string' && value.length > 0 && passes(value) ? value : full(value));
}
