/**
 * Every MySQL statement batchsync sends, in one place. Identifiers go
 * through quoteId; values are bound or escaped by the driver, never pasted.
 */
import mysql from 'mysql2';
import { columnKind } from '../../core/convert.ts';
import type { Ledger } from '../../core/job-spec.ts';
import type { OutRow, TargetColumn } from '../../core/ports.ts';
import { encodeTextRows } from '../../core/text-rows.ts';

export function quoteId(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** `db.table` or `table` as a quoted, qualified name and its parts. */
export interface TableName {
  database: string;
  table: string;
  sql: string;
}

export function tableName(name: string, defaultDatabase: string): TableName {
  const dot = name.indexOf('.');
  const database = dot > 0 ? name.slice(0, dot) : defaultDatabase;
  const table = dot > 0 ? name.slice(dot + 1) : name;
  return { database, table, sql: `${quoteId(database)}.${quoteId(table)}` };
}

/**
 * The staging table of a swap-mode run, and the name the live table has for
 * a moment during the swap: both derived from the run, so any consumer and
 * the next run of the job can find them.
 */
export function swapTables(live: TableName, runId: string): { staging: TableName; old: TableName; pattern: string } {
  const base = live.table.slice(0, 40);
  const tag = runId.replaceAll('-', '').slice(0, 12);
  const named = (table: string) => ({ database: live.database, table, sql: `${quoteId(live.database)}.${quoteId(table)}` });
  return { staging: named(`${base}__bs_${tag}`), old: named(`${base}__bs_old_${tag}`), pattern: `${base.replace(/[\\_%]/g, (c) => `\\${c}`)}\\_\\_bs\\_%` };
}

/** The run a staging or old table belongs to (its 12-character tag), from its name. */
export function swapTag(table: string): string | null {
  return /__bs_(?:old_)?([0-9a-f]{12})$/.exec(table)?.[1] ?? null;
}

/** Every table of a database: what a mistyped table name is compared with. */
export const TABLE_NAMES = 'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?';

export const LIST_TABLES = 'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?';

// ---- target schema ------------------------------------------------------------

export const DESCRIBE_COLUMNS = `
  SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType,
         IS_NULLABLE AS nullable, CHARACTER_MAXIMUM_LENGTH AS charLength,
         CHARACTER_OCTET_LENGTH AS octetLength, NUMERIC_PRECISION AS numericPrecision,
         NUMERIC_SCALE AS numericScale, DATETIME_PRECISION AS fsp,
         CHARACTER_SET_NAME AS charset, EXTRA AS extra
    FROM information_schema.COLUMNS
   WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
   ORDER BY ORDINAL_POSITION`;

/** MariaDB stores JSON as LONGTEXT with a json_valid() check; this finds those columns. */
export const JSON_CHECKS = `
  SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
   WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`;

/** The column a `json_valid(\`col\`)` check is about. */
export function jsonCheckColumn(clause: string): string | null {
  return /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause)?.[1].replaceAll('``', '`') ?? null;
}

interface ColumnRow {
  name: string;
  dataType: string;
  columnType: string;
  nullable: string;
  charLength: string | number | null;
  octetLength: string | number | null;
  numericPrecision: string | number | null;
  numericScale: string | number | null;
  fsp: string | number | null;
  charset: string | null;
  extra: string;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

/** ENUM('a','b''c') → ['a', "b'c"] */
function parseMembers(columnType: string): string[] {
  const inner = /^(?:enum|set)\((.*)\)$/is.exec(columnType)?.[1];
  if (!inner) return [];
  return [...inner.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1].replaceAll("''", "'").replaceAll('\\\\', '\\'));
}

const CHAR_TYPES = new Set(['char', 'varchar']);

export function toTargetColumn(row: ColumnRow): TargetColumn {
  const dataType = row.dataType.toLowerCase();
  const columnType = row.columnType.toLowerCase();
  return {
    name: row.name,
    dataType,
    columnType,
    nullable: row.nullable === 'YES',
    unsigned: /\bunsigned\b/.test(columnType),
    // CHAR/VARCHAR are limited in characters; TEXT, BLOB and BINARY kinds in bytes.
    maxLength: CHAR_TYPES.has(dataType) ? num(row.charLength) : num(row.octetLength),
    precision: dataType === 'bit' ? Number(/\((\d+)\)/.exec(columnType)?.[1] ?? 1) : num(row.numericPrecision),
    scale: num(row.numericScale),
    fsp: num(row.fsp),
    charset: row.charset?.toLowerCase() ?? null,
    members: parseMembers(row.columnType),
    autoIncrement: /auto_increment/i.test(row.extra),
    generated: /\b(virtual|stored|persistent)\b/i.test(row.extra) && !/default_generated/i.test(row.extra),
  };
}

// ---- writing rows -------------------------------------------------------------------

/** How a column's text value becomes its value in SQL: binary kinds travel as hex. */
function valueSql(col: TargetColumn, placeholder: string): string {
  if (/binary|blob/.test(col.dataType)) return `UNHEX(${placeholder})`;
  if (col.dataType === 'bit') return `CAST(${placeholder} AS UNSIGNED)`;
  return placeholder;
}

const needsWrap = (col: TargetColumn) => valueSql(col, '') !== '';

export type WriteVerb = 'INSERT' | 'INSERT IGNORE' | 'REPLACE';

/** An INSERT of no rows: it needs the privileges a real one needs, and writes nothing. */
export function emptyInsertSql(table: string, columns: readonly string[]): string {
  const names = columns.map(quoteId).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT ${names} FROM ${table} WHERE 1 = 0`;
}

/**
 * LOAD DATA LOCAL INFILE of tab-separated rows (see encodeTsvRows). Columns
 * whose text needs a conversion go through a user variable and SET.
 */
export function loadDataSql(table: string, columns: readonly TargetColumn[], verb: 'IGNORE' | 'REPLACE', skip = 0): string {
  // Fields after the columns (a source's checkpoint key) go to variables nothing reads.
  const targets = [...columns.map((c, i) => (needsWrap(c) ? `@v${i}` : quoteId(c.name))), ...Array.from({ length: skip }, (_, i) => `@skip${i}`)];
  const sets = columns.flatMap((c, i) => (needsWrap(c) ? [`${quoteId(c.name)} = ${valueSql(c, `@v${i}`)}`] : []));
  return (
    `LOAD DATA LOCAL INFILE 'batchsync.tsv' ${verb} INTO TABLE ${table} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ` +
    `(${targets.join(', ')})${sets.length ? ` SET ${sets.join(', ')}` : ''}`
  );
}

/** Kinds whose text can hold a tab, newline or backslash; numbers, dates and hex cannot. */
const FREE_TEXT = new Set(['string', 'json', 'member', 'time']);

/** Rows in the LOAD DATA format above: \N for NULL, special characters escaped. */
export function encodeTsvRows(rows: readonly OutRow[], columns: readonly TargetColumn[]): string {
  return encodeTextRows(rows, columns.map((c) => FREE_TEXT.has(columnKind(c))));
}

/** The columns of each unique key (the primary key among them), in index order. */
export const UNIQUE_KEYS = `
  SELECT INDEX_NAME AS indexName, COLUMN_NAME AS columnName FROM information_schema.STATISTICS
   WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
   ORDER BY INDEX_NAME, SEQ_IN_INDEX`;

/** Whether a column's text goes to the database as hex (binary kinds): its key is compared as hex. */
export const isHexColumn = (col: TargetColumn) => /binary|blob/.test(col.dataType);

/**
 * The rows among `keys` (values of `columns`, as the rows carry them) that
 * the table already holds, one row of key texts each: binary as hex.
 */
export function existingKeysSql(table: string, columns: readonly TargetColumn[], keys: readonly OutRow[]): string {
  const select = columns.map((c) => (isHexColumn(c) ? `HEX(${quoteId(c.name)})` : quoteId(c.name))).join(', ');
  const literal = (c: TargetColumn, v: string | null) => valueSql(c, mysql.escape(v));
  const tuples = keys.map((k) => (columns.length === 1 ? literal(columns[0], k[0]) : `(${columns.map((c, i) => literal(c, k[i])).join(',')})`));
  const left = columns.length === 1 ? quoteId(columns[0].name) : `(${columns.map((c) => quoteId(c.name)).join(', ')})`;
  return `SELECT ${select} FROM ${table} WHERE ${left} IN (${tuples.join(',')})`;
}

/** A multi-row INSERT (or REPLACE, or upsert) with every value escaped. */
export function insertSql(table: string, columns: readonly TargetColumn[], rows: readonly OutRow[], verb: WriteVerb, upsert: boolean): string {
  const wraps = columns.map((c) => (needsWrap(c) ? c : null));
  const values = new Array<string>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    let tuple = '(';
    for (let i = 0; i < row.length; i++) {
      if (i > 0) tuple += ',';
      const escaped = mysql.escape(row[i]);
      const wrap = wraps[i];
      tuple += wrap && row[i] !== null ? valueSql(wrap, escaped) : escaped;
    }
    values[r] = `${tuple})`;
  }
  const names = columns.map((c) => quoteId(c.name)).join(', ');
  const update = upsert ? ` ON DUPLICATE KEY UPDATE ${columns.map((c) => `${quoteId(c.name)} = VALUES(${quoteId(c.name)})`).join(', ')}` : '';
  return `${verb} INTO ${table} (${names}) VALUES ${values.join(',')}${update}`;
}

// ---- the ledger ---------------------------------------------------------------------

export interface LedgerTables {
  runs: string;
  ranges: string;
  dirty: string;
  attempts: string;
  /** Where they live, for information_schema. */
  database: string;
  prefix: string;
}

export function ledgerTables(ledger: Ledger, targetDatabase: string): LedgerTables {
  const database = ledger.database ?? targetDatabase;
  const t = (name: string) => `${quoteId(database)}.${quoteId(ledger.prefix + name)}`;
  return { runs: t('runs'), ranges: t('ranges'), dirty: t('dirty'), attempts: t('attempts'), database, prefix: ledger.prefix };
}

/** The ledger's tables, each with the statement that creates it (`table`: its name, as information_schema has it). */
export function ledgerDdl(t: LedgerTables): Array<{ table: string; sql: string }> {
  const name = (table: string) => `${t.prefix}${table}`;
  return [
    {
      table: name('runs'),
      sql: `CREATE TABLE IF NOT EXISTS ${t.runs} (
      run_id VARCHAR(40) NOT NULL PRIMARY KEY,
      job VARCHAR(64) NOT NULL,
      logical_time DATETIME(3) NOT NULL,
      vars TEXT NOT NULL,
      vars_hash CHAR(40) NOT NULL,
      attempt INT NOT NULL DEFAULT 1,
      data_hash CHAR(40) NOT NULL DEFAULT '',
      spec_hash CHAR(40) NOT NULL DEFAULT '',
      status VARCHAR(16) NOT NULL,
      error TEXT NULL,
      ranges INT NOT NULL DEFAULT 0,
      ranges_done INT NOT NULL DEFAULT 0,
      dirty_records BIGINT NOT NULL DEFAULT 0,
      prepared_at DATETIME(3) NULL,
      superseded_by VARCHAR(40) NULL,
      event_published_at DATETIME(3) NULL,
      throttle_rows DOUBLE NULL,
      throttle_bytes DOUBLE NULL,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      finished_at DATETIME(3) NULL,
      UNIQUE KEY run_identity (job, logical_time, vars_hash, attempt),
      KEY by_created (created_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    },
    {
      table: name('ranges'),
      sql: `CREATE TABLE IF NOT EXISTS ${t.ranges} (
      run_id VARCHAR(40) NOT NULL,
      range_id INT NOT NULL,
      status VARCHAR(16) NOT NULL,
      spec MEDIUMTEXT NOT NULL,
      checkpoint TEXT NULL,
      rows_read BIGINT NOT NULL DEFAULT 0,
      rows_written BIGINT NOT NULL DEFAULT 0,
      dirty_records BIGINT NOT NULL DEFAULT 0,
      skipped BIGINT NOT NULL DEFAULT 0,
      bytes_written BIGINT NOT NULL DEFAULT 0,
      attempts INT NOT NULL DEFAULT 0,
      owner VARCHAR(128) NULL,
      error TEXT NULL,
      started_at DATETIME(3) NULL,
      updated_at DATETIME(3) NOT NULL,
      finished_at DATETIME(3) NULL,
      PRIMARY KEY (run_id, range_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    },
    {
      table: name('dirty'),
      sql: `CREATE TABLE IF NOT EXISTS ${t.dirty} (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      run_id VARCHAR(40) NOT NULL,
      range_id INT NOT NULL,
      column_name VARCHAR(64) NULL,
      reason TEXT NOT NULL,
      record MEDIUMTEXT NOT NULL,
      created_at DATETIME(3) NOT NULL,
      KEY by_run (run_id, range_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    },
    {
      table: name('attempts'),
      sql: `CREATE TABLE IF NOT EXISTS ${t.attempts} (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      run_id VARCHAR(40) NOT NULL,
      range_id INT NOT NULL,
      owner VARCHAR(128) NOT NULL,
      started_at DATETIME(3) NOT NULL,
      heartbeat_at DATETIME(3) NOT NULL,
      ended_at DATETIME(3) NULL,
      KEY by_run (run_id, range_id),
      KEY open_attempts (ended_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    },
  ];
}

/**
 * Changes since the first ledger, applied to an older ledger when it is
 * opened: each runs when its column is missing. Runs from before variables
 * were part of a run's identity get the empty set.
 */
export function ledgerMigrations(t: LedgerTables): Array<{ table: string; column: string; sql: string[] }> {
  const runs = `${t.prefix}runs`;
  const noVars = "SHA1('{}')";
  return [
    { table: runs, column: 'prepared_at', sql: [`ALTER TABLE ${t.runs} ADD COLUMN prepared_at DATETIME(3) NULL`] },
    { table: runs, column: 'throttle_rows', sql: [`ALTER TABLE ${t.runs} ADD COLUMN throttle_rows DOUBLE NULL`] },
    { table: runs, column: 'throttle_bytes', sql: [`ALTER TABLE ${t.runs} ADD COLUMN throttle_bytes DOUBLE NULL`] },
    {
      table: runs,
      column: 'vars_hash',
      sql: [
        `ALTER TABLE ${t.runs} ADD COLUMN vars TEXT NULL, ADD COLUMN vars_hash CHAR(40) NULL, ADD COLUMN attempt INT NOT NULL DEFAULT 1,
           ADD COLUMN data_hash CHAR(40) NOT NULL DEFAULT '', ADD COLUMN spec_hash CHAR(40) NOT NULL DEFAULT '', ADD COLUMN superseded_by VARCHAR(40) NULL`,
        `UPDATE ${t.runs} SET vars = '{}', vars_hash = ${noVars}, status = IF(status = 'planning', 'pending', status)`,
        `ALTER TABLE ${t.runs} MODIFY vars TEXT NOT NULL, MODIFY vars_hash CHAR(40) NOT NULL,
           DROP INDEX job_time, ADD UNIQUE KEY run_identity (job, logical_time, vars_hash, attempt)`,
      ],
    },
    {
      table: runs,
      column: 'event_published_at',
      // Runs that ended before the outbox existed were announced as they ended.
      sql: [`ALTER TABLE ${t.runs} ADD COLUMN event_published_at DATETIME(3) NULL`, `UPDATE ${t.runs} SET event_published_at = NOW(3)`],
    },
    {
      table: `${t.prefix}attempts`,
      column: 'heartbeat_at',
      sql: [
        `ALTER TABLE ${t.attempts} ADD COLUMN heartbeat_at DATETIME(3) NULL, ADD KEY open_attempts (ended_at)`,
        `UPDATE ${t.attempts} SET heartbeat_at = started_at, ended_at = COALESCE(ended_at, started_at)`,
        `ALTER TABLE ${t.attempts} MODIFY heartbeat_at DATETIME(3) NOT NULL`,
      ],
    },
  ];
}

export const LEDGER_COLUMNS = `
  SELECT TABLE_NAME AS tableName, COLUMN_NAME AS columnName FROM information_schema.COLUMNS
   WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?`;

/**
 * A run with its totals (sums over its ranges; the run row keeps what must
 * be counted atomically), its live attempts and its last activity.
 * `stale` is ATTEMPT_STALE_MS in seconds.
 */
export function runSelect(t: LedgerTables, staleSeconds: number): string {
  return `SELECT u.run_id, u.job, u.logical_time, u.vars, u.attempt, u.data_hash, u.spec_hash, u.status, u.error, u.ranges, u.ranges_done,
          u.dirty_records, u.prepared_at, u.superseded_by, u.event_published_at, u.created_at, u.updated_at, u.finished_at,
          COALESCE(SUM(r.rows_read), 0) AS rows_read, COALESCE(SUM(r.rows_written), 0) AS rows_written,
          COALESCE(SUM(r.skipped), 0) AS skipped, COALESCE(SUM(r.bytes_written), 0) AS bytes_written,
          GREATEST(u.updated_at, COALESCE(MAX(r.updated_at), u.updated_at)) AS last_activity,
          (SELECT COUNT(*) FROM ${t.attempts} a WHERE a.run_id = u.run_id AND a.ended_at IS NULL
              AND a.heartbeat_at > NOW(3) - INTERVAL ${staleSeconds} SECOND) AS live_attempts
     FROM ${t.runs} u LEFT JOIN ${t.ranges} r ON r.run_id = u.run_id`;
}
