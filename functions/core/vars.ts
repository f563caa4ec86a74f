import { JobError } from './errors.ts';
import type { Connection, JobSpec } from './job-spec.ts';
import { formatDate, formatDateTime, wallTimeAt } from './time.ts';

/**
 * Scheduling variables. `${bizdate}` is the day before the logical time
 * (yyyymmdd) and `${cyctime}` the logical time itself (yyyymmddHHMMss), both
 * in the schedule's time zone; `--var name=value` adds or overrides names.
 */

/** The built-in variables for a logical time, seen in a time zone. */
export function schedulingVars(logicalTime: Date, timeZone: string): Record<string, string> {
  const w = wallTimeAt(logicalTime.getTime(), timeZone);
  // The calendar day before, computed on the date alone so DST cannot shift it.
  const day = wallTimeAt(Date.UTC(w.year, w.month - 1, w.day - 1), 'UTC');
  const bizdate = formatDate(day).replaceAll('-', '');
  return { bizdate, cyctime: formatDateTime(w).replace(/[- :]/g, '') };
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

/**
 * Replaces every `${name}` in text; an unknown name is a JobError naming
 * `where`. `escape` turns each value into what the text may hold (the
 * content of an SQL string literal); by default it goes in as it is.
 */
export function substitute(text: string, vars: Record<string, string>, where: string, escape: (value: string, name: string) => string = (v) => v): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new JobError(`${where}: unknown variable \${${name}} (known: ${Object.keys(vars).join(', ')})`);
    return escape(value, name);
  });
}

export type SqlDialect = 'mysql' | 'postgres';

/**
 * A value as the content of a single-quoted SQL string literal: the job
 * file writes the quotes (`dt = '${bizdate}'`), the value cannot end them.
 * MySQL (batchsync's sessions keep backslash escapes on) doubles quotes and
 * backslashes and writes NUL as \0; PostgreSQL (standard_conforming_strings,
 * its default) doubles quotes only, and has no NUL in text.
 */
export function sqlStringContent(value: string, dialect: SqlDialect, where = 'a variable'): string {
  if (dialect === 'postgres') {
    if (value.includes('\0')) throw new JobError(`${where}: the value has a NUL character, which PostgreSQL text cannot hold`);
    return value.replaceAll("'", "''");
  }
  return value.replaceAll('\\', '\\\\').replaceAll("'", "''").replaceAll('\0', '\\0');
}

/** substitute for an SQL field: every value escaped as string literal content for the dialect. */
function substituteSql(text: string, vars: Record<string, string>, where: string, dialect: SqlDialect): string {
  return substitute(text, vars, where, (value, name) => sqlStringContent(value, dialect, `${where}: \${${name}}`));
}

function resolveConnection(c: Connection, vars: Record<string, string>, where: string): Connection {
  return c.url === undefined ? c : { url: substitute(c.url, vars, `${where}.url`) };
}

/**
 * The job with every variable resolved in `where`, `query`, `preSql`,
 * `postSql`, constant column values and URLs: what a run executes, fixed at
 * planning time.
 *
 * Those SQL fields are trusted SQL from the job file; a variable's value
 * (an S3 key, a manual `--var`) is not: in them it is escaped as the
 * content of a string literal, for the source's or the target's dialect.
 * A URL takes values as they are: an S3 key is used as the key itself
 * (source.url is split, never URL-decoded), and a connection URL is only
 * local (a deployed job reads its secret).
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
          ...(source.where !== undefined && { where: substituteSql(source.where, vars, 'source.where', source.type) }),
          ...(source.query !== undefined && { query: substituteSql(source.query, vars, 'source.query', source.type) }),
        };
  const target = job.target;
  return {
    ...job,
    source: resolvedSource,
    target: {
      ...target,
      connection: resolveConnection(target.connection, vars, 'target.connection'),
      ...(target.columns && {
        columns: target.columns.map((c, i) => (typeof c === 'string' ? c : { ...c, value: substitute(c.value, vars, `target.columns[${i}].value`) })),
      }),
      preSql: target.preSql.map((s, i) => substituteSql(s, vars, `target.preSql[${i}]`, 'mysql')),
      postSql: target.postSql.map((s, i) => substituteSql(s, vars, `target.postSql[${i}]`, 'mysql')),
    },
  };
}

/** The job as a run executes it: resolved with its logical time's built-in variables and the run's own. */
export function resolveRun(spec: JobSpec, logicalTime: Date, vars: Record<string, string>): JobSpec {
  return resolveJob(spec, { ...schedulingVars(logicalTime, spec.schedule?.timezone ?? spec.timezone), ...vars });
}
