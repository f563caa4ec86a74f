/**
 * `npm run bench`: how fast batchsync loads rows into MySQL, from PostgreSQL
 * and from CSV files, next to the mariadb client's LOAD DATA (the limit), the
 * psql | mariadb shell pipe and a pandas script; the 100k-row and one-row
 * jobs; the CPU the command spends; the Lambda bundles' import time. Every
 * case runs once per round and the rounds interleave, so slow phases of the
 * shared machine fall on all cases alike; the table shows medians.
 * Prints the tables and writes them, with the machine, to bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { runJob, writeJob } from './batchsync.ts';
import { buildBundles, importMs } from './bundles.ts';
import { MYSQL_URL, PG_URL } from './config.ts';
import { ensureFiles, ensurePgSource, type SourceFiles } from './data.ts';
import { findPandas, mariadbLoadData, pandasCopy, shellPipe } from './external.ts';
import { loadData, recreateTable, verifyDirtyLeftOut, verifyTable } from './mysql.ts';
import { type BenchOptions, type CaseName, parseOptions, USAGE } from './options.ts';
import { type Case, describeMachine, resultsMarkdown, resultsText, type Sample } from './report.ts';
import { DIRTY_EVERY, dirtyRows } from './rows.ts';

/** The PostgreSQL sources: the large table, the small job's and the one-row job's. */
const PG_TABLES = { large: 'bench_src', small: 'bench_src_small', one: 'bench_src_one' } as const;
/** The MySQL target tables; each case recreates its own before every round, and all are dropped at the end. */
const TARGET_PREFIX = 'bench_dst_';

interface Bench {
  options: BenchOptions;
  my: mysql.Connection;
  pgc: pg.Client;
  files: SourceFiles | null;
  notes: string[];
}

const log = (text: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const my = await mysql.createConnection({ uri: MYSQL_URL });
  const pgc = new pg.Client({ connectionString: PG_URL });
  const targets = new Set<string>();
  try {
    await pgc.connect();
    const machine = await describeMachine(my, pgc);
    const bench: Bench = { options, my, pgc, files: null, notes: [] };
    await prepareSources(bench);
    const cases = await defineCases(bench, targets);
    for (let round = 1; round <= options.rounds; round++) {
      for (const c of cases) {
        if (c.skipped) continue;
        log(`round ${round}/${options.rounds}: ${c.label}, ${c.rows.toLocaleString('en-US')} rows`);
        c.samples.push(await c.measure());
      }
    }
    const report = { command: options.command, options, machine, cases, notes: bench.notes };
    process.stdout.write(`\n${resultsText(report)}\n`);
    await writeFile(options.out, resultsMarkdown(report));
    log(`wrote ${options.out}`);
    return 0;
  } finally {
    try {
      for (const table of targets) await my.query(`DROP TABLE IF EXISTS ${table}`);
    } catch (error) {
      // Logged, not thrown: a cleanup error must not hide the failure that got us here.
      log(`could not drop the target tables: ${error instanceof Error ? error.message : String(error)}`);
    }
    await Promise.allSettled([my.end(), pgc.end()]);
  }
}

/** Generates (or reuses) only the sources the selected cases read. */
async function prepareSources(bench: Bench): Promise<void> {
  const { only, rows, smallRows } = bench.options;
  const has = (...names: CaseName[]) => names.some((n) => only.has(n));
  const generated: boolean[] = [];
  if (has('load', 'csv', 'dirty', 'replace', 'upsert')) {
    const started = performance.now();
    bench.files = await ensureFiles(rows);
    generated.push(noteSource(bench, 'CSV and TSV files', rows, bench.files.reused, started));
  }
  const tables: [string, number, boolean][] = [
    [PG_TABLES.large, rows, has('pipe', 'pandas', 'pg')],
    [PG_TABLES.small, smallRows, has('small')],
    [PG_TABLES.one, 1, has('one')],
  ];
  for (const [table, n, wanted] of tables) {
    if (!wanted) continue;
    const started = performance.now();
    generated.push(noteSource(bench, `PostgreSQL table ${table}`, n, await ensurePgSource(bench.pgc, n, table), started));
  }
  if (generated.includes(true)) await flushGenerated(bench.pgc);
}

function noteSource(bench: Bench, what: string, rows: number, reused: boolean, started: number): boolean {
  const text = reused
    ? `${what}: reused from an earlier run (already ${rows.toLocaleString('en-US')} rows)`
    : `${what}: generated, ${rows.toLocaleString('en-US')} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  log(text);
  bench.notes.push(text);
  return !reused;
}

/**
 * Writes freshly generated sources to disk before anything is timed; left to
 * the kernel's and PostgreSQL's own schedules, that write-back lands in the
 * first cases and competes with them for the disk.
 */
async function flushGenerated(pgc: pg.Client): Promise<void> {
  try {
    await pgc.query('CHECKPOINT');
  } catch (error) {
    log(`no CHECKPOINT after generating the sources: ${error instanceof Error ? error.message : String(error)}`);
  }
  execFileSync('sync');
}

function requireFiles(bench: Bench): SourceFiles {
  if (bench.files === null) throw new Error('the source files were not prepared');
  return bench.files;
}

/** The selected cases, in the order every round runs them. */
async function defineCases(bench: Bench, targets: Set<string>): Promise<Case[]> {
  const { options, my } = bench;
  const { only, rows, smallRows } = options;
  const cases: Case[] = [];
  const python = only.has('pandas') || only.has('small') ? findPandas() : null;
  const noPandas = 'skipped: no python3 with pandas, sqlalchemy, pymysql and psycopg2 (Debian: python3-pandas python3-sqlalchemy python3-pymysql python3-psycopg2)';
  if (python === null && (only.has('pandas') || only.has('small'))) log(`pandas ${noPandas}`);

  /** A case loading `n` rows into a fresh target, checked after every round. */
  const loading = (id: string, group: Case['group'], label: string, n: number, measure: (table: string) => Promise<Sample>, skipped: string | null = null) => {
    const table = `${TARGET_PREFIX}${id}`;
    targets.add(table);
    cases.push({
      id,
      group,
      label,
      rows: n,
      skipped,
      samples: [],
      async measure() {
        await recreateTable(my, table);
        const sample = await measure(table);
        await verifyTable(my, table, n);
        return sample;
      },
    });
  };
  const wall = (seconds: number): Sample => ({ seconds, runSeconds: null, cpuSeconds: null });
  const pgSource = (table: string) => ({ type: 'postgres', connection: { url: PG_URL }, table: `public.${table}` });
  const csvSource = (dir: string) => ({ type: 'files', url: `${pathToFileURL(dir).href}/`, format: 'csv' });

  if (only.has('load')) loading('load', 'large', '`mariadb` client, LOAD DATA LOCAL INFILE of a TSV file', rows, async (t) => wall(await mariadbLoadData(t, requireFiles(bench).tsvPath)));
  if (only.has('pipe')) loading('pipe', 'large', "`psql \\copy … TO STDOUT | mariadb LOAD DATA LOCAL INFILE '/dev/stdin'`", rows, async (t) => wall(await shellPipe(PG_TABLES.large, t)));
  if (only.has('pandas')) loading('pandas', 'large', 'pandas read_sql → to_sql (SQLAlchemy, PyMySQL, chunks of 10k)', rows, async (t) => wall(await pandasCopy(python as string, PG_TABLES.large, t)), python ? null : noPandas);
  if (only.has('pg')) loading('pg', 'large', '`batchsync run`, PostgreSQL → MySQL', rows, (t) => batchsync(bench, 'pg', pgSource(PG_TABLES.large), t, rows));
  if (only.has('csv')) loading('csv', 'large', '`batchsync run`, CSV → MySQL', rows, (t) => batchsync(bench, 'csv', csvSource(requireFiles(bench).csvDir), t, rows));
  if (only.has('dirty')) {
    const table = `${TARGET_PREFIX}dirty`;
    targets.add(table);
    const dirty = dirtyRows(rows);
    cases.push({
      id: 'dirty',
      group: 'large',
      label: `\`batchsync run\`, CSV → MySQL, 1 row in ${DIRTY_EVERY} dirty`,
      rows,
      skipped: null,
      samples: [],
      async measure() {
        await recreateTable(my, table);
        const sample = await batchsync(bench, 'dirty', csvSource(requireFiles(bench).dirtyCsvDir), table, rows, dirty);
        await verifyDirtyLeftOut(my, table, rows - dirty);
        return sample;
      },
    });
  }
  for (const mode of ['replace', 'upsert'] as const) {
    if (!only.has(mode)) continue;
    const table = `${TARGET_PREFIX}${mode}`;
    targets.add(table);
    cases.push({
      id: mode,
      group: 'large',
      label: `\`batchsync run\`, CSV → MySQL, ${mode} over existing rows`,
      rows,
      skipped: null,
      samples: [],
      async measure() {
        // Every row already there (loaded untimed), so each written row replaces or updates one.
        await recreateTable(my, table);
        await loadData(my, table, requireFiles(bench).tsvPath);
        const sample = await batchsync(bench, mode, csvSource(requireFiles(bench).csvDir), table, rows, 0, mode);
        await verifyTable(my, table, rows);
        return sample;
      },
    });
  }
  if (only.has('small')) {
    loading('small_pipe', 'small', 'psql | mariadb pipe', smallRows, async (t) => wall(await shellPipe(PG_TABLES.small, t)));
    loading('small_pandas', 'small', 'pandas read_sql → to_sql', smallRows, async (t) => wall(await pandasCopy(python as string, PG_TABLES.small, t)), python ? null : noPandas);
    loading('small_pg', 'small', '`batchsync run`, PostgreSQL → MySQL', smallRows, (t) => batchsync(bench, 'small', pgSource(PG_TABLES.small), t, smallRows));
  }
  if (only.has('one')) loading('one_pg', 'small', '`batchsync run`, PostgreSQL → MySQL, one row', 1, (t) => batchsync(bench, 'one', pgSource(PG_TABLES.one), t, 1));
  if (only.has('bundles')) {
    log('building the Lambda bundles');
    for (const bundle of await buildBundles()) {
      cases.push({
        id: `bundle_${bundle.name}`,
        group: 'bundle',
        label: `${bundle.name} bundle (${(bundle.bytes / 2 ** 20).toFixed(2)} MB): \`await import()\` in a fresh node`,
        rows: 0,
        bytes: bundle.bytes,
        skipped: null,
        samples: [],
        measure: async () => {
          const { wallMs, cpuMs } = await importMs(bundle);
          return { seconds: wallMs / 1000, runSeconds: null, cpuSeconds: cpuMs / 1000 };
        },
      });
    }
  }
  return cases;
}

/** One `batchsync run` of a job reading `source` into `table`; throws unless it read, wrote and judged every row as expected. */
async function batchsync(bench: Bench, name: string, source: object, table: string, rows: number, dirty = 0, writeMode = 'insert'): Promise<Sample> {
  const { options } = bench;
  const job = await writeJob(`bench_${name}`, source, table, options.workers, writeMode);
  const { summary, wallSeconds, cpuSeconds, rss } = await runJob(job);
  if (summary.rowsRead !== rows || summary.rowsWritten !== rows - dirty || summary.dirtyRecords !== dirty) {
    throw new Error(
      `${name}: run ${summary.runId} read ${summary.rowsRead} rows, wrote ${summary.rowsWritten} with ${summary.dirtyRecords} dirty; expected ${rows}, ${rows - dirty}, ${dirty}`,
    );
  }
  const mb = (value: number | null) => (value === null ? '–' : `${value.toFixed(0)} MB`);
  const note = `${summary.ranges} ranges, ${rss.consumers} worker processes seen, peak RSS ${mb(rss.runMb)} (command), ${mb(rss.consumerMb)} (largest worker)`;
  return { seconds: wallSeconds, runSeconds: summary.durationMs / 1000, cpuSeconds, note };
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
