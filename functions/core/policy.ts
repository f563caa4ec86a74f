import { formatCount } from './format.ts';

/**
 * The dirty-record rule of a run: no limit (null) lets the run go on; 0
 * fails it at the first dirty record; N fails it once the run's total, over
 * all consumers, exceeds N. Returns the reason to fail, or null.
 */
export function dirtyLimitReason(total: number, limit: number | null): string | null {
  if (limit === null || total <= limit) return null;
  return limit === 0
    ? `a dirty record was found and channel.dirtyRecordLimit is 0 (see batchsync dirty)`
    : `${total} dirty records exceed channel.dirtyRecordLimit ${limit} (see batchsync dirty)`;
}

/**
 * How many of a chunk's `count` dirty records to keep in full, when the run
 * had `before` already: all are counted, at most `stored` per run are kept.
 */
export function dirtyToStore(before: number, count: number, stored: number): number {
  return Math.max(0, Math.min(count, stored - before));
}

/**
 * A warning for a run where more than half the rows read were dirty, with
 * the likely cause read from the most common reason among its records.
 */
export function dirtyWarning(run: { runId: string; rowsRead: number; dirtyRecords: number }, reasons: readonly string[], writeMode: string): string | null {
  if (run.rowsRead === 0 || run.dirtyRecords * 2 <= run.rowsRead) return null;
  const head = `${formatCount(run.dirtyRecords)} of ${formatCount(run.rowsRead)} rows read were dirty`;
  const counts = new Map<string, number>();
  for (const r of reasons) {
    const kind = r.replace(/'[^']*'/g, "'…'");
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const [common] = [...counts].sort((a, b) => b[1] - a[1]);
  if (common && /Duplicate entry/.test(common[0]) && writeMode === 'insert') {
    return `${head}, mostly duplicate keys: the table already holds these keys (a rerun of an insert job?); use writeMode "upsert", "ignore" or "replace", or loadMode "truncate" or "swap"`;
  }
  if (common) return `${head}; the most common reason: ${common[0]} (see batchsync dirty ${run.runId}); check the job's columns and the target's types`;
  return `${head}; see batchsync dirty ${run.runId}`;
}
