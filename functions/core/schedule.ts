import { JobError } from './errors.ts';
import type { JobSpec } from './job-spec.ts';
import { instantOf } from './time.ts';

/**
 * Logical times for business dates, as `backfill` needs them: the run for
 * `${bizdate}` D is the one the job's schedule starts on the day after D
 * (its first firing of that day, in the schedule's time zone), or at
 * midnight of that day in the job's time zone when it has no schedule.
 * Only the cron's minute and hour fields matter: a backfill runs every
 * date it is given, whatever days the schedule skips.
 */

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

/** `YYYY-MM-DD` → a date, or a JobError naming `what`. */
export function parseDate(text: string, what: string): CalendarDate {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const date = m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (!m || !date || date.getUTCDate() !== Number(m[3])) throw new JobError(`${what} ${text}: expected a date as YYYY-MM-DD`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

function addDays(d: CalendarDate, days: number): CalendarDate {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + days));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

const ordinal = (d: CalendarDate) => Date.UTC(d.year, d.month - 1, d.day);
const dateText = (d: CalendarDate) => `${d.year}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;

/** Every date from `from` to `to`, both included. */
export function datesBetween(from: CalendarDate, to: CalendarDate): CalendarDate[] {
  if (ordinal(from) > ordinal(to)) throw new JobError(`--from ${dateText(from)} is after --to ${dateText(to)}`);
  const dates: CalendarDate[] = [];
  for (let d = from; ordinal(d) <= ordinal(to); d = addDays(d, 1)) dates.push(d);
  return dates;
}

export const bizdateOf = (d: CalendarDate) => dateText(d).replaceAll('-', '');

/** The values a cron field allows within [min, max]: `*`, `?`, `n`, `a-b`, `a,b`, `x/step`. */
function cronValues(field: string, min: number, max: number): number[] {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let [lo, hi] = [min, max];
    if (range !== '*' && range !== '?') {
      const [a, b] = range.split('-').map(Number);
      lo = a;
      hi = b ?? (stepText === undefined ? a : max);
    }
    if (![lo, hi, step].every(Number.isInteger) || step < 1 || lo < min || hi > max) throw new JobError(`schedule.cron: cannot read the field "${field}"`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/** The first hour and minute of a day that an EventBridge cron (`min hour dom month dow year`) fires at. */
export function firstFiringOfDay(cron: string): { hour: number; minute: number } {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 6) throw new JobError(`schedule.cron: expected 6 fields (minutes hours day-of-month month day-of-week year), got "${cron}"`);
  return { hour: cronValues(fields[1], 0, 23)[0], minute: cronValues(fields[0], 0, 59)[0] };
}

/** The logical time of the run that loads business date `date`. */
export function logicalTimeForBizdate(job: JobSpec, date: CalendarDate): Date {
  const next = addDays(date, 1);
  const { hour, minute } = job.schedule ? firstFiringOfDay(job.schedule.cron) : { hour: 0, minute: 0 };
  const timeZone = job.schedule?.timezone ?? job.timezone;
  return new Date(instantOf({ ...next, hour, minute, second: 0 }, timeZone));
}
