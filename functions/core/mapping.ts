import { columnKind } from './convert.ts';
import { JobError } from './errors.ts';
import type { JobSpec, ValueColumn } from './job-spec.ts';
import type { Source, SourceColumn, Target, TargetColumn, Value } from './ports.ts';
import { didYouMean } from './suggest.ts';

/** The target table does not exist (the message names it, and a table of a similar name if there is one). */
export class MissingTableError extends JobError {}

type TargetEntry = string | ValueColumn;

const isValue = (entry: TargetEntry): entry is ValueColumn => typeof entry !== 'string';

/** The `{ name, value }` entries of target.columns, in order: their values are appended to every source row. */
export function valueColumns(entries: readonly TargetEntry[] | undefined): ValueColumn[] {
  return (entries ?? []).filter(isValue);
}

/** A source row with the job's constant values appended, in the order mapColumns put their columns. */
export function withValues(rows: Value[][], values: readonly string[]): void {
  if (!values.length) return;
  for (const row of rows) row.push(...values);
}

/**
 * Maps source columns to live target columns, position by position, and
 * checks the mapping before anything is written: the target names (given,
 * or the source's) must exist, be writable and be as many as the source's.
 * A `{ name, value }` entry takes no source column: its column comes after
 * the mapped ones, its value appended to each row (withValues).
 */
export function mapColumns(
  source: readonly SourceColumn[],
  targetEntries: readonly TargetEntry[] | undefined,
  table: string,
  live: readonly TargetColumn[],
): TargetColumn[] {
  const entries = targetEntries ?? source.map((c) => c.name);
  const where = targetEntries ? 'target.columns' : 'source columns';
  const named = entries.map((entry, i) => ({ entry, i })).filter(({ entry }) => !isValue(entry));
  const values = entries.map((entry, i) => ({ entry, i })).filter(({ entry }) => isValue(entry));
  if (named.length !== source.length) {
    const extra = values.length ? ` (not counting the ${values.length} { name, value } entries)` : '';
    throw new JobError(`target.columns: ${named.length} columns${extra}, but the source has ${source.length} (${source.map((c) => c.name).join(', ')})`);
  }
  const byName = new Map(live.map((c) => [c.name.toLowerCase(), c]));
  const seen = new Set<string>();
  return [...named, ...values].map(({ entry, i }) => {
    const name = isValue(entry) ? entry.name : entry;
    const path = isValue(entry) ? `target.columns[${i}].name` : `${where}[${i}]`;
    const column = byName.get(name.toLowerCase());
    if (!column) {
      throw new JobError(
        `${path}: column "${name}" does not exist in target table ${table}${didYouMean(name, live.map((c) => c.name))} (it has ${live.map((c) => c.name).join(', ')})`,
      );
    }
    if (column.generated) throw new JobError(`${path}: target column "${name}" is generated and cannot be written`);
    if (seen.has(column.name)) throw new JobError(`${path}: target column "${name}" is mapped twice`);
    seen.add(column.name);
    columnKind(column); // throws for unsupported types, before anything is written
    return column;
  });
}

/**
 * The source columns a job reads, in its order: `wanted` by name (exact, or
 * else ignoring case), or every column. A name the table lacks is a JobError.
 */
export function selectColumns<C extends { name: string }>(all: readonly C[], wanted: readonly string[] | undefined, table: string): C[] {
  if (!wanted) return [...all];
  return wanted.map((name, i) => {
    const column = all.find((c) => c.name === name) ?? all.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!column) {
      const names = all.map((c) => c.name);
      throw new JobError(`source.columns[${i}]: column "${name}" does not exist in ${table}${didYouMean(name, names)} (it has ${names.join(', ')})`);
    }
    return column;
  });
}

/** A column of the split key (or another key naming a column) the source lacks, with the likely one. */
export function missingColumn(where: string, name: string, table: string, names: readonly string[]): JobError {
  return new JobError(`${where}: column "${name}" does not exist in ${table}${didYouMean(name, names)}`);
}

/** What checking a job against the live schemas found; nothing was written. */
export interface SchemaCheck {
  sourceColumns: SourceColumn[];
  /** The target columns written, in the order of a converted row. */
  columns: TargetColumn[];
  /** The CREATE TABLE a run would issue first (`target.create` and no table); null when the table exists. */
  createDdl: string | null;
  /** Keys the files carry that no read column takes: their values are not loaded. */
  unmatchedKeys: string[];
  /** Sentences about the unmatched keys, for a person. */
  warnings: string[];
}

/**
 * Checks a (resolved) job against the live source and target before
 * anything is written: the source's `where` or query runs (reading no
 * rows), the column mapping holds (against the table `target.create` would
 * make, when there is none), a write mode that finds existing rows has a key
 * to find them by, and keys of the files that no column takes are named.
 */
export async function checkSchemas(job: JobSpec, source: Source, target: Target): Promise<SchemaCheck> {
  const sourceColumns = await source.columns();
  await source.checkRead?.();
  let live: TargetColumn[];
  let createDdl: string | null = null;
  let createdKey: string[] = [];
  try {
    live = await target.describe();
  } catch (error) {
    if (!(error instanceof MissingTableError) || !job.target.create) throw error;
    if (!target.createPlan || !source.schema) throw new JobError(`target.create: this source and target cannot create ${job.target.table}`);
    const schema = await source.schema();
    const plan = target.createPlan(schema);
    live = plan.columns;
    createDdl = plan.ddl;
    createdKey = schema.key;
  }
  const columns = mapColumns(sourceColumns, job.target.columns, job.target.table, live);
  const mode = job.target.writeMode;
  if (mode !== 'insert') {
    const keys = createDdl !== null ? (createdKey.length ? [createdKey] : []) : ((await target.uniqueKeys?.()) ?? null);
    if (keys !== null && keys.length === 0) {
      const what = { upsert: 'update', replace: 'replace', ignore: 'skip' }[mode];
      throw new JobError(
        `target.writeMode: "${mode}" needs a primary or unique key on ${job.target.table} to find the row to ${what}, and the table has none (every row would be appended); add a key, or use "insert"`,
      );
    }
  }
  const unmatchedKeys: string[] = [];
  const warnings: string[] = [];
  if (source.fileKeys) {
    const read = new Set(sourceColumns.map((c) => c.name.toLowerCase()));
    const unread = sourceColumns.map((c) => c.name);
    for (const key of await source.fileKeys()) {
      if (read.has(key.toLowerCase())) continue;
      unmatchedKeys.push(key);
      warnings.push(`source: key "${key}" of the files matches no column read, and is not loaded${didYouMean(key, unread)}`);
    }
  }
  return { sourceColumns, columns, createDdl, unmatchedKeys, warnings };
}
