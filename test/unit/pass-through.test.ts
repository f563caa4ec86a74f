import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildConverter, columnConverter, passesAsIs, targetForm, textChecks } from '../../functions/core/convert.ts';
import { checkText, type FieldCheck } from '../../functions/core/text-rows.ts';
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

describe('text already in the target column’s form passes as is', () => {
  const targets: TargetColumn[] = [
    column('int'), column('int unsigned'), column('tinyint'), column('tinyint(1)'), column('smallint unsigned'), column('bigint'), column('bigint unsigned'),
    column('decimal(12,2)'), column('decimal(5,0)'), column('decimal(3,3)'), column('decimal(10,2) unsigned'),
    column('float'), column('double'), column('double unsigned'),
    column('date'), column('datetime'), column('datetime(3)'), column('datetime(6)'),
    column('varchar(5)'), column('char(3)'), column('tinytext', { maxLength: 255 }),
  ];
  const near = fc.oneof(
    fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '-', '+', '.', ' ', ':', 'e', 'a', '中') }),
    fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n }).map(String),
    fc.tuple(fc.integer({ min: 0, max: 10_500 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.string({ unit: fc.constantFrom('0', '5', '9'), maxLength: 7 })).map(
      ([y, mo, d, h, f]) => `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}${h > 23 ? '' : ` ${String(h).padStart(2, '0')}:59:0${h % 10}`}${f ? `.${f}` : ''}`,
    ),
    fc.tuple(fc.integer({ min: -99_999, max: 99_999 }), fc.string({ unit: fc.constantFrom('0', '3', '9'), maxLength: 4 })).map(([i, f]) => `${i}${f ? `.${f}` : ''}`),
  );

  it('accepts only what the column’s converter writes unchanged, read from a string or from escaped text alike', () => {
    const options = { timeZone: 'Asia/Shanghai', emptyAsNull: true };
    fc.assert(
      fc.property(near, (text) => {
        for (const target of targets) {
          const form = targetForm(target);
          if (!form || !form.test(text)) continue;
          expect(columnConverter(target, options)(text), `${text} into ${target.columnType}`).toBe(text);
        }
        // The same verdicts from the bytes of escaped text (one line, one column each); a length in bytes only ever refuses more.
        for (const target of targets) {
          const [check] = textChecks([{ name: 'c', type: 'text' }], [target], options) as FieldCheck[];
          const expected = text === '' ? check.takesEmpty : (targetForm(target) as { test: (t: string) => boolean }).test(text);
          const fromBytes = checkText(Buffer.from(`${text}\n`), [check]).bad.length === 0;
          if (/^[\x20-\x7e]*$/.test(text)) expect(fromBytes, `${text} into ${target.columnType}`).toBe(expected);
          else if (fromBytes) expect(expected, `${text} into ${target.columnType}`).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts the usual forms, bounds included', () => {
    const passes = (columnType: string, text: string) => (targetForm(column(columnType)) as { test: (t: string) => boolean }).test(text);
    const cases: Array<[string, string, boolean]> = [
      ['int', '2147483647', true], ['int', '-2147483648', true], ['int', '2147483648', false], ['int', '12a', false], ['int', '', false], ['int', '-', false],
      ['bigint', '9223372036854775807', true], ['bigint', '-9223372036854775808', true], ['bigint', '9223372036854775808', false], ['bigint', '0009223372036854775807', true],
      ['bigint unsigned', '18446744073709551615', true], ['bigint unsigned', '18446744073709551616', false], ['int unsigned', '-1', false],
      ['decimal(12,2)', '-9999999999.99', true], ['decimal(12,2)', '12.5', true], ['decimal(12,2)', '012.5', false], ['decimal(12,2)', '1.234', false], ['decimal(12,2)', '1e3', false], ['decimal(12,2)', '.5', false],
      ['double', '-1.5', true], ['double', '1e300', false],
      ['date', '2024-02-29', true], ['date', '2023-02-29', false], ['date', '0999-01-01', false],
      ['datetime', '2024-02-29 23:59:59', true], ['datetime', '2024-02-29 24:00:00', false], ['datetime', '2024-02-29 23:59:59.5', false], ['datetime(3)', '2024-02-29 23:59:59.125', true], ['datetime(3)', '2024-02-29 23:59:59.1255', false], ['datetime', '2024-02-29T23:59:59', false],
      ['varchar(5)', '中文中文中', true], ['varchar(5)', 'abcdef', false],
    ];
    for (const [type, text, expected] of cases) expect(passes(type, text), `${text} into ${type}`).toBe(expected);
    expect(targetForm(column('timestamp'))).toBeNull();
    expect(targetForm(column('varchar(5)', { charset: 'utf8mb3' }))).toBeNull();
  });
});
