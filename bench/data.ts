/**
 * The benchmark's sources: a directory of CSV files, one TSV file for LOAD
 * DATA, and the PostgreSQL table bench_src. Generating them takes longer than
 * some cases, so each is kept and reused while it still holds the wanted rows.
 */
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { DATA_DIR } from './config.ts';
import { checksumSql, COLUMNS, expectedChecksum, isDirty, LEVELS, pgFillSql, pgSourceDdl, rowFields, sameChecksum, toChecksum } from './rows.ts';

export const CSV_FILES = 4;
/** Lines joined per write: few enough syscalls without holding a whole file in memory. */
const LINES_PER_WRITE = 10_000;
/** Bump when `rowFields` or the file layout changes, so older files are regenerated. */
const FILES_VERSION = 3;

export interface SourceFiles {
  csvDir: string;
  /** The same rows, but one in DIRTY_EVERY has a bad `num`. */
  dirtyCsvDir: string;
  tsvPath: string;
  /** The files were already there with these rows and were not regenerated. */
  reused: boolean;
}

interface Manifest {
  version: number;
  rows: number;
}

const MANIFEST = join(DATA_DIR, 'manifest.json');

/** The CSV directory and the TSV file for `rows` rows, generated unless the manifest says they are there. */
export async function ensureFiles(rows: number): Promise<SourceFiles> {
  const files = { csvDir: join(DATA_DIR, 'csv'), dirtyCsvDir: join(DATA_DIR, 'csv-dirty'), tsvPath: join(DATA_DIR, 'rows.tsv') };
  if (await manifestMatches(rows)) return { ...files, reused: true };

  // The manifest goes first and comes back last, so an interrupted generation is redone, never reused.
  await rm(MANIFEST, { force: true });
  for (const [dir, dirty] of [[files.csvDir, false], [files.dirtyCsvDir, true]] as const) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < CSV_FILES; f++) {
      const first = Math.floor((f * rows) / CSV_FILES) + 1;
      const last = Math.floor(((f + 1) * rows) / CSV_FILES);
      await writeRows(join(dir, `part-${f}.csv`), first, last, ',', COLUMNS.join(','), dirty);
    }
  }
  await writeRows(files.tsvPath, 1, rows, '\t', null, false);
  await writeFile(MANIFEST, `${JSON.stringify({ version: FILES_VERSION, rows } satisfies Manifest)}\n`);
  return { ...files, reused: false };
}

async function manifestMatches(rows: number): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as Partial<Manifest>;
    return manifest.version === FILES_VERSION && manifest.rows === rows;
  } catch {
    return false; // no manifest yet, or a broken one: generate
  }
}

/** Rows first..last, one per line; a header line first when given; with `dirty`, the dirty rows' `num` is not a number. */
async function writeRows(path: string, first: number, last: number, separator: string, header: string | null, dirty: boolean): Promise<void> {
  const file = await open(path, 'w');
  try {
    if (header !== null) await file.write(`${header}\n`);
    for (let start = first; start <= last; start += LINES_PER_WRITE) {
      const end = Math.min(last, start + LINES_PER_WRITE - 1);
      const lines: string[] = [];
      for (let i = start; i <= end; i++) {
        const fields = rowFields(i);
        if (dirty && isDirty(i)) fields[2] = 'n/a';
        lines.push(fields.join(separator));
      }
      await file.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await file.close();
  }
}

/**
 * `table` (in public) with rows 1..`rows`; reused when its checksum already
 * matches (checked rather than just counted, as the table outlives this
 * script). Returns whether it was reused.
 */
export async function ensurePgSource(client: pg.Client, rows: number, table = 'bench_src'): Promise<boolean> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`public.${table}`]);
  if (exists.rows[0].t !== null) {
    const found = await client.query<{ n: string; num: string; amount: string; chars: string }>(checksumSql(table, 'postgres'));
    if (sameChecksum(toChecksum(found.rows[0]), expectedChecksum(rows))) return true;
  }
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  await client.query(pgSourceDdl(table));
  await client.query(pgFillSql(table), [rows, [...LEVELS]]);
  // The key after the fill: building the index once is faster than maintaining it row by row.
  await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
  await client.query(`ANALYZE ${table}`);
  return false;
}
