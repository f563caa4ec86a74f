/** The command line of `npm run bench`. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR } from './config.ts';

export const CASES = ['load', 'csv', 'dirty', 'replace', 'upsert', 'pg', 'insert'] as const;
export type CaseName = (typeof CASES)[number];

export const DEFAULT_ROWS = 1_000_000;

export interface BenchOptions {
  rows: number;
  workers: number;
  /** Rows of the row-by-row INSERT baseline: at a few thousand rows/s, all N would take minutes. */
  sample: number;
  only: ReadonlySet<CaseName>;
  out: string;
  /** The command as typed, for RESULTS.md. */
  command: string;
}

export const USAGE = `usage: npm run bench -- [--rows N] [--workers N] [--sample N] [--only ${CASES.join(',')}] [--out FILE]`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rows: { type: 'string', default: String(DEFAULT_ROWS) },
      workers: { type: 'string', default: '2' },
      sample: { type: 'string', default: '5000' },
      only: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    rows: positiveInt(values.rows, 'rows'),
    workers: positiveInt(values.workers, 'workers'),
    sample: positiveInt(values.sample, 'sample'),
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
  if (text === undefined) return new Set(CASES);
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
