/** Runs a job through the `batchsync run` command, as a user would, timing it and watching its memory. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN, DATA_DIR, MYSQL_URL } from './config.ts';
import { type PeakRss, watchPeakRss } from './proc.ts';

/** The last stdout line of `run --json` (functions/cli/output.ts runSummary). */
export interface RunSummary {
  runId: string;
  job: string;
  status: string;
  rowsRead: number;
  rowsWritten: number;
  dirtyRecords: number;
  skipped: number;
  bytesWritten: number;
  ranges: number;
  durationMs: number;
  logicalTime: string;
  error: string | null;
}

export interface BatchsyncRun {
  summary: RunSummary;
  /** The whole command, Node.js start-up and shutdown included. */
  wallSeconds: number;
  /** User + system CPU seconds of the command and its worker processes (null without /usr/bin/time). */
  cpuSeconds: number | null;
  rss: PeakRss;
}

/**
 * GNU time reports the rusage of its child and of every descendant that was
 * waited for: the command and its worker processes (the run waits for them
 * to exit), not the databases.
 */
const TIME = '/usr/bin/time';

/** Stderr lines shown when a run fails: its last progress lines and the error. */
const STDERR_TAIL_LINES = 30;

/** Writes a job loading `source` into `table` and returns the job file's path. */
export async function writeJob(name: string, source: object, table: string, workers: number, writeMode = 'insert'): Promise<string> {
  const job = {
    name,
    source,
    // A ledger of its own keeps the bench's runs out of the default batchsync_ tables.
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table, writeMode, ledger: { prefix: 'bench_' } },
    // At most maxConcurrency workers run whatever --workers says, so the two move together.
    channel: { maxConcurrency: workers },
  };
  const dir = join(DATA_DIR, 'jobs');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  await writeFile(path, `${JSON.stringify(job, null, 2)}\n`);
  return path;
}

/**
 * `batchsync run JOB --json`, as a user types it: the command decides whether
 * to start worker processes (up to the job's maxConcurrency). Throws unless
 * it exits 0 with a succeeded run.
 */
export async function runJob(jobPath: string): Promise<BatchsyncRun> {
  const command = [process.execPath, BIN, 'run', jobPath, '--json'];
  const timed = existsSync(TIME);
  const cpuFile = join(DATA_DIR, `cpu-${process.pid}.txt`);
  const started = performance.now();
  const child = timed
    ? spawn(TIME, ['-f', '%U %S', '-o', cpuFile, ...command], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; wallSeconds: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, wallSeconds: (performance.now() - started) / 1000 }));
  });
  // No pid means the spawn itself failed, and `exited` rejects with why.
  const watch = child.pid === undefined ? null : watchPeakRss(child.pid, timed);
  let code: number | null;
  let wallSeconds: number;
  let rss: PeakRss;
  try {
    ({ code, wallSeconds } = await exited);
  } finally {
    rss = (await watch?.stop()) ?? { consumerMb: null, consumers: 0, runMb: null };
  }

  const summary = lastJsonLine(stdout);
  if (code !== 0 || summary?.status !== 'succeeded') {
    const tail = stderr.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
    const why = summary ? `status ${summary.status}, error: ${summary.error}` : 'no JSON summary on stdout';
    throw new Error(`batchsync run ${jobPath} exited ${code} (${why})\n--- stderr (last lines) ---\n${tail}`);
  }
  return { summary, wallSeconds, cpuSeconds: timed ? await readCpu(cpuFile) : null, rss };
}

async function readCpu(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  await rm(path, { force: true });
  const [user, sys] = text.trim().split('\n').at(-1)!.split(' ').map(Number);
  if (!Number.isFinite(user) || !Number.isFinite(sys)) throw new Error(`${TIME} wrote no CPU times: ${text}`);
  return user + sys;
}

function lastJsonLine(stdout: string): RunSummary | null {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    const parsed = JSON.parse(last) as RunSummary;
    return typeof parsed.rowsWritten === 'number' && typeof parsed.durationMs === 'number' ? parsed : null;
  } catch {
    return null;
  }
}
