import type { PauseTotals } from '../core/health.ts';
import type { DirtyRecord, RangeRecord, RunRecord } from '../core/ports.ts';

/** The summary object of DESIGN.md (run --json, status --json); `pauses`: time writes waited for the target's health. */
export function runSummary(run: RunRecord, pauses?: PauseTotals) {
  return {
    runId: run.runId,
    job: run.job,
    status: run.status,
    rowsRead: run.rowsRead,
    rowsWritten: run.rowsWritten,
    dirtyRecords: run.dirtyRecords,
    skipped: run.skipped,
    bytesWritten: run.bytesWritten,
    ranges: run.ranges,
    durationMs: (run.finishedAt ?? new Date()).getTime() - run.createdAt.getTime(),
    logicalTime: run.logicalTime.toISOString(),
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

const n = (x: number) => x.toLocaleString('en-US');

/** The summary in lines a person reads. */
export function formatRun(run: RunRecord, pauses?: PauseTotals): string {
  const s = runSummary(run, pauses);
  const seconds = s.durationMs / 1000;
  const rate = seconds > 0 ? ` (${n(Math.round(s.rowsWritten / seconds))} rows/s)` : '';
  const lines = [
    `run ${s.runId}  job ${s.job}  ${s.status}`,
    `  rows read ${n(s.rowsRead)}, written ${n(s.rowsWritten)}, dirty ${n(s.dirtyRecords)}, skipped ${n(s.skipped)}`,
    `  ${n(s.ranges)} ranges, ${n(s.bytesWritten)} bytes, ${seconds.toFixed(1)} s${rate}`,
  ];
  if (s.pausedMs > 0) lines.push(`  paused ${(s.pausedMs / 1000).toFixed(1)} s for the target's health (${s.pauseReasons.join(', ')})`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return lines.join('\n');
}

/** Progress on stderr: a live bar on a terminal, a plain line now and then otherwise. */
export class Progress {
  private lastLine = 0;
  private lastDone = -1;
  private lastPaused = '';

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly quiet: boolean,
  ) {}

  update(run: RunRecord, pauses?: PauseTotals): void {
    if (this.quiet) return;
    const paused = pauses?.pausedNow ? `, paused: ${pauses.reasons.join(', ')}` : '';
    const text = `${run.job}: ${run.rangesDone}/${run.ranges} ranges, ${n(run.rowsWritten)} rows written, ${n(run.dirtyRecords)} dirty${paused}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = run.ranges ? Math.round((run.rangesDone / run.ranges) * width) : width;
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\u001b[K`);
      return;
    }
    const now = Date.now();
    if (run.rangesDone !== this.lastDone || paused !== this.lastPaused || now - this.lastLine > 5000) {
      this.stream.write(`${text}\n`);
      this.lastLine = now;
      this.lastDone = run.rangesDone;
      this.lastPaused = paused;
    }
  }

  done(run: RunRecord): void {
    if (this.quiet) return;
    this.update({ ...run, rangesDone: run.status === 'succeeded' ? run.ranges : run.rangesDone });
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
