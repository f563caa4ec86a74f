import { once } from 'node:events';
import { formatCount as n } from '../core/format.ts';
import type { PauseTotals } from '../core/health.ts';
import { displayStatus } from '../core/lifecycle.ts';
import type { DirtyRecord, RangeRecord, RunRecord } from '../core/ports.ts';

/** What a command did with a run: started it, joined it unfinished, found it ended, or took up a stopped one. */
export type Outcome = 'created' | 'joined' | 'skipped' | 'resumed';

/**
 * The summary object of DESIGN.md (run --json, status --json). `ranges` is
 * a count here and in every JSON output; lists of ranges go under `rangeList`.
 * `stalled`: unfinished, and nobody is working it (resume finishes it);
 * `pausedMs`: time writes waited for the target's health.
 */
export function runSummary(run: RunRecord, outcome?: Outcome, pauses?: PauseTotals) {
  return {
    runId: run.runId,
    job: run.job,
    status: run.status,
    stalled: displayStatus(run, new Date()) === 'stalled',
    attempt: run.attempt,
    vars: run.vars,
    ...(outcome ? { outcome } : {}),
    rowsRead: run.rowsRead,
    rowsWritten: run.rowsWritten,
    dirtyRecords: run.dirtyRecords,
    skipped: run.skipped,
    bytesWritten: run.bytesWritten,
    ranges: run.ranges,
    rangesDone: run.rangesDone,
    durationMs: (run.finishedAt ?? new Date()).getTime() - run.createdAt.getTime(),
    logicalTime: run.logicalTime.toISOString(),
    startedAt: run.createdAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    error: run.error,
    pausedMs: pauses?.pausedMs ?? 0,
    pauseReasons: pauses?.reasons ?? [],
  };
}

export function rangeSummary(r: RangeRecord) {
  return {
    id: r.rangeId,
    status: r.status,
    rowsRead: r.rowsRead,
    rowsWritten: r.rowsWritten,
    dirtyRecords: r.dirtyRecords,
    skipped: r.skipped,
    attempts: r.attempts,
    description: r.spec.description,
    error: r.error,
  };
}

export function dirtySummary(d: DirtyRecord) {
  let record: unknown = d.record;
  try {
    record = JSON.parse(d.record);
  } catch {
    // a truncated record stays text
  }
  return { rangeId: d.rangeId, column: d.column, reason: d.reason, record };
}

/** An instant to the second, in UTC: `2026-12-01 00:00:00Z`. */
export function instant(d: Date): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A duration a person reads: `850ms`, `12.3s`, `4m05s`, `2h07m`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/** The line that says what a command did with the run it was given; null for a plain new run. */
export function outcomeLine(run: RunRecord, outcome: Outcome): string | null {
  const time = run.logicalTime.toISOString();
  switch (outcome) {
    case 'skipped':
      return `skipped: job ${run.job} already has run ${run.runId} for logical time ${time}, ended ${run.status}; nothing was run (rerun starts it again, resume finishes a failed one)`;
    case 'joined':
      return `joined: job ${run.job} already had run ${run.runId} unfinished for logical time ${time}; this command finished it`;
    case 'resumed':
      return `resumed: run ${run.runId} of job ${run.job} (logical time ${time}) was taken up from its checkpoints`;
    default:
      return null;
  }
}

/** The summary in lines a person reads. */
export function formatRun(run: RunRecord, outcome?: Outcome, pauses?: PauseTotals): string {
  const s = runSummary(run, outcome, pauses);
  const seconds = s.durationMs / 1000;
  const rate = seconds > 0 && s.rowsWritten > 0 ? `, ${n(Math.round(s.rowsWritten / seconds))} rows/s` : '';
  const said = outcome ? outcomeLine(run, outcome) : null;
  const lines = [
    ...(said ? [said] : []),
    `run ${s.runId}  job ${s.job}  ${s.stalled ? 'stalled' : s.status}${run.attempt > 1 ? `  (attempt ${run.attempt})` : ''}${run.supersededBy ? `  replaced by run ${run.supersededBy}` : ''}`,
    ...(Object.keys(run.vars).length ? [`  variables ${Object.entries(run.vars).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    `  logical time ${instant(run.logicalTime)}, started ${instant(run.createdAt)}, ${run.finishedAt ? 'took' : 'running for'} ${duration(s.durationMs)}`,
    `  rows read ${n(s.rowsRead)}, written ${n(s.rowsWritten)}, dirty ${n(s.dirtyRecords)}, skipped ${n(s.skipped)}`,
    `  ranges ${n(s.rangesDone)}/${n(s.ranges)} done, ${n(s.bytesWritten)} bytes${rate}`,
  ];
  if (s.pausedMs > 0) lines.push(`  paused ${(s.pausedMs / 1000).toFixed(1)} s for the target's health (${s.pauseReasons.join(', ')})`);
  if (s.error) lines.push(`  error: ${s.error}`);
  if (s.stalled) lines.push(`  nobody is working this run: finish it with batchsync resume ${run.runId} --job JOB_FILE`);
  return lines.join('\n');
}

/** `status` without a run id: one row per run, the newest first. */
export function formatRunTable(runs: readonly RunRecord[]): string {
  const rows = [
    ['RUN', 'JOB', 'LOGICAL TIME', 'STARTED', 'DURATION', 'STATUS', 'ROWS WRITTEN', 'DIRTY'],
    ...runs.map((run) => [
      run.runId,
      run.job,
      instant(run.logicalTime),
      instant(run.createdAt),
      duration((run.finishedAt ?? new Date()).getTime() - run.createdAt.getTime()),
      displayStatus(run, new Date()),
      n(run.rowsWritten),
      n(run.dirtyRecords),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** Writes text, waiting while the stream's buffer is full: output of any size in constant memory. */
export async function writeAll(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/** `dirty --json`: a JSON array written one record at a time, never held whole. */
export async function writeDirtyJson(stream: NodeJS.WritableStream, records: AsyncIterable<DirtyRecord>): Promise<number> {
  let count = 0;
  await writeAll(stream, '[');
  for await (const d of records) {
    await writeAll(stream, `${count ? ',\n' : '\n'}${JSON.stringify(dirtySummary(d))}`);
    count++;
  }
  await writeAll(stream, count ? '\n]\n' : ']\n');
  return count;
}

/** `dirty` as text: each record with its reason, streamed. */
export async function writeDirtyText(stream: NodeJS.WritableStream, records: AsyncIterable<DirtyRecord>): Promise<number> {
  let count = 0;
  for await (const d of records) {
    const s = dirtySummary(d);
    await writeAll(stream, `range ${s.rangeId}  ${s.column ? `column ${s.column}  ` : ''}${s.reason}\n  ${JSON.stringify(s.record)}\n`);
    count++;
  }
  return count;
}

export interface Estimate {
  /** Rows read (written, dirty or skipped) per second since this command began watching; null until it can tell. */
  rate: number | null;
  /** Rows the run will have read in all, estimated; null when nothing says yet. */
  totalRows: number | null;
  /** Seconds until the run ends; null when unknown. */
  secondsLeft: number | null;
}

/**
 * How far along a run is, by rows. The rows a range holds are estimated
 * from the ranges already done (their mean), as ranges are cut to similar
 * sizes; before one is done nothing is known and the answer is null (shown
 * as `?`), not a guess.
 */
export function estimate(run: RunRecord, ranges: readonly RangeRecord[] | null, watched: { ms: number; rowsRead: number }): Estimate {
  // Rows read, not written: a run of dirty rows still moves towards its end.
  const rate = watched.ms >= 1000 ? Math.max(0, run.rowsRead - watched.rowsRead) / (watched.ms / 1000) : null;
  if (run.status === 'succeeded') return { rate, totalRows: run.rowsRead, secondsLeft: 0 };
  let remaining: number | null = null;
  if (ranges && ranges.length) {
    const done = ranges.filter((r) => r.status === 'done');
    if (done.length) {
      const mean = done.reduce((sum, r) => sum + r.rowsRead, 0) / done.length;
      remaining = ranges.filter((r) => r.status !== 'done').reduce((sum, r) => sum + Math.max(0, mean - r.rowsRead), 0);
    }
  } else if (run.rangesDone > 0 && run.ranges > 0) {
    // Only the counts: rows read so far, spread over the ranges done (ranges under way make this an over-estimate).
    remaining = Math.max(0, (run.rowsRead / run.rangesDone) * (run.ranges - run.rangesDone));
  }
  const totalRows = remaining === null ? null : Math.round(run.rowsRead + remaining);
  const secondsLeft = remaining === null || !rate ? null : remaining / rate;
  return { rate, totalRows, secondsLeft };
}

/** One progress line: rows written, rate, time left, ranges; `?` where unknown. */
export function progressLine(run: RunRecord, e: Estimate): string {
  const total = e.totalRows === null ? '' : ` of about ${n(e.totalRows)}`;
  const rate = e.rate === null ? '?' : n(Math.round(e.rate));
  const left = run.status === 'succeeded' ? 'none' : e.secondsLeft === null ? '?' : duration(e.secondsLeft * 1000);
  const dirty = run.dirtyRecords ? `, ${n(run.dirtyRecords)} dirty` : '';
  return `${run.job}: ${n(run.rowsWritten)}${total} rows written, ${rate} rows/s, ${left} left, ranges ${n(run.rangesDone)}/${n(run.ranges)}${dirty}`;
}

/** Seconds between progress lines when stderr is not a terminal (a log file, CI). */
export const LOG_EVERY_MS = 5000;

/** Progress on stderr: one updating line on a terminal, a plain line every 5 s otherwise. */
export class Progress {
  private lastLine = -Infinity;
  private first: { at: number; rowsRead: number } | null = null;
  private ranges: readonly RangeRecord[] | null = null;

  constructor(
    private readonly stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>,
    private readonly quiet: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** The run now; `ranges`, when given, makes the estimate of what is left finer; `pauses`, when writes wait for the target's health. */
  update(run: RunRecord, ranges?: readonly RangeRecord[], pauses?: PauseTotals): void {
    if (this.quiet) return;
    if (ranges) this.ranges = ranges;
    const now = this.now();
    this.first ??= { at: now, rowsRead: run.rowsRead };
    const paused = pauses?.pausedNow ? `, paused: ${pauses.reasons.join(', ')}` : '';
    const text = progressLine(run, estimate(run, this.ranges, { ms: now - this.first.at, rowsRead: this.first.rowsRead })) + paused;
    if (this.stream.isTTY) {
      this.stream.write(`\r${text}\u001b[K`);
      return;
    }
    if (now - this.lastLine >= LOG_EVERY_MS) {
      this.stream.write(`${text}\n`);
      this.lastLine = now;
    }
  }

  done(run: RunRecord): void {
    if (this.quiet) return;
    this.lastLine = -Infinity;
    this.update(run);
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
