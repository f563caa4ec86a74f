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
