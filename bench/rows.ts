/**
 * The benchmark's rows: five columns of everyday types, about 55 bytes a row
 * as text. Row `i` (1-based) is a pure function of `i`, written identically
 * by the file generator (here) and by PostgreSQL (`pgFillSql`), so every
 * case loads the same data and a target can be checked against a checksum
 * computed here.
 */

export const COLUMNS = ['id', 'education', 'num', 'amount', 'created'] as const;
export const COLUMN_LIST = COLUMNS.join(', ');

/**
 * Some variety in string length, and CJK text (3 bytes a character in UTF-8);
 * no delimiter, quote, backslash or newline, so CSV and TSV need no escaping.
 */
export const LEVELS = ['education', '小学 primary school', '高中 high school', '学士 bachelor', '硕士 master', '博士 doctorate'] as const;

const EPOCH_MS = Date.UTC(2024, 0, 1);
const CREATED_STEP_SECONDS = 17;

/** The MySQL shape of every target table. */
export function targetDdl(table: string): string {
  return `CREATE TABLE ${table} (
  id BIGINT NOT NULL PRIMARY KEY,
  education VARCHAR(255) NULL,
  num INT NULL,
  amount DECIMAL(12,2) NULL,
  created DATETIME NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

export const pgSourceDdl = (table: string) => `CREATE TABLE ${table} (
  id bigint NOT NULL,
  education varchar(255),
  num int,
  amount numeric(12,2),
  created timestamp
)`;

/**
 * Fills `table` with rows 1..$1, the same values as `rowFields` ($2 is
 * `LEVELS`). The series is bigint because `g * 7919` overflows int.
 */
export const pgFillSql = (table: string) => `INSERT INTO ${table} (${COLUMN_LIST})
SELECT g,
       ($2::text[])[(g % ${LEVELS.length})::int + 1] || ' ' || (g % 97),
       (g * 7919) % 100000 - 50000,
       ((g * 31) % 10000000 - 5000000) / 100.0,
       timestamp '2024-01-01' + g * interval '${CREATED_STEP_SECONDS} seconds'
  FROM generate_series(1::bigint, $1::bigint) AS g`;

const num = (i: number) => ((i * 7919) % 100_000) - 50_000;
const amountCents = (i: number) => ((i * 31) % 10_000_000) - 5_000_000;

/** Cents as DECIMAL text, by integer arithmetic so no float rounding can creep in. */
export function formatCents(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** In the dirty case, one row in this many has a `num` no integer column takes. */
export const DIRTY_EVERY = 100;
export const isDirty = (i: number) => i % DIRTY_EVERY === DIRTY_EVERY / 2;
export const dirtyRows = (rows: number) => Math.floor((rows + DIRTY_EVERY / 2) / DIRTY_EVERY);

/** Row `i` as the text of its columns, in `COLUMNS` order. */
export function rowFields(i: number): string[] {
  const created = new Date(EPOCH_MS + i * CREATED_STEP_SECONDS * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return [String(i), `${LEVELS[i % LEVELS.length]} ${i % 97}`, String(num(i)), formatCents(amountCents(i)), created];
}

/** What a table holding exactly rows 1..n must answer to `checksumSql`, as text. */
export interface Checksum {
  rows: number;
  num: string;
  amount: string;
  /** Characters of `education`: text mangled on the way (a wrong character set) changes it. */
  chars: string;
}

/** A cheap content check on top of the row count: a loader that writes NULLs, truncates values or mangles text fails it. */
export function checksumSql(table: string, engine: 'mysql' | 'postgres'): string {
  const chars = engine === 'mysql' ? 'CHAR_LENGTH' : 'LENGTH';
  return `SELECT COUNT(*) AS n, COALESCE(SUM(num), 0) AS num, COALESCE(SUM(amount), 0.00) AS amount, COALESCE(SUM(${chars}(education)), 0) AS chars FROM ${table}`;
}

export function expectedChecksum(rows: number): Checksum {
  let sumNum = 0;
  let sumCents = 0;
  let chars = 0;
  const levelChars = LEVELS.map((level) => [...level].length);
  // The sums stay far below 2^53 for any row count this benchmark can take.
  for (let i = 1; i <= rows; i++) {
    sumNum += num(i);
    sumCents += amountCents(i);
    chars += levelChars[i % LEVELS.length] + 1 + String(i % 97).length;
  }
  return { rows, num: String(sumNum), amount: formatCents(sumCents), chars: String(chars) };
}

/** A database's answer to `checksumSql` (drivers differ in number vs string) as a `Checksum`. */
export function toChecksum(row: { n: unknown; num: unknown; amount: unknown; chars: unknown }): Checksum {
  return { rows: Number(row.n), num: String(row.num), amount: String(row.amount), chars: String(row.chars) };
}

export function sameChecksum(a: Checksum, b: Checksum): boolean {
  return a.rows === b.rows && a.num === b.num && a.amount === b.amount && a.chars === b.chars;
}
