import type { ThrottleCost } from './ports.ts';

/**
 * Job-wide throttling as a generic cell rate algorithm on one clock that all
 * consumers of a run share (kept in the ledger, timed by the database). Each
 * chunk reserves its cost before it is written: it may start at the later of
 * now and the clock, and moves the clock on by cost / rate. However many
 * consumers there are, and however many have finished, the job's total
 * stays at the rate; no consumer has a fixed share.
 */
export interface Reservation {
  /** The clock after this reservation, in seconds. */
  clock: number;
  /** Seconds to wait before writing. */
  wait: number;
}

export function reserveOn(clock: number | null, now: number, cost: number, rate: number): Reservation {
  const start = Math.max(clock ?? now, now);
  return { clock: start + cost / rate, wait: start - now };
}

/** Reserves rows and bytes on their clocks; the wait is the longer of the two. */
export function reserveBoth(
  clocks: ThrottleCost,
  now: number,
  cost: ThrottleCost,
  rates: ThrottleCost,
): { clocks: ThrottleCost; wait: number } {
  let wait = 0;
  const next: ThrottleCost = { ...clocks };
  for (const measure of ['rows', 'bytes'] as const) {
    const rate = rates[measure];
    if (rate === null) continue;
    const r = reserveOn(clocks[measure], now, cost[measure] ?? 0, rate);
    next[measure] = r.clock;
    wait = Math.max(wait, r.wait);
  }
  return { clocks: next, wait };
}

/**
 * The most attempts at a run's ranges that overlapped in time: how many
 * consumers worked on the job at once. An attempt that never ended (its
 * consumer died) is taken to end when the next attempt at its range began,
 * or at `runEnd`.
 */
export function peakConcurrency(attempts: ReadonlyArray<{ rangeId: number; startedAt: Date; endedAt: Date | null }>, runEnd: Date): number {
  const intervals = attempts.map((a, i) => {
    const next = attempts.slice(i + 1).find((b) => b.rangeId === a.rangeId);
    return { startedAt: a.startedAt, endedAt: a.endedAt ?? next?.startedAt ?? runEnd };
  });
  const events = intervals.flatMap((a) => [
    { at: a.startedAt.getTime(), delta: 1 },
    { at: a.endedAt.getTime(), delta: -1 },
  ]);
  // Ends before starts at the same instant: a consumer that hands over is not two.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let current = 0;
  let peak = 0;
  for (const e of events) peak = Math.max(peak, (current += e.delta));
  return peak;
}
