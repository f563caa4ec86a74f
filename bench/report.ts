/** The results: the machine they came from and the table, as markdown for the console and RESULTS.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, totalmem } from 'node:os';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { REPO_DIR } from './config.ts';
import { type BenchOptions, DEFAULT_ROWS } from './options.ts';

/** One measurement of a case. */
export interface Sample {
  /** Wall clock of the whole command (or of the import, for a bundle). */
  seconds: number;
  /** The run's own durationMs, from the ledger; null for the other programs. */
  runSeconds: number | null;
  /** User + system CPU of the batchsync processes; null for the other programs or without /usr/bin/time. */
  cpuSeconds: number | null;
  /** Ranges, worker processes, memory: shown for the last round. */
  note?: string;
}

/** One line of a results table, measured once per round. */
export interface Case {
  id: string;
  group: 'large' | 'small' | 'bundle';
  label: string;
  rows: number;
  bytes?: number;
  /** Why the case was not run (a missing program), or null. */
  skipped: string | null;
  samples: Sample[];
  measure(): Promise<Sample>;
}

export interface Machine {
  date: string;
  /** The batchsync code measured: the commit, and whether the working tree differed from it. */
  revision: string;
  cpus: string;
  memory: string;
  /** The 1, 5 and 15 minute load averages when the bench began: how busy the shared machine was. */
  load: string;
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
    load: loadavg().map((l) => l.toFixed(2)).join(', '),
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
  options: BenchOptions;
  machine: Machine;
  cases: readonly Case[];
  /** Where the sources came from. */
  notes: readonly string[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The medians of a case's samples; null fields where the case has none. */
interface Medians {
  seconds: number;
  runSeconds: number | null;
  cpuSeconds: number | null;
}

function medians(c: Case): Medians | null {
  if (c.samples.length === 0) return null;
  const of = (pick: (s: Sample) => number | null) => {
    const values = c.samples.map(pick).filter((v): v is number => v !== null);
    return values.length ? median(values) : null;
  };
  return { seconds: of((s) => s.seconds) as number, runSeconds: of((s) => s.runSeconds), cpuSeconds: of((s) => s.cpuSeconds) };
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number | null, digits = 2) => (n === null ? '–' : n.toFixed(digits));
const times = (n: number | null) => (n === null ? '–' : `${n.toFixed(2)}×`);

/** A markdown table, its columns padded so it also reads as plain text; columns after the first are right-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((cells) => cells[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function find(report: Report, id: string): Medians | null {
  const c = report.cases.find((x) => x.id === id);
  return c ? medians(c) : null;
}

/** Speed of `m` against `ref` for the same rows: ref's seconds over m's. */
const speed = (m: Medians | null, ref: Medians | null) => (m && ref ? ref.seconds / m.seconds : null);

function largeTable(report: Report): string {
  const load = find(report, 'load');
  const pipe = find(report, 'pipe');
  const rows = report.cases
    .filter((c) => c.group === 'large')
    .map((c) => {
      const m = medians(c);
      if (!m) return [c.label, count(c.rows), c.skipped ?? 'not run', '', '', '', '', ''];
      const perMillion = m.cpuSeconds === null ? null : (m.cpuSeconds * 1e6) / c.rows;
      return [c.label, count(c.rows), fixed(m.seconds), fixed(m.runSeconds), times(speed(m, load)), times(speed(m, pipe)), fixed(m.cpuSeconds), fixed(perMillion)];
    });
  return table(['method', 'rows', 'whole command, s', 'run (durationMs), s', '× LOAD DATA', '× pipe', 'CPU s', 'CPU s / 1M rows'], rows);
}

function smallTable(report: Report): string {
  const pandas = find(report, 'small_pandas');
  const pipe = find(report, 'small_pipe');
  const rows = report.cases
    .filter((c) => c.group === 'small')
    .map((c) => {
      const m = medians(c);
      if (!m) return [c.label, count(c.rows), c.skipped ?? 'not run', '', '', '', ''];
      const againstPipe = pipe && c.rows > 1 ? m.seconds / pipe.seconds : null;
      return [c.label, count(c.rows), fixed(m.seconds), fixed(m.runSeconds), times(c.rows > 1 ? speed(m, pandas) : null), times(againstPipe), fixed(m.cpuSeconds)];
    });
  return table(['method', 'rows', 'whole command, s', 'run (durationMs), s', '× pandas speed', "× pipe's time", 'CPU s'], rows);
}

function bundleTable(report: Report): string {
  const rows = report.cases
    .filter((c) => c.group === 'bundle')
    .map((c) => {
      const m = medians(c);
      return [c.label.split(' (')[0], fixed((c.bytes ?? 0) / 2 ** 20), m ? fixed(m.seconds * 1000, 0) : 'not run', m?.cpuSeconds != null ? fixed(m.cpuSeconds * 1000, 0) : '–'];
    });
  return table(['Lambda bundle', 'size, MB', 'import, ms', 'CPU of the import, ms'], rows);
}

interface Goal {
  goal: string;
  measured: number | null;
  text: string;
  met: boolean | null;
}

/** Issue 12's goals, judged from the medians of this run. */
function goals(report: Report): Goal[] {
  const pg = find(report, 'pg');
  const csv = find(report, 'csv');
  const dirty = find(report, 'dirty');
  const small = find(report, 'small_pg');
  const one = find(report, 'one_pg');
  const rate = (m: Medians | null) => (m?.runSeconds ? 1 / m.runSeconds : null);
  const goal = (text: string, measured: number | null, shown: (v: number) => string, met: (v: number) => boolean): Goal => ({
    goal: text,
    measured,
    text: measured === null ? 'not measured' : shown(measured),
    met: measured === null ? null : met(measured),
  });
  const pgCpu = pg?.cpuSeconds != null ? (pg.cpuSeconds * 1e6) / report.options.rows : null;
  const bundles = report.cases.filter((c) => c.group === 'bundle').map((c) => medians(c)?.seconds ?? null);
  const slowest = bundles.length && bundles.every((b) => b !== null) ? Math.max(...(bundles as number[])) * 1000 : null;
  const cpus = report.cases.filter((c) => c.group === 'bundle').map((c) => medians(c)?.cpuSeconds ?? null);
  const slowestCpu = cpus.length && cpus.every((b) => b !== null) ? Math.max(...(cpus as number[])) * 1000 : null;
  return [
    goal('PostgreSQL → MySQL, whole command ≥ 0.75× the pipe', speed(pg, find(report, 'pipe')), times, (v) => v >= 0.75),
    goal('CSV → MySQL, whole command ≥ 0.70× mariadb LOAD DATA', speed(csv, find(report, 'load')), times, (v) => v >= 0.7),
    goal('small job ≥ 3× pandas', speed(small, find(report, 'small_pandas')), times, (v) => v >= 3),
    goal("small job within 3× the pipe's time", small && find(report, 'small_pipe') ? small.seconds / (find(report, 'small_pipe') as Medians).seconds : null, times, (v) => v <= 3),
    goal('one-row job ≤ 0.4 s', one?.seconds ?? null, (v) => `${v.toFixed(2)} s`, (v) => v <= 0.4),
    goal('≤ 2.5 CPU-s per 1M rows, PostgreSQL → MySQL', pgCpu, (v) => `${v.toFixed(2)} s`, (v) => v <= 2.5),
    goal('each Lambda bundle imports in ≤ 300 ms', slowest, (v) => `${v.toFixed(0)} ms (slowest; CPU ${slowestCpu?.toFixed(0) ?? '–'} ms)`, (v) => v <= 300),
    goal('1% dirty rows ≥ 0.7× the clean speed (run durations)', rate(dirty) && rate(csv) ? (rate(dirty) as number) / (rate(csv) as number) : null, times, (v) => v >= 0.7),
  ];
}

function goalTable(report: Report): string {
  return table(
    ['goal (issue 12)', 'measured', 'met'],
    goals(report).map((g) => [g.goal, g.text, g.met === null ? '–' : g.met ? 'yes' : 'no']),
  );
}

/** The tables, as printed to the console and written under the header of RESULTS.md. */
export function resultsText(report: Report): string {
  const { rows, smallRows, rounds } = report.options;
  return `### ${count(rows)} rows (median of ${rounds} interleaved rounds)

${largeTable(report)}

### Small jobs: ${count(smallRows)} rows and one row

${smallTable(report)}

### Lambda cold-start proxy

${bundleTable(report)}

### Goals

${goalTable(report)}
`;
}

export function resultsMarkdown(report: Report): string {
  const { machine, options } = report;
  const title =
    options.rows === DEFAULT_ROWS
      ? `# batchsync benchmark: ${count(options.rows)} rows`
      : `# batchsync benchmark: ${count(options.rows)} rows (not the default ${count(DEFAULT_ROWS)})`;
  const lastNotes = report.cases.flatMap((c) => {
    const note = c.samples.at(-1)?.note;
    return note ? [`${c.label}, last round: ${note}`] : [];
  });
  return `${title}

- date: ${machine.date}
- machine: ${machine.cpus}, ${machine.memory} RAM, load average ${machine.load} at the start
- Node.js ${machine.node}, MariaDB ${machine.mariadb}, PostgreSQL ${machine.postgres}
- batchsync: ${machine.revision}
- command: \`${report.command}\` (jobs with maxConcurrency ${options.workers}, ${options.rounds} rounds)
- data: bigint key, varchar with CJK text, int, decimal(12,2), datetime

${resultsText(report)}
**Read the ratios, not the seconds.** The machine is shared (other
sessions' builds and tests may run on its two cores beside MariaDB,
PostgreSQL and the command; the load average is above), so absolute times
move from run to run. Every
case ran once per round, the rounds interleaved, and each figure is the
median over the rounds; only ratios within one run compare.

- **LOAD DATA** (1.00×): the \`mariadb\` client's \`LOAD DATA LOCAL INFILE\`
  of the rows as a TSV file, the physical limit. **pipe**: \`psql -c '\\copy
  table TO STDOUT' | mariadb -e "LOAD DATA LOCAL INFILE '/dev/stdin' ..."\`.
  **pandas**: bench/pandas-copy.py, \`read_sql\` → \`to_sql\` in chunks of
  10k through SQLAlchemy (psycopg2, PyMySQL).
- **whole command**: wall clock of the program, start-up and shutdown
  included. **run (durationMs)**: the run's own duration in the ledger.
- **CPU s**: user + system seconds of \`batchsync run\` and its worker
  processes (GNU time, which counts waited-for descendants), not the
  databases'.
- **× LOAD DATA, × pipe, × pandas speed**: the reference's time over the
  line's (higher is faster); **× pipe's time**: the line's time over the
  pipe's (lower is faster).
- **Lambda bundle**: each handler bundled by esbuild with the stack's options
  (infra/stack.ts), imported with \`await import()\` in a fresh \`node\` with
  the function's environment (NODE_OPTIONS=--enable-source-maps, the
  BATCHSYNC_ variables), timed inside that process: wall clock, and the CPU
  time of the import (process.cpuUsage), which a busy machine inflates less.
- every target was checked after every round to hold exactly its rows
  (count, sum of num, sum of amount, characters of education), then dropped.

This run:

${[...report.notes, ...lastNotes].map((note) => `- ${note}`).join('\n')}
`;
}
