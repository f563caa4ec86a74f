/**
 * Wall-clock times in IANA time zones without a date library: offsets come
 * from Intl, and a formatter is made once per zone.
 */

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const isUtc = (timeZone: string) => timeZone === 'UTC' || timeZone === 'Etc/UTC';

/** The wall time in `timeZone` at the instant `ms` (epoch milliseconds). */
export function wallTimeAt(ms: number, timeZone: string): WallTime {
  if (isUtc(timeZone)) {
    const d = new Date(ms);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
  }
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second };
}

function wallAsUtcMs(w: WallTime): number {
  const d = new Date(Date.UTC(2000, w.month - 1, w.day, w.hour, w.minute, w.second));
  d.setUTCFullYear(w.year); // Date.UTC maps years 0-99 to 1900-1999
  return d.getTime();
}

/** Milliseconds `timeZone` is ahead of UTC at the instant `ms`. */
function offsetAt(ms: number, timeZone: string): number {
  return wallAsUtcMs(wallTimeAt(ms, timeZone)) - ms;
}

const DAY_MS = 86_400_000;

/**
 * The instant (epoch ms) at which `timeZone` shows the wall time `w`, by
 * Temporal's `compatible` rule: a wall time the clocks skip (a DST gap) is
 * read with the offset before the change, so it lands as far after the gap
 * as it was into it (02:30 in New York's spring gap is 03:30 EDT); a wall
 * time the clocks show twice (an overlap) is the earlier instant. Zones do
 * not change offset twice within two days, so the offsets a day either
 * side are the only candidates.
 */
export function instantOf(w: WallTime, timeZone: string): number {
  const local = wallAsUtcMs(w);
  if (isUtc(timeZone)) return local;
  const before = offsetAt(local - DAY_MS, timeZone);
  const after = offsetAt(local + DAY_MS, timeZone);
  if (before === after) return local - before;
  // Near a change: each offset that really shows this wall time is a candidate; the earlier instant wins.
  const candidates = [local - before, local - after].filter((ms) => offsetAt(ms, timeZone) === local - ms);
  return candidates.length ? Math.min(...candidates) : local - before;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `YYYY-MM-DD` */
export function formatDate(w: WallTime): string {
  return `${String(w.year).padStart(4, '0')}-${pad2(w.month)}-${pad2(w.day)}`;
}

/** `YYYY-MM-DD HH:MM:SS` */
export function formatDateTime(w: WallTime): string {
  return `${formatDate(w)} ${pad2(w.hour)}:${pad2(w.minute)}:${pad2(w.second)}`;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : MONTH_DAYS[month - 1];
}
