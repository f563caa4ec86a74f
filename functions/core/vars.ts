import { JobError } from './errors.ts';
import type { Connection, JobSpec } from './job-spec.ts';

/**
 * Scheduling variables. `${bizdate}` is the day before the logical time
 * (yyyymmdd) and `${cyctime}` the logical time itself (yyyymmddHHMMss), both
 * in the schedule's time zone; `--var name=value` adds or overrides names.
 */

function partsIn(time: Date, timeZone: string): Record<string, string> {
  // UTC needs no formatter: making the first Intl one loads time zone data, a noticeable part of a small run's start-up.
  if ((timeZone === 'UTC' || timeZone === 'Etc/UTC') && time.getUTCFullYear() >= 1000 && time.getUTCFullYear() <= 9999) {
    const [year, month, day, hour, minute, second] = time.toISOString().split(/[-T:.]/);
    return { year, month, day, hour, minute, second };
  }
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  return Object.fromEntries(format.formatToParts(time).map((p) => [p.type, p.value]));
}

/** The built-in variables for a logical time, seen in a time zone. */
export function schedulingVars(logicalTime: Date, timeZone: string): Record<string, string> {
  const p = partsIn(logicalTime, timeZone);
  // The calendar day before, computed on the date alone so DST cannot shift it.
  const day = new Date(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day) - 1));
  const bizdate = day.toISOString().slice(0, 10).replaceAll('-', '');
  return { bizdate, cyctime: `${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}` };
}

/** Parses `name=value` pairs given on the command line or in an event. */
export function parseVarArgs(pairs: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new JobError(`--var ${pair}: expected name=value`);
    vars[name] = pair.slice(eq + 1);
  }
  return vars;
}

/** Replaces every `${name}` in text; an unknown name is a JobError naming `where`. */
export function substitute(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new JobError(`${where}: unknown variable \${${name}} (known: ${Object.keys(vars).join(', ')})`);
    return value;
  });
}

function resolveConnection(c: Connection, vars: Record<string, string>, where: string): Connection {
  return c.url === undefined ? c : { url: substitute(c.url, vars, `${where}.url`) };
}

/**
 * The job with every variable resolved in `where`, `preSql`, `postSql` and
 * connection URLs: what a run executes, fixed at planning time.
 */
export function resolveJob(job: JobSpec, vars: Record<string, string>): JobSpec {
  const source = job.source;
  const resolvedSource =
    source.type === 'files'
      ? { ...source, url: substitute(source.url, vars, 'source.url') }
      : {
          ...source,
          connection: resolveConnection(source.connection, vars, 'source.connection'),
          ...(source.replica && { replica: resolveConnection(source.replica, vars, 'source.replica') }),
          ...(source.where !== undefined && { where: substitute(source.where, vars, 'source.where') }),
        };
  const target = job.target;
  return {
    ...job,
    source: resolvedSource,
    target: {
      ...target,
      connection: resolveConnection(target.connection, vars, 'target.connection'),
      preSql: target.preSql.map((s, i) => substitute(s, vars, `target.preSql[${i}]`)),
      postSql: target.postSql.map((s, i) => substitute(s, vars, `target.postSql[${i}]`)),
    },
  };
}
