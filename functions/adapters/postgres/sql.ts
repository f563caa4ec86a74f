/**
 * Every PostgreSQL statement the source sends, in one place. Identifiers go
 * through quoteIdent; key values are literals escaped by the driver's own
 * function, as COPY takes no bound parameters.
 */
import pg from 'pg';

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table` or `table`, quoted. */
export function qualified(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

export function literal(value: string): string {
  return pg.Client.prototype.escapeLiteral(value);
}

/** How a range selects and orders its rows; stored in the ledger as its bounds. */
export type Bounds =
  /** Keys (one text per key column) from `from` (inclusive) to `to` (exclusive); null: unbounded. */
  | { by: 'key'; key: string[]; from: string[] | null; to: string[] | null }
  /** Rows in table blocks [fromBlock, toBlock); null: unbounded. */
  | { by: 'ctid'; fromBlock: number | null; toBlock: number | null }
  /** Rows where a key column is NULL, which no key range holds; read in ctid order. */
  | { by: 'null-key'; key: string[] };

function tuple(values: readonly string[]): string {
  return values.length === 1 ? values[0] : `(${values.join(', ')})`;
}

/** `key op values`, a row comparison for a composite key (PostgreSQL compares rows in index order). */
export function keyCompare(key: readonly string[], op: '>=' | '<' | '>', values: readonly string[]): string {
  return `${tuple(key.map(quoteIdent))} ${op} ${tuple(values.map(literal))}`;
}

/** The condition selecting a range's rows after its checkpoint (`after`: the key's texts as JSON, or a ctid). */
export function rangeConditions(where: string | undefined, bounds: Bounds, after: string | null): string[] {
  const out = where ? [`(${where})`] : [];
  if (bounds.by === 'key') {
    if (bounds.from !== null) out.push(keyCompare(bounds.key, '>=', bounds.from));
    if (bounds.to !== null) out.push(keyCompare(bounds.key, '<', bounds.to));
    if (after !== null) out.push(keyCompare(bounds.key, '>', JSON.parse(after) as string[]));
    return out.length ? out : ['TRUE'];
  }
  if (bounds.by === 'null-key') out.push(`(${bounds.key.map((k) => `${quoteIdent(k)} IS NULL`).join(' OR ')})`);
  else {
    if (bounds.fromBlock !== null) out.push(`ctid >= '(${bounds.fromBlock},0)'::tid`);
    if (bounds.toBlock !== null) out.push(`ctid < '(${bounds.toBlock},0)'::tid`);
  }
  if (after !== null) out.push(`ctid > ${literal(after)}::tid`);
  return out.length ? out : ['TRUE'];
}

/** A selected column as COPY should print it: arrays and composites as JSON, the rest as PostgreSQL writes them. */
export function selectItem(name: string, typcategory: string): string {
  return typcategory === 'A' || typcategory === 'C' ? `to_json(${quoteIdent(name)})::text` : quoteIdent(name);
}

/** COPY of a range's rows, the order columns appended (qualified, so they name the table's columns). */
export function copySql(table: string, select: readonly string[], order: readonly string[], conditions: readonly string[]): string {
  const orderBy = order.map((o) => (o === 'ctid' ? `${qualified(table)}.ctid` : `${qualified(table)}.${quoteIdent(o)}`)).join(', ');
  return `COPY (SELECT ${[...select, orderBy].join(', ')} FROM ${qualified(table)} WHERE ${conditions.join(' AND ')} ORDER BY ${orderBy}) TO STDOUT`;
}

/**
 * Every `step`-th key of a block sample, in key order, with the sample's size.
 * TABLESAMPLE SYSTEM reads whole random blocks, so its cost follows the
 * blocks sampled, not the table; `REPEATABLE` makes a plan repeatable.
 */
export function sampleSql(table: string, key: readonly string[], where: string | undefined, percent: number, rows: number): string {
  const keys = key.map(quoteIdent).join(', ');
  const conditions = [...(where ? [`(${where})`] : []), ...key.map((k) => `${quoteIdent(k)} IS NOT NULL`)].join(' AND ');
  return `SELECT ${key.map((k) => `${quoteIdent(k)}::text`).join(', ')}, n::text FROM (
            SELECT ${keys}, row_number() OVER (ORDER BY ${keys}) AS rn, count(*) OVER () AS n
              FROM ${qualified(table)} TABLESAMPLE SYSTEM (${percent}) REPEATABLE (0)
             WHERE ${conditions}) s
          WHERE rn % greatest(1, n / ${rows}) = 0 ORDER BY rn`;
}

export const TABLE_BLOCKS = `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::text AS blocks`;

export const COLUMNS = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname, t.typcategory AS category, a.attnotnull AS notnull
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

export const PRIMARY_KEY = `
  SELECT a.attname AS name
    FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord`;
