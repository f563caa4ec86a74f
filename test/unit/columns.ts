import { buildConverter } from '../../functions/core/convert.ts';
import type { TargetColumn, Value } from '../../functions/core/ports.ts';

/** A target column as information_schema would describe `columnType`. */
export function column(columnType: string, extra: Partial<TargetColumn> = {}): TargetColumn {
  const dataType = columnType.replace(/[( ].*$/, '').toLowerCase();
  const size = Number(/\((\d+)/.exec(columnType)?.[1] ?? 0) || null;
  return {
    name: 'c',
    dataType,
    columnType,
    nullable: true,
    unsigned: / unsigned/.test(columnType),
    maxLength: /char/.test(dataType) || /binary/.test(dataType) ? size : null,
    precision: dataType === 'decimal' ? size : null,
    scale: dataType === 'decimal' ? Number(/,(\d+)/.exec(columnType)?.[1] ?? 0) : null,
    fsp: /datetime|timestamp|time/.test(dataType) ? Number(/\((\d)\)/.exec(columnType)?.[1] ?? 0) : null,
    charset: /char|text|enum|set/.test(dataType) ? 'utf8mb4' : null,
    members: [...columnType.matchAll(/'([^']*)'/g)].map((m) => m[1]),
    autoIncrement: false,
    generated: false,
    ...extra,
  };
}

/** Converts one value; returns the text written or the dirty reason. */
export function convertOne(col: TargetColumn, value: Value, options = { timeZone: 'UTC', emptyAsNull: true }): string | null {
  const convert = buildConverter([{ name: col.name, type: 'text' }], [col], options);
  const { rows, dirty } = convert([[value]], 0);
  return dirty.length ? `dirty: ${dirty[0].reason}` : rows[0][0];
}

