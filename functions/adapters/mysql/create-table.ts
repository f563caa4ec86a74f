/**
 * `target.create`: the CREATE TABLE for a source's schema. Each source type
 * maps to the MySQL type that holds every value of it (README "target.create"
 * lists the mapping); CSV and JSON Lines columns, which carry no types, are
 * inferred from a sample of rows. The source's key becomes the primary key;
 * the table is utf8mb4. The statement is CREATE TABLE IF NOT EXISTS: an
 * existing table is never altered.
 */
import type { Row, SourceSchema, TargetColumn, Value } from '../../core/ports.ts';
import { quoteId, type TableName } from './sql.ts';

/** A single-column text key: 768 characters of utf8mb4 fill InnoDB's 3072-byte key; a composite key's text columns get 255 each. */
const KEY_TEXT = (columns: number) => (columns === 1 ? 'VARCHAR(768)' : 'VARCHAR(255)');

/** PostgreSQL type (as format_type writes it) → MySQL type. */
export function fromPostgres(type: string): string {
  const t = type.toLowerCase().trim();
  if (t.endsWith('[]')) return 'JSON';
  const args = /\(([^)]*)\)/.exec(t)?.[1];
  const base = t.replace(/\([^)]*\)/, '').trim();
  switch (base) {
    case 'smallint': return 'SMALLINT';
    case 'integer': return 'INT';
    case 'bigint': return 'BIGINT';
    case 'real': return 'FLOAT';
    case 'double precision': return 'DOUBLE';
    case 'numeric': return args ? decimal(args) : 'DECIMAL(65,30)';
    case 'money': return 'DECIMAL(19,2)';
    case 'boolean': return 'TINYINT(1)';
    case 'character varying': return args && Number(args) <= 4096 ? `VARCHAR(${Number(args)})` : 'LONGTEXT';
    case 'character': return args && Number(args) <= 255 ? `CHAR(${Number(args)})` : 'LONGTEXT';
    case 'text': case 'name': case 'citext': return 'LONGTEXT';
    case 'date': return 'DATE';
    case 'timestamp without time zone': case 'timestamp with time zone': return `DATETIME(${fsp(args)})`;
    case 'time without time zone': return `TIME(${fsp(args)})`;
    case 'json': case 'jsonb': return 'JSON';
    case 'uuid': return 'CHAR(36)';
    case 'bytea': return 'LONGBLOB';
    default: return 'LONGTEXT';
  }
}

/** MySQL / MariaDB column type → itself (a JSON that MariaDB reports as LONGTEXT stays LONGTEXT). */
export function fromMysql(type: string): string {
  return type;
}

/** Parquet type (logical, converted or physical, as the Parquet reader names it) → MySQL type. */
export function fromParquet(type: string): string {
  const t = type.toUpperCase();
  const decimalArgs = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimalArgs) return decimal(`${decimalArgs[1]},${decimalArgs[2]}`);
  if (t.startsWith('TIMESTAMP')) return `DATETIME(${/MILLIS/.test(t) ? 3 : 6})`;
  if (t.startsWith('TIME')) return 'TIME(6)';
  switch (t) {
    case 'BOOLEAN': return 'TINYINT(1)';
    case 'INT_8': return 'TINYINT';
    case 'INT_16': return 'SMALLINT';
    case 'INT32': case 'INT_32': return 'INT';
    case 'INT64': case 'INT_64': case 'INTEGER': return 'BIGINT';
    case 'UINT_8': return 'TINYINT UNSIGNED';
    case 'UINT_16': return 'SMALLINT UNSIGNED';
    case 'UINT_32': return 'INT UNSIGNED';
    case 'UINT_64': return 'BIGINT UNSIGNED';
    case 'INT96': return 'DATETIME(6)';
    case 'FLOAT': return 'FLOAT';
    case 'DOUBLE': return 'DOUBLE';
    case 'FLOAT16': return 'FLOAT';
    case 'DATE': return 'DATE';
    case 'STRING': case 'UTF8': case 'ENUM': return 'LONGTEXT';
    case 'JSON': case 'BSON': case 'LIST': case 'MAP': case 'GROUP': case 'VARIANT': return 'JSON';
    case 'UUID': return 'CHAR(36)';
    default: return 'LONGBLOB'; // BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY
  }
}

const INTEGER = /^-?(0|[1-9]\d{0,17})$/;
const DECIMAL_TEXT = /^-?(0|[1-9]\d*)\.(\d+)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.(\d{1,6}))?$/;

/**
 * A CSV or JSON Lines column's type from its sampled values: the narrowest
 * of BIGINT, DECIMAL, DOUBLE, TINYINT(1), DATE, DATETIME and JSON that every
 * non-NULL value fits; text otherwise (and when every value is NULL).
 */
export function inferType(values: readonly Value[]): string {
  const present = values.filter((v) => v !== null && v !== undefined && v !== '');
  if (!present.length) return 'LONGTEXT';
  if (present.every((v) => typeof v === 'boolean')) return 'TINYINT(1)';
  if (present.every((v) => typeof v === 'object')) return 'JSON';
  if (present.every((v) => typeof v === 'number')) return present.every((v) => Number.isSafeInteger(v)) ? 'BIGINT' : 'DOUBLE';
  const texts = present.map((v) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : null));
  if (texts.some((t) => t === null)) return 'LONGTEXT';
  const strings = texts as string[];
  if (strings.every((t) => INTEGER.test(t))) return 'BIGINT';
  if (strings.every((t) => INTEGER.test(t) || DECIMAL_TEXT.test(t))) {
    let whole = 1;
    let scale = 0;
    for (const t of strings) {
      const [w, f = ''] = t.replace('-', '').split('.');
      whole = Math.max(whole, w.length);
      scale = Math.max(scale, f.length);
    }
    return whole + scale <= 65 && scale <= 30 ? `DECIMAL(${whole + scale},${scale})` : 'DOUBLE';
  }
  if (strings.every((t) => DATE.test(t))) return 'DATE';
  if (strings.every((t) => DATETIME.test(t))) return `DATETIME(${Math.max(0, ...strings.map((t) => DATETIME.exec(t)?.[2]?.length ?? 0))})`;
  return 'LONGTEXT';
}

function decimal(args: string): string {
  const [p, s = '0'] = args.split(',').map((x) => Number(x.trim()));
  const precision = Number.isInteger(p) && p >= 1 ? p : 65;
  const scale = Number.isInteger(Number(s)) && Number(s) >= 0 ? Number(s) : 0;
  return precision <= 65 && scale <= 30 && scale <= precision ? `DECIMAL(${precision},${scale})` : 'DECIMAL(65,30)';
}

function fsp(args: string | undefined): number {
  const n = args === undefined ? 6 : Number(args);
  return Number.isInteger(n) ? Math.min(6, Math.max(0, n)) : 6;
}

/** A type a key can hold: text and blob kinds get a bounded VARCHAR/VARBINARY. */
function keyable(type: string, keyColumns: number): string {
  if (/^(long|medium|tiny)?text$/i.test(type) || /^json$/i.test(type)) return KEY_TEXT(keyColumns);
  if (/^(long|medium|tiny)?blob$/i.test(type)) return 'VARBINARY(255)';
  return type;
}

/** The MySQL type of each source column, in the source's order. */
export function mysqlTypes(schema: SourceSchema): string[] {
  const key = new Set(schema.key.map((k) => k.toLowerCase()));
  return schema.columns.map((c, i) => {
    let type: string;
    switch (schema.dialect) {
      case 'postgres': type = fromPostgres(c.type); break;
      case 'mysql': type = fromMysql(c.type); break;
      case 'parquet': type = fromParquet(c.type); break;
      default: type = inferType((schema.sample ?? []).map((row: Row) => row[i]));
    }
    return key.has(c.name.toLowerCase()) ? keyable(type, key.size) : type;
  });
}

/** The CREATE TABLE for the schema, and the columns information_schema would then describe. */
export function createTablePlan(table: TableName, schema: SourceSchema): { ddl: string; columns: TargetColumn[] } {
  const types = mysqlTypes(schema);
  const key = new Set(schema.key.map((k) => k.toLowerCase()));
  const lines = schema.columns.map((c, i) => `  ${quoteId(c.name)} ${types[i]} ${key.has(c.name.toLowerCase()) || !c.nullable ? 'NOT NULL' : 'NULL'}`);
  const keyNames = schema.key.map((k) => schema.columns.find((c) => c.name.toLowerCase() === k.toLowerCase())?.name ?? k);
  if (keyNames.length) lines.push(`  PRIMARY KEY (${keyNames.map(quoteId).join(', ')})`);
  const ddl = `CREATE TABLE IF NOT EXISTS ${table.sql} (\n${lines.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
  const columns = schema.columns.map((c, i) => plannedColumn(c.name, types[i], !key.has(c.name.toLowerCase()) && c.nullable));
  return { ddl, columns };
}

const TEXT_BYTES: Record<string, number> = { tinytext: 255, text: 65535, mediumtext: 16777215, longtext: 4294967295, tinyblob: 255, blob: 65535, mediumblob: 16777215, longblob: 4294967295 };
const INT_PRECISION: Record<string, number> = { tinyint: 3, smallint: 5, mediumint: 7, int: 10, bigint: 19 };

/** The column a type makes, as the target's describe() would report it. */
function plannedColumn(name: string, type: string, nullable: boolean): TargetColumn {
  const columnType = type.toLowerCase();
  const dataType = /^[a-z]+/.exec(columnType)?.[0] ?? columnType;
  const args = /\(([^)]*)\)/.exec(columnType)?.[1];
  const numbers = args?.split(',').map((a) => Number(a.trim())) ?? [];
  const text = /char|text|enum|set/.test(dataType);
  return {
    name,
    dataType,
    columnType,
    nullable,
    unsigned: /\bunsigned\b/.test(columnType),
    maxLength: dataType === 'char' || dataType === 'varchar' || dataType === 'binary' || dataType === 'varbinary' ? (numbers[0] ?? null) : (TEXT_BYTES[dataType] ?? null),
    precision: dataType === 'decimal' ? (numbers[0] ?? 10) : dataType === 'bit' ? (numbers[0] ?? 1) : (INT_PRECISION[dataType] ?? null),
    scale: dataType === 'decimal' ? (numbers[1] ?? 0) : INT_PRECISION[dataType] !== undefined ? 0 : null,
    fsp: dataType === 'datetime' || dataType === 'timestamp' || dataType === 'time' ? (numbers[0] ?? 0) : null,
    charset: text ? 'utf8mb4' : null,
    members: dataType === 'enum' || dataType === 'set' ? [...type.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1].replaceAll("''", "'")) : [],
    autoIncrement: false,
    generated: false,
  };
}
