/**
 * The statements of the MySQL source, in one place. Identifiers go through
 * quoteId; key values are always bound (`?`), and shown to people through
 * the driver's own formatting.
 */
import mysql from 'mysql2';
import type { Key, KeyValue } from '../../core/split.ts';
import { quoteId } from './sql.ts';

/** What a key column holds, which decides how its values are halved and bound. */
export type KeyKind = 'integer' | 'decimal' | 'string' | 'temporal' | 'bytes';

/** How a range selects and orders its rows; stored in the ledger as its bounds. */
export type Bounds =
  /** Keys from `from` (inclusive) to `to` (exclusive); null: unbounded. `nullable`: key columns whose NULL rows belong to the null-key range. */
  | { by: 'key'; key: string[]; kinds: KeyKind[]; from: JsonKey | null; to: JsonKey | null; nullable?: string[] }
  /** Rows where a split key column is NULL (no key range holds them), read in `order` (the primary key). */
  | { by: 'null-key'; key: string[]; order: string[]; kinds: KeyKind[] }
  /** A query's rows (those where a `nullKey` column is NULL, when given), in the order of all their columns; the checkpoint is a count. */
  | { by: 'rows'; nullKey: string[] | null };

/** A key as JSON: bytes as `{ x: hex }`, so a checkpoint or bound survives the ledger. */
export type JsonKey = Array<string | number | { x: string }>;

export function encodeKey(key: Key): JsonKey {
  return key.map((v) => (v instanceof Uint8Array ? { x: Buffer.from(v).toString('hex') } : typeof v === 'bigint' ? String(v) : v));
}

export function decodeKey(json: JsonKey): KeyValue[] {
  return json.map((v) => (typeof v === 'object' ? Buffer.from(v.x, 'hex') : v));
}

/** A number written into the SQL as its checked digits: bound as a string, MariaDB would compare it as a double. */
class Exact {
  constructor(readonly text: string) {}
  toSqlString(): string {
    return this.text;
  }
}

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/** A key's values as they are bound: numbers exact, the rest as the driver escapes them. */
export function bindKey(kinds: readonly KeyKind[], key: Key): unknown[] {
  return key.map((v, i) => {
    const kind = kinds[i];
    if (kind !== 'integer' && kind !== 'decimal') return v;
    const text = String(v);
    if (!(kind === 'integer' ? INTEGER : DECIMAL).test(text)) throw new Error(`not a ${kind} key value: ${text}`);
    return new Exact(text);
  });
}

/** A condition and its bound values. */
export interface Sql {
  sql: string;
  values: unknown[];
}

/**
 * `(columns) op (values)` in lexicographic order, spelled out as ORs of
 * equalities: MariaDB does not turn row comparisons into index ranges. The
 * leading `c1 >= v1` (or `<=`) gives the optimizer a range on the first column.
 */
export function keyCompare(columns: readonly string[], op: '>=' | '>' | '<' | '<=', values: readonly unknown[]): Sql {
  const q = columns.map(quoteId);
  if (q.length === 1) return { sql: `${q[0]} ${op} ?`, values: [values[0]] };
  const strict = op === '>=' ? '>' : op === '<=' ? '<' : op;
  const terms: string[] = [];
  const bound: unknown[] = [];
  for (let i = 0; i < q.length; i++) {
    const parts = q.slice(0, i).map((c) => `${c} = ?`);
    parts.push(`${q[i]} ${i === q.length - 1 ? op : strict} ?`);
    terms.push(parts.length > 1 ? `(${parts.join(' AND ')})` : parts[0]);
    bound.push(...values.slice(0, i + 1));
  }
  const lead = op === '>' || op === '>=' ? '>=' : '<=';
  return { sql: `(${q[0]} ${lead} ? AND (${terms.join(' OR ')}))`, values: [values[0], ...bound] };
}

/** All conditions, joined with AND; TRUE when there are none. */
export function allOf(parts: readonly Sql[]): Sql {
  if (!parts.length) return { sql: 'TRUE', values: [] };
  return { sql: parts.map((p) => p.sql).join(' AND '), values: parts.flatMap((p) => p.values) };
}

/** The conditions of a range after `after` (its order key as JSON), the job's `where` first. */
export function rangeConditions(where: string | undefined, bounds: Bounds, after: JsonKey | null): Sql {
  const parts: Sql[] = where ? [{ sql: `(${where})`, values: [] }] : [];
  if (bounds.by === 'rows') {
    if (bounds.nullKey) parts.push({ sql: `(${bounds.nullKey.map((k) => `${quoteId(k)} IS NULL`).join(' OR ')})`, values: [] });
    return allOf(parts);
  }
  if (bounds.by === 'key') {
    // A bound's comparison leaves out a NULL first column, not a NULL in a later one (decided by the first).
    const bounded = bounds.from !== null || bounds.to !== null;
    for (const k of bounds.nullable ?? []) if (!bounded || k !== bounds.key[0]) parts.push({ sql: `${quoteId(k)} IS NOT NULL`, values: [] });
    if (bounds.from) parts.push(keyCompare(bounds.key, '>=', bindKey(bounds.kinds, decodeKey(bounds.from))));
    if (bounds.to) parts.push(keyCompare(bounds.key, '<', bindKey(bounds.kinds, decodeKey(bounds.to))));
  } else {
    parts.push({ sql: `(${bounds.key.map((k) => `${quoteId(k)} IS NULL`).join(' OR ')})`, values: [] });
  }
  if (after) parts.push(keyCompare(bounds.by === 'key' ? bounds.key : bounds.order, '>', bindKey(bounds.kinds, decodeKey(after))));
  return allOf(parts);
}

/** A condition with its values written in, as a person reads it (never executed). */
export function shown(sql: Sql): string {
  return mysql.format(sql.sql, sql.values as never[]);
}

const list = (columns: readonly string[], suffix = '') => columns.map((c) => `${quoteId(c)}${suffix}`).join(', ');

/** A range's rows: the selected columns, then the order columns, in order. */
export function readSql(table: string, select: readonly string[], order: readonly string[], where: Sql): Sql {
  return { sql: `SELECT ${list([...select, ...order])} FROM ${table} WHERE ${where.sql} ORDER BY ${list(order)}`, values: where.values };
}

/**
 * A query's rows from the `offset`-th, ordered by every column: a resumed
 * read skips exactly the rows written (rows equal in every column are
 * interchangeable).
 */
export function rowsReadSql(from: string, select: readonly string[], where: Sql, offset: number): Sql {
  const order = select.map((_, i) => String(i + 1)).join(', ');
  return { sql: `SELECT ${list(select)} FROM ${from} WHERE ${where.sql} ORDER BY ${order} LIMIT 18446744073709551615 OFFSET ${offset}`, values: where.values };
}

/** The job's where (and query) run reading no row. */
export function probeSql(from: string, where: string | undefined): string {
  return `SELECT 1 FROM ${from} WHERE ${where ? `(${where})` : 'TRUE'} LIMIT 0`;
}

/** Every n-th key of a query's rows in key order (about `rows` of them): where a query is cut, having no index to estimate with. */
export function sampleKeysSql(from: string, key: readonly string[], where: string | undefined, rows: number): string {
  const keys = list(key);
  const conditions = [...(where ? [`(${where})`] : []), ...key.map((k) => `${quoteId(k)} IS NOT NULL`)].join(' AND ');
  return `SELECT ${keys} FROM (SELECT ${keys}, ROW_NUMBER() OVER (ORDER BY ${keys}) AS batchsync_rn, COUNT(*) OVER () AS batchsync_n
            FROM ${from} WHERE ${conditions}) s
          WHERE MOD(batchsync_rn, GREATEST(1, FLOOR(batchsync_n / ${rows}))) = 0 ORDER BY batchsync_rn`;
}

/** Tables of a database: what a mistyped source table is compared with. */
export const TABLE_NAMES = 'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?';

/** The optimizer's estimate of rows in a key interval (an index dive at each end, no scan). */
export function estimateSql(table: string, index: string, where: Sql): Sql {
  return { sql: `EXPLAIN SELECT 1 FROM ${table} FORCE INDEX (${quoteId(index)}) WHERE ${where.sql}`, values: where.values };
}

/** The first (or last) key matching `where`, through the key's index. */
export function edgeKeySql(table: string, index: string, key: readonly string[], where: Sql, last: boolean): Sql {
  const notNull = key.map((k) => `${quoteId(k)} IS NOT NULL`).join(' AND ');
  return {
    sql: `SELECT ${list(key)} FROM ${table} FORCE INDEX (${quoteId(index)}) WHERE ${notNull} AND ${where.sql} ORDER BY ${list(key, last ? ' DESC' : '')} LIMIT 1`,
    values: where.values,
  };
}

/**
 * Of the first `rows` rows of a key interval, how many match the job's
 * `where`: its selectivity there, so intervals are weighed by the rows the
 * job reads, not all the rows.
 */
export function selectivitySql(table: string, index: string, key: readonly string[], where: string, interval: Sql, rows: number): Sql {
  return {
    sql: `SELECT COUNT(*) AS n, COALESCE(SUM(m), 0) AS m FROM (SELECT ((${where})) IS TRUE AS m FROM ${table} FORCE INDEX (${quoteId(index)}) WHERE ${interval.sql} ORDER BY ${list(key)} LIMIT ${rows}) s`,
    values: interval.values,
  };
}

export const SOURCE_COLUMNS = `
  SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, DATA_TYPE AS dataType, IS_NULLABLE AS nullable
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`;

export const INDEXES = `
  SELECT INDEX_NAME AS indexName, COLUMN_NAME AS name, NON_UNIQUE AS nonUnique, SUB_PART AS subPart
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`;

export const TABLE_ROWS = `SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`;
