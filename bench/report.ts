/** The results: the machine they came from and the table, as markdown for the console and RESULTS.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { REPO_DIR } from './config.ts';
import { DEFAULT_ROWS } from './options.ts';

/** One line of the results table. */
export interface Measurement {
  label: string;
  rows: number;
  seconds: number;
  /** The largest consumer's peak RSS; null where there are no consumers. */
  consumerRssMb: number | null;
  /** The LOAD DATA line, which every other line is compared with. */
  reference?: boolean;
}

export interface Machine {
  date: string;
  /** The batchsync code measured: the commit, and whether the working tree differed from it. */
  revision: string;
  cpus: string;
  memory: string;
  node: string;
  mariadb: string;
  postgres: string;
}

export async function describeMachine(my: mysql.Connection, pgc: pg.Client): Promise<Machine> {
  const [[{ version }]] = (await my.query('SELECT VERSION() AS version')) as unknown as [[{ version: string }]];
  const { rows } = await pgc.query<{ server_version: string }>('SHOW server_version');
  return {
    date: execFileSync('date', ['-u'], { encoding: 'utf8' }).trim(),
    revision: describeRevision(),
    cpus: describeCpus(readFileSync('/proc/cpuinfo', 'utf8')),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    mariadb: version,
    postgres: rows[0].server_version,
  };
}

/** Numbers belong to a version of the code; uncommitted changes to what runs are counted, as they change it. */
function describeRevision(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--', 'functions', 'bin', 'package-lock.json').split('\n').filter(Boolean).length;
    return changed === 0 ? `commit ${commit}` : `commit ${commit} plus uncommitted changes to ${changed} files (functions/, bin/, package-lock.json)`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function describeCpus(cpuinfo: string): string {
  const count = cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown model';
  return `${count} × ${model}`;
}

export interface Report {
  command: string;
  rows: number;
  workers: number;
  machine: Machine;
  measurements: readonly Measurement[];
  /** Details under the table: reuse of sources, ranges, process counts, run-process memory. */
  notes: readonly string[];
}

const rate = (m: Measurement) => m.rows / m.seconds;
const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** "0.42x", with two significant digits for the row-by-row baseline's tiny ratios. */
function ratio(value: number): string {
  return `${value >= 0.1 ? value.toFixed(2) : value.toPrecision(2)}x`;
}

/** The results table as markdown, its columns padded so it also reads as plain text. */
export function resultsTable(measurements: readonly Measurement[]): string {
  const reference = measurements.find((m) => m.reference);
  const header = ['case', 'rows', 'seconds', 'rows/s', '× LOAD DATA', 'peak consumer RSS MB'];
  const body = measurements.map((m) => [
    m.label,
    count(m.rows),
    m.seconds.toFixed(2),
    count(rate(m)),
    reference ? ratio(rate(m) / rate(reference)) : '–',
    m.consumerRssMb === null ? '–' : m.consumerRssMb.toFixed(0),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}`;
  return [line(header), `${rule}|`, ...body.map(line)].join('\n');
}

export function resultsMarkdown(report: Report): string {
  const { machine } = report;
  const title =
    report.rows === DEFAULT_ROWS
      ? `# batchsync benchmark: ${count(report.rows)} rows`
      : `# batchsync benchmark: ${count(report.rows)} rows (not the default ${count(DEFAULT_ROWS)})`;
  return `${title}

- date: ${machine.date}
- machine: ${machine.cpus}, ${machine.memory} RAM
- Node.js ${machine.node}, MariaDB ${machine.mariadb}, PostgreSQL ${machine.postgres}
- batchsync: ${machine.revision}
- command: \`${report.command}\` (${report.workers} consumer workers)

${resultsTable(report.measurements)}

The machine is shared and noisy (its cores serve MariaDB, PostgreSQL, the
run process and its consumers at once), so absolute numbers move from run to
run; only the ratios within one run, whose cases ran back to back, are
compared. Even those move between runs here: compare several runs before
concluding from a difference of less than about 2x.

- **LOAD DATA**: one \`LOAD DATA LOCAL INFILE\` of a TSV file on one mysql2
  connection, the physical limit (1.00x).
- **batchsync, run**: rows written / the run's \`durationMs\` (run created to
  finished: planning, queue, consumers). **whole CLI**: wall clock of the
  \`batchsync run\` process, Node.js and tsx start-up included.
- **row-by-row INSERT**: one prepared \`INSERT\` per row in autocommit over the
  first rows of the same data (a few thousand rows/s would take minutes for
  all of them).
- peak RSS is VmHWM from /proc, in MB of 2^20 bytes, the largest over the
  consumer worker processes.
- every target was checked to hold exactly its rows (count, sum of num, sum
  of amount), then dropped.

This run:

${report.notes.map((note) => `- ${note}`).join('\n')}
`;
}
