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
  /**
   * Keys (one text per key column) from `from` (inclusive) to `to` (exclusive); null: unbounded.
   * `nullable`: key columns that may be NULL; their NULL rows belong to the null-key range, never here.
   */
  | { by: 'key'; key: string[]; from: string[] | null; to: string[] | null; nullable?: string[] }
  /** Rows in table blocks [fromBlock, toBlock); null: unbounded. */
  | { by: 'ctid'; fromBlock: number | null; toBlock: number | null }
  /** Rows where a key column is NULL, which no key range holds; read in ctid order (a query's: in row order). */
  | { by: 'null-key'; key: string[] }
  /** All the rows of a query, in the order of their text; the checkpoint is how many were written. */
  | { by: 'rows' };

/** What a source reads from: a quoted table, or a query as a subquery; `ref` names its columns' owner. */
export interface Relation {
  from: string;
  ref: string;
  /** A query: no ctid, no block sample. */
  query: boolean;
}

export function relation(spec: { table?: string; query?: string }): Relation {
  if (spec.query !== undefined) return { from: `(${spec.query}) AS batchsync_q`, ref: 'batchsync_q', query: true };
  const table = qualified(spec.table as string);
  return { from: table, ref: table, query: false };
}

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
    // A bound's row comparison leaves out a NULL first column, not a NULL in a later one (decided by the first).
    const bounded = bounds.from !== null || bounds.to !== null;
    for (const k of bounds.nullable ?? []) if (!bounded || k !== bounds.key[0]) out.push(`${quoteIdent(k)} IS NOT NULL`);
    if (bounds.from !== null) out.push(keyCompare(bounds.key, '>=', bounds.from));
    if (bounds.to !== null) out.push(keyCompare(bounds.key, '<', bounds.to));
    if (after !== null) out.push(keyCompare(bounds.key, '>', JSON.parse(after) as string[]));
    return out.length ? out : ['TRUE'];
  }
  if (bounds.by === 'rows') return out.length ? out : ['TRUE'];
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

/** COPY of a range's rows in `order`, the `appended` order columns after the selected ones (qualified, so they name the table's columns). */
export function copySql(rel: Relation, select: readonly string[], order: readonly string[], appended: readonly string[], conditions: readonly string[]): string {
  const qualified = (o: string) => (o === 'ctid' ? `${rel.ref}.ctid` : `${rel.ref}.${quoteIdent(o)}`);
  return `COPY (SELECT ${[...select, ...appended.map(qualified)].join(', ')} FROM ${rel.from} WHERE ${conditions.join(' AND ')} ORDER BY ${order.map(qualified).join(', ')}) TO STDOUT`;
}

/**
 * COPY of a query's rows without a key, from the `offset`-th: ordered by
 * each row's whole text, so a resumed read skips exactly the rows written
 * (rows of equal text are interchangeable).
 */
export function rowsCopySql(rel: Relation, select: readonly string[], conditions: readonly string[], offset: number): string {
  return `COPY (SELECT ${select.join(', ')} FROM ${rel.from} WHERE ${conditions.join(' AND ')} ORDER BY ${rel.ref}::text OFFSET ${offset}) TO STDOUT`;
}

/** The job's where (and query) run reading no row: a mistake fails at check time. */
export function probeSql(rel: Relation, where: string | undefined): string {
  return `SELECT 1 FROM ${rel.from} WHERE ${where ? `(${where})` : 'TRUE'} LIMIT 0`;
}

/** The types of a query's result columns, by their oid and modifier. */
export const RESULT_TYPES = `
  SELECT format_type(f.oid, f.mod) AS type, t.typname, t.typcategory AS category
    FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS f(oid, mod, ord) JOIN pg_type t ON t.oid = f.oid ORDER BY f.ord`;

/** Tables and views a mistyped table name is compared with. */
export const TABLE_NAMES = `
  SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`;

/**
 * Every `step`-th key of a block sample, in key order, with the sample's size.
 * TABLESAMPLE SYSTEM reads whole random blocks, so its cost follows the
 * blocks sampled, not the table; `REPEATABLE` makes a plan repeatable.
 */
export function sampleSql(rel: Relation, key: readonly string[], where: string | undefined, percent: number, rows: number): string {
  const keys = key.map(quoteIdent).join(', ');
  const conditions = [...(where ? [`(${where})`] : []), ...key.map((k) => `${quoteIdent(k)} IS NOT NULL`)].join(' AND ');
  return `SELECT ${key.map((k) => `${quoteIdent(k)}::text`).join(', ')}, n::text FROM (
            SELECT ${keys}, row_number() OVER (ORDER BY ${keys}) AS rn, count(*) OVER () AS n
              FROM ${rel.from}${rel.query ? '' : ` TABLESAMPLE SYSTEM (${percent}) REPEATABLE (0)`}
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
