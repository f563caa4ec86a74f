/** The command line of `npm run bench`. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR } from './config.ts';

/**
 * load: the mariadb client's LOAD DATA (the reference); pipe: psql | mariadb;
 * pandas: read_sql → to_sql; pg, csv: batchsync; dirty: CSV with 1% dirty
 * rows; replace, upsert: CSV over existing rows (not run by default); small:
 * the 100k-row job (pipe, pandas, batchsync); one: the one-row job; bundles:
 * the Lambda bundles' import time.
 */
export const CASES = ['load', 'pipe', 'pandas', 'pg', 'csv', 'dirty', 'replace', 'upsert', 'small', 'one', 'bundles'] as const;
export type CaseName = (typeof CASES)[number];
const DEFAULT_CASES: readonly CaseName[] = CASES.filter((c) => c !== 'replace' && c !== 'upsert');

export const DEFAULT_ROWS = 1_000_000;
export const DEFAULT_SMALL_ROWS = 100_000;

export interface BenchOptions {
  rows: number;
  /** Rows of the small job. */
  smallRows: number;
  /** The jobs' channel.maxConcurrency: the most worker processes the command may start. */
  workers: number;
  /** Interleaved rounds: every case runs once per round; the table shows each case's median. */
  rounds: number;
  only: ReadonlySet<CaseName>;
  out: string;
  /** The command as typed, for RESULTS.md. */
  command: string;
}

export const USAGE = `usage: npm run bench -- [--rows N] [--small-rows N] [--rounds N] [--workers N] [--only ${CASES.join(',')}] [--out FILE]`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rows: { type: 'string', default: String(DEFAULT_ROWS) },
      'small-rows': { type: 'string', default: String(DEFAULT_SMALL_ROWS) },
      workers: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      only: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    rows: positiveInt(values.rows, 'rows'),
    smallRows: positiveInt(values['small-rows'], 'small-rows'),
    workers: positiveInt(values.workers, 'workers'),
    rounds: positiveInt(values.rounds, 'rounds'),
    only: parseCases(values.only),
    // --out is relative to where the command was typed; the default sits next to this script.
    out: values.out === undefined ? resolve(BENCH_DIR, 'RESULTS.md') : resolve(values.out),
    command: commandLine(argv),
  };
}

function positiveInt(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, not "${text}"`);
  return value;
}

function parseCases(text: string | undefined): ReadonlySet<CaseName> {
  if (text === undefined) return new Set(DEFAULT_CASES);
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(CASES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`--only: unknown case ${unknown.join(', ')}; the cases are ${CASES.join(', ')}`);
  return new Set(names as CaseName[]);
}

function commandLine(argv: readonly string[]): string {
  const args = argv.map((arg) => (/^[\w./=,:-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(' ');
  // npm sets this when the script runs as `npm run bench`; otherwise it was started through tsx directly.
  if (process.env.npm_lifecycle_event === 'bench') return args ? `npm run bench -- ${args}` : 'npm run bench';
  return args ? `npx tsx bench/run.ts ${args}` : 'npx tsx bench/run.ts';
}
