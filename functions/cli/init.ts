import { type Engine, parseDbUrl } from '../adapters/connections.ts';
import type { JobOpener } from '../adapters/open-job.ts';
import { mysqlTableExists, primaryKeyOf } from '../adapters/table-info.ts';
import { checkJob, JobSpec } from '../core/job-spec.ts';
import { UsageError } from './args.ts';

/**
 * `batchsync init`: a starter job read from the live tables: the source's
 * columns, its primary key as the split key, and `"create": true` when the
 * target table is missing (the first run creates it from the source).
 */

export interface InitRequest {
  source: string;
  table: string;
  target: string;
  targetTable: string | undefined;
  name: string | undefined;
}

export interface StarterJob {
  job: Record<string, unknown>;
  /** What a person should know about the job written (on stderr, as stdout is the file). */
  notes: string[];
}

function engineOf(url: string): Engine {
  const protocol = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (protocol === 'postgres' || protocol === 'postgresql') return 'postgres';
  if (protocol === 'mysql' || protocol === 'mariadb') return 'mysql';
  throw new UsageError(`init --source ${protocol ? `${protocol}://…` : url}: expected a postgres:// or mysql:// URL (init reads a table; write a files job by hand, see the README)`);
}

/** A job name from a table name: lower case, `_` for anything else, 64 at most. */
export function jobNameFor(table: string): string {
  const bare = table.slice(table.lastIndexOf('.') + 1);
  return bare.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').slice(0, 64) || 'job';
}

export async function starterJob(request: InitRequest, opener: JobOpener): Promise<StarterJob> {
  const engine = engineOf(request.source);
  const targetTable = request.targetTable ?? request.table.slice(request.table.lastIndexOf('.') + 1);
  const name = request.name ?? jobNameFor(targetTable);
  const draft = {
    name,
    source: { type: engine, connection: { url: request.source }, table: request.table },
    target: { type: 'mysql', connection: { url: request.target }, table: targetTable },
  };
  const problems = checkJob(draft);
  if (problems.length) throw new UsageError(`init: ${problems[0].replace(/^source\.table/, '--table').replace(/^target\.table/, '--target-table').replace(/^name/, '--name')}`);
  const { source } = await opener.open(JobSpec.parse(draft));
  const columns = (await source.columns()).map((c) => c.name);
  const key = await primaryKeyOf(parseDbUrl(request.source, engine, '--source'), request.table);
  const exists = await mysqlTableExists(parseDbUrl(request.target, 'mysql', '--target'), targetTable);
  const notes: string[] = [`job ${name}: ${columns.length} columns of ${request.table} into ${targetTable}`];
  if (!key.length) notes.push(`${request.table} has no primary key: no splitKey written (name an indexed column in source.splitKey to cut it into ranges)`);
  if (!exists) notes.push(`target table ${targetTable} does not exist: "create": true makes the first run create it from the source's columns`);
  notes.push('next: batchsync check JOB, then batchsync run JOB');
  const job = {
    name,
    source: {
      ...draft.source,
      columns,
      ...(key.length ? { splitKey: key.length === 1 ? key[0] : key } : {}),
    },
    target: {
      ...draft.target,
      ...(exists ? {} : { create: true }),
      writeMode: 'insert',
      loadMode: 'append',
    },
    channel: { maxConcurrency: 2 },
  };
  return { job, notes };
}
