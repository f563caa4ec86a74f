import { columnKind } from './convert.ts';
import { JobError } from './errors.ts';
import type { SourceColumn, TargetColumn } from './ports.ts';

/**
 * Maps source columns to live target columns, position by position, and
 * checks the mapping before anything is written: the target names (given,
 * or the source's) must exist, be writable and be as many as the source's.
 */
export function mapColumns(
  source: readonly SourceColumn[],
  targetNames: readonly string[] | undefined,
  table: string,
  live: readonly TargetColumn[],
): TargetColumn[] {
  const names = targetNames ?? source.map((c) => c.name);
  const where = targetNames ? 'target.columns' : 'source columns';
  if (names.length !== source.length) {
    throw new JobError(`target.columns: ${names.length} columns, but the source has ${source.length} (${source.map((c) => c.name).join(', ')})`);
  }
  const byName = new Map(live.map((c) => [c.name.toLowerCase(), c]));
  const seen = new Set<string>();
  return names.map((name, i) => {
    const column = byName.get(name.toLowerCase());
    if (!column) {
      throw new JobError(`${where}[${i}]: column "${name}" does not exist in target table ${table} (it has ${live.map((c) => c.name).join(', ')})`);
    }
    if (column.generated) throw new JobError(`${where}[${i}]: target column "${name}" is generated and cannot be written`);
    if (seen.has(column.name)) throw new JobError(`${where}[${i}]: target column "${name}" is mapped twice`);
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
    if (!column) throw new JobError(`source.columns[${i}]: column "${name}" does not exist in ${table} (it has ${all.map((c) => c.name).join(', ')})`);
    return column;
  });
}
