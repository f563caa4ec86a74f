import { describe, expect, it } from 'vitest';
import { buildConverter, passesAsIs } from '../../functions/core/convert.ts';
import type { TargetColumn, Value } from '../../functions/core/ports.ts';
import { column } from './columns.ts';

/**
 * Columns that cannot be dirty skip the per-value check: for every value, the
 * result must be what the full converter (a source of unknown type, 'text')
 * gives, dirty reasons included.
 */

const options = { timeZone: 'Asia/Shanghai', emptyAsNull: true };

function both(sourceType: string, target: TargetColumn, value: Value): [unknown, unknown] {
  const run = (type: string) => {
    const { rows, dirty } = buildConverter([{ name: 'c', type }], [target], options)([[value]], 0);
    return dirty.length ? `dirty: ${dirty[0].reason}` : rows[0][0];
  };
  return [run(sourceType), run('text')];
}

const CASES: Array<[string, string, Value[]]> = [
  ['integer', 'int', ['0', '-2147483648', '2147483647', '42', null, '']],
  ['bigint', 'bigint', ['-9223372036854775808', '9223372036854775807', '1']],
  ['smallint', 'int', ['-32768', '7']],
  ['character varying(10)', 'varchar(10)', ['', 'abc', '高中 high', '😀😀😀😀😀😀😀😀😀😀', null]],
  ['character varying(3)', 'text', ['abc', '博士']],
  ['numeric(12,2)', 'decimal(12,2)', ['0.00', '-9999999999.99', '123.45', 'NaN', null]],
  ['numeric(5,1)', 'decimal(12,4)', ['1234.5', 'NaN']],
  ['timestamp without time zone', 'datetime(6)', ['2024-01-01 00:00:17', '2024-01-01 00:00:17.123456', '2024-01-01 00:00:17.5', 'infinity', '-infinity', '0044-03-15 00:00:00 BC', '10000-01-01 00:00:00', '0999-12-31 23:59:59']],
  ['timestamp without time zone', 'datetime', ['2024-01-01 00:00:17', '2024-01-01 00:00:17.999', 'infinity']],
  ['timestamp(3) without time zone', 'datetime(3)', ['2024-02-29 12:00:00.25', '2024-02-29 12:00:00']],
  ['date', 'date', ['2024-02-29', 'infinity', '0001-01-01 BC', '0999-01-01']],
];

describe('values of columns that cannot be dirty pass as is', () => {
  for (const [sourceType, targetType, values] of CASES) {
    it(`${sourceType} into ${targetType}: the same results as the full converter`, () => {
      // information_schema gives TEXT its length in bytes; the fixture knows only CHAR and VARCHAR lengths.
      const target = column(targetType, targetType === 'text' ? { maxLength: 65_535 } : {});
      expect(passesAsIs({ name: 'c', type: sourceType }, target)).not.toBeNull();
      for (const value of values) {
        const [fast, full] = both(sourceType, target, value);
        expect(fast, String(value)).toEqual(full);
      }
    });
  }

  it('types that give no guarantee keep the per-value check', () => {
    const none: Array<[string, TargetColumn]> = [
      ['bigint', column('int')],
      ['integer', column('int unsigned')],
      ['integer', column('tinyint(1)')],
      ['text', column('varchar(255)')],
      ['character varying(300)', column('varchar(255)')],
      ['character varying(10)', column('varchar(10)', { charset: 'utf8mb3' })],
      ['character varying(100)', column('tinytext', { maxLength: 255 })],
      ['numeric', column('decimal(12,2)')],
      ['numeric(12,3)', column('decimal(12,2)')],
      ['numeric(14,2)', column('decimal(12,2)')],
      ['timestamp with time zone', column('datetime(6)')],
      ['timestamp without time zone', column('timestamp(6)')],
      ['timestamp without time zone', column('date')],
    ];
    for (const [type, target] of none) expect(passesAsIs({ name: 'c', type }, target), `${type} into ${target.columnType}`).toBeNull();
  });
});
