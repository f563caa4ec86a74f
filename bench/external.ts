/**
 * The yardsticks batchsync is compared with, each a separate program as a
 * person would run it: the `mariadb` client's LOAD DATA of a TSV file (the
 * limit), the `psql | mariadb` shell pipe, and a pandas script.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { BENCH_DIR, MYSQL_URL, PG_URL } from './config.ts';
import { COLUMN_LIST } from './rows.ts';

const run = promisify(execFile);
const BUFFER = 16 * 2 ** 20;

/** The `mariadb` client's connection arguments for MYSQL_URL; the password goes in the environment, not on the command line. */
function mariadbArgs(): { args: string[]; env: NodeJS.ProcessEnv } {
  const url = new URL(MYSQL_URL);
  const args = ['--local-infile=1', '--default-character-set=utf8mb4', '-h', url.hostname, '-P', url.port || '3306', '-u', decodeURIComponent(url.username)];
  const env = { ...process.env, ...(url.password && { MYSQL_PWD: decodeURIComponent(url.password) }) };
  return { args: [...args, url.pathname.slice(1)], env };
}

/** LOAD DATA of tab-separated text with COPY's conventions (\N, backslash escapes), which are also LOAD DATA's defaults. */
const loadSql = (table: string, file: string) =>
  `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (${COLUMN_LIST}); SHOW WARNINGS`;

/** Throws when the client printed warnings: with LOCAL a bad value is a warning, and a limit that mangled data would mean nothing. */
function noWarnings(stdout: string, what: string): void {
  if (stdout.trim() !== '') throw new Error(`${what} gave warnings:\n${stdout.slice(0, 2000)}`);
}

/** `mariadb -e "LOAD DATA LOCAL INFILE 'rows.tsv' ..."`: the physical limit. Returns the wall seconds. */
export async function mariadbLoadData(table: string, tsvPath: string): Promise<number> {
  const { args, env } = mariadbArgs();
  const started = performance.now();
  const { stdout } = await run('mariadb', [...args, '-e', loadSql(table, tsvPath)], { env, maxBuffer: BUFFER });
  const seconds = (performance.now() - started) / 1000;
  noWarnings(stdout, `mariadb LOAD DATA into ${table}`);
  return seconds;
}

/** The shell one-liner: `psql -c '\copy ... TO STDOUT' | mariadb -e "LOAD DATA LOCAL INFILE '/dev/stdin' ..."`. */
export async function shellPipe(sourceTable: string, table: string): Promise<number> {
  const { args, env } = mariadbArgs();
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const copy = `\\copy ${sourceTable} (${COLUMN_LIST}) TO STDOUT`;
  const line = `psql ${quote(PG_URL)} -X -q -c ${quote(copy)} | mariadb ${args.map(quote).join(' ')} -e ${quote(loadSql(table, '/dev/stdin'))}`;
  const started = performance.now();
  const { stdout } = await run('bash', ['-o', 'pipefail', '-c', line], { env, maxBuffer: BUFFER });
  const seconds = (performance.now() - started) / 1000;
  noWarnings(stdout, `psql | mariadb into ${table}`);
  return seconds;
}

/** The Python that has pandas, SQLAlchemy, PyMySQL and psycopg2, or null (the pandas lines are then skipped). */
export function findPandas(): string | null {
  const candidates = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  for (const python of new Set(candidates)) {
    const probe = spawnSync(python, ['-c', 'import pandas, sqlalchemy, pymysql, psycopg2'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return null;
}

/** bench/pandas-copy.py: read_sql → to_sql in chunks of 10k, through SQLAlchemy (psycopg2, PyMySQL). */
export async function pandasCopy(python: string, sourceTable: string, table: string): Promise<number> {
  const source = PG_URL.replace(/^postgres(ql)?:/, 'postgresql+psycopg2:');
  const target = `${MYSQL_URL.replace(/^mysql:/, 'mysql+pymysql:')}${MYSQL_URL.includes('?') ? '&' : '?'}charset=utf8mb4`;
  const started = performance.now();
  await run(python, [join(BENCH_DIR, 'pandas-copy.py'), source, sourceTable, target, table], { maxBuffer: BUFFER });
  return (performance.now() - started) / 1000;
}
