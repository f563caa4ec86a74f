import { describe, expect, it } from 'vitest';
import { buildConverter, normalizeDecimal } from '../../functions/core/convert.ts';
import type { Value } from '../../functions/core/ports.ts';
import { column, convertOne } from './columns.ts';

describe('conversion to the target column type', () => {
  it.each([
    ['int', '42', '42'],
    ['int', ' 7 ', '7'],
    ['int', '-2147483648', '-2147483648'],
    ['int', '2147483648', "dirty: c: '2147483648' is out of range for int (-2147483648 to 2147483647)"],
    ['int', 'abc', "dirty: c: 'abc' is not an integer"],
    ['int', '1.5', "dirty: c: '1.5' is not an integer"],
    ['int', 3.5, 'dirty: c: 3.5 is not an integer'],
    ['tinyint unsigned', '255', '255'],
    ['tinyint unsigned', '-1', "dirty: c: '-1' is out of range for tinyint unsigned (0 to 255)"],
    ['bigint unsigned', '18446744073709551615', '18446744073709551615'],
    ['bigint', '9223372036854775808', "dirty: c: '9223372036854775808' is out of range for bigint (-9223372036854775808 to 9223372036854775807)"],
    ['bigint', 12345678901234567890n, 'dirty: c: 12345678901234567890 is out of range for bigint (-9223372036854775808 to 9223372036854775807)'],
    ['int', '', null],
    ['decimal(12,2)', '1234567890.12', '1234567890.12'],
    ['decimal(12,2)', '0.005', '0.01'],
    ['decimal(12,2)', '-0.004', '0.00'],
    ['decimal(12,2)', '99999999999.995', "dirty: c: '99999999999.995' does not fit decimal(12,2)"],
    ['decimal(12,2)', '1e3', '1000.00'],
    ['decimal(38,10)', '12345678901234567890.1234567890', '12345678901234567890.1234567890'],
    ['decimal(5,0)', '007', '7'],
    ['decimal(12,2)', 'NaN', "dirty: c: 'NaN' is not a decimal number"],
    ['double', '1.5e300', '1.5e300'],
    ['float', '1e39', "dirty: c: '1e39' is out of range for float"],
    ['varchar(5)', '大学本科🎓', '大学本科🎓'],
    ['varchar(4)', '大学本科🎓', "dirty: c: '大学本科🎓' is 5 characters, column holds 4"],
    ['varchar(5)', '', ''],
    ['date', '2024-02-29', '2024-02-29'],
    ['date', '2023-02-29', "dirty: c: '2023-02-29' is not a date (YYYY-MM-DD)"],
    ['datetime', '2024-01-01 10:00:00', '2024-01-01 10:00:00'],
    ['datetime', '2024-01-01T10:00:00+08:00', '2024-01-01 02:00:00'],
    ['datetime(3)', '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00.123'],
    ['datetime', '2024-13-01 10:00:00', "dirty: c: '2024-13-01 10:00:00' is not a date and time (YYYY-MM-DD HH:MM:SS)"],
    ['tinyint(1)', 'true', '1'],
    ['tinyint(1)', 'f', '0'],
    ['tinyint(1)', false, '0'],
    ["enum('a','b')", 'B', 'b'],
    ["enum('a','b')", 'c', "dirty: c: 'c' is not one of 'a', 'b'"],
    ['json', '{"a":1}', '{"a":1}'],
    ['json', '{a:1}', "dirty: c: '{a:1}' is not valid JSON"],
  ] as [string, Value, string | null][])('%s ← %s', (type, value, expected) => {
    expect(convertOne(column(type), value)).toBe(expected);
  });

  it('NULL into a NOT NULL column is dirty; into an auto-increment column it is not', () => {
    expect(convertOne(column('int', { nullable: false }), null)).toBe('dirty: c: null is NULL, column is NOT NULL');
    expect(convertOne(column('int', { nullable: false, autoIncrement: true }), null)).toBe(null);
  });

  it('emptyAsNull: false keeps an empty string, which an integer column refuses', () => {
    expect(convertOne(column('int'), '', { timeZone: 'UTC', emptyAsNull: false })).toBe("dirty: c: '' is not an integer");
  });

  it('datetimes without an offset are wall times of the job time zone; TIMESTAMP is written in UTC', () => {
    const tz = { timeZone: 'Asia/Shanghai', emptyAsNull: true };
    expect(convertOne(column('datetime'), '2024-01-01 10:00:00', tz)).toBe('2024-01-01 10:00:00');
    expect(convertOne(column('datetime'), '2024-01-01T00:00:00Z', tz)).toBe('2024-01-01 08:00:00');
    expect(convertOne(column('timestamp'), '2024-01-01 10:00:00', tz)).toBe('2024-01-01 02:00:00');
    expect(convertOne(column('timestamp'), '2040-01-01 00:00:00', tz)).toMatch(/outside the TIMESTAMP range/);
  });

  it('a dirty row names its first misfit column and keeps the source record', () => {
    const convert = buildConverter(
      [{ name: 'education', type: 'text' }, { name: 'num', type: 'text' }],
      [column('varchar(10)', { name: 'education' }), column('int', { name: 'num' })],
      { timeZone: 'UTC', emptyAsNull: true },
    );
    const result = convert([['a', '1'], ['b', 'abc'], ['c', '3']], 7);
    expect(result.rows).toEqual([['a', '1'], ['c', '3']]);
    expect(result.sourceRows).toEqual([['a', '1'], ['c', '3']]);
    expect(result.dirty).toEqual([{ rangeId: 7, column: 'num', reason: "num: 'abc' is not an integer", record: '{"education":"b","num":"abc"}' }]);
  });
});

describe('normalizeDecimal', () => {
  it('rounds half away from zero on the digits, carrying through nines', () => {
    expect(normalizeDecimal('9.995', 2)).toEqual({ sign: '', int: '10', frac: '00' });
    expect(normalizeDecimal('-0.125', 2)).toEqual({ sign: '-', int: '', frac: '13' });
    expect(normalizeDecimal('1.2e-3', 4)).toEqual({ sign: '', int: '', frac: '0012' });
    expect(normalizeDecimal('.', 2)).toBeNull();
  });
});

describe('a converter never throws out', () => {
  it.each([
    ['decimal(12,2)', '1e999999999', "dirty: c: '1e999999999' does not fit decimal(12,2)"],
    ['decimal(12,2)', '-1.5e99999999999999999999', "dirty: c: '-1.5e99999999999999999999' does not fit decimal(12,2)"],
    ['decimal(12,2)', '1e-999999999', '0.00'],
    ['decimal(12,2)', '0e999999999', '0.00'],
    ['decimal(12,2)', '123456789e-1000', '0.00'],
    ['decimal(65,30)', '1.5e30', '1500000000000000000000000000000.000000000000000000000000000000'],
    ['double', '1e999999999', "dirty: c: '1e999999999' is not a finite number"],
  ] as [string, Value, string | null][])('%s ← %s', (type, value, expected) => {
    expect(convertOne(column(type), value)).toBe(expected);
  });

  it('an exception inside a converter is a dirty record naming the column and the reason', () => {
    // A value whose JSON text cannot be made (a cycle): JSON.stringify throws inside the json converter.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const convert = buildConverter([{ name: 'doc', type: 'json' }, { name: 'n', type: 'text' }], [column('json', { name: 'doc' }), column('int', { name: 'n' })], { timeZone: 'UTC', emptyAsNull: true });
    const result = convert([[cyclic, '1'], [{ a: 1 }, '2']], 3);
    expect(result.rows).toEqual([['{"a":1}', '2']]);
    expect(result.dirty).toHaveLength(1);
    expect(result.dirty[0].column).toBe('doc');
    expect(result.dirty[0].reason).toMatch(/^doc: .* cannot be converted: .*circular/i);
  });
});

describe('TIMESTAMP range, in every time zone', () => {
  const range = /outside the TIMESTAMP range \(1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC\)/;
  it.each(['UTC', 'Etc/UTC', 'Asia/Shanghai', 'America/New_York'])('%s', (timeZone) => {
    const tz = { timeZone, emptyAsNull: true };
    for (const v of ['1960-05-01 00:00:00', '2040-01-01 00:00:00', '1000-01-01', '9999-12-31 23:59:59', '1960-05-01T00:00:00Z']) {
      expect(convertOne(column('timestamp'), v, tz), v).toMatch(range);
    }
    expect(convertOne(column('timestamp'), new Date(Date.UTC(1960, 0, 1)), tz)).toMatch(range);
    expect(convertOne(column('timestamp'), '1970-01-01T00:00:01Z', tz)).toBe('1970-01-01 00:00:01');
    expect(convertOne(column('timestamp'), '2038-01-19T03:14:07Z', tz)).toBe('2038-01-19 03:14:07');
    expect(convertOne(column('timestamp'), '2038-01-19T03:14:08Z', tz)).toMatch(range);
    if (timeZone.endsWith('UTC')) {
      expect(convertOne(column('timestamp'), '1970-01-01 00:00:00', tz)).toMatch(range);
      expect(convertOne(column('timestamp'), '1970-01-01 00:00:01', tz)).toBe('1970-01-01 00:00:01');
      expect(convertOne(column('timestamp'), '2038-01-19 03:14:08', tz)).toMatch(range);
    }
    // DATETIME has no such range.
    expect(convertOne(column('datetime'), '1960-05-01 00:00:00', tz)).toBe('1960-05-01 00:00:00');
  });
});

describe('wall times in a DST gap or overlap: Temporal\'s "compatible" rule', () => {
  // A wall time that does not exist (the clocks jump over it) is moved forward by the gap's length;
  // a wall time that exists twice (the clocks fall back) is the earlier of its two instants.
  const ts = (timeZone: string, v: string) => convertOne(column('timestamp'), v, { timeZone, emptyAsNull: true });
  it('New York, spring forward 2024-03-10 02:00 EST -> 03:00 EDT: 02:30 is 03:30 EDT', () => {
    expect(ts('America/New_York', '2024-03-10 02:30:00')).toBe('2024-03-10 07:30:00');
    expect(ts('America/New_York', '2024-03-10 01:59:59')).toBe('2024-03-10 06:59:59');
    expect(ts('America/New_York', '2024-03-10 03:00:00')).toBe('2024-03-10 07:00:00');
  });
  it('New York, fall back 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 is the first one (EDT)', () => {
    expect(ts('America/New_York', '2024-11-03 01:30:00')).toBe('2024-11-03 05:30:00');
    expect(ts('America/New_York', '2024-11-03 00:59:59')).toBe('2024-11-03 04:59:59');
    expect(ts('America/New_York', '2024-11-03 02:00:00')).toBe('2024-11-03 07:00:00');
  });
  it('Berlin, east of UTC: gap 2024-03-31 02:30 is 03:30 CEST; overlap 2024-10-27 02:30 is the first one (CEST)', () => {
    expect(ts('Europe/Berlin', '2024-03-31 02:30:00')).toBe('2024-03-31 01:30:00');
    expect(ts('Europe/Berlin', '2024-10-27 02:30:00')).toBe('2024-10-27 00:30:00');
    expect(ts('Europe/Berlin', '2024-10-27 03:30:00')).toBe('2024-10-27 02:30:00');
  });
  it('Lord Howe (a 30-minute shift): gap 2024-10-06 02:15 is 02:45; overlap 2024-04-07 01:45 is the first one', () => {
    // +10:30 standard, +11:00 summer.
    expect(ts('Australia/Lord_Howe', '2024-10-06 02:15:00')).toBe('2024-10-05 15:45:00');
    expect(ts('Australia/Lord_Howe', '2024-04-07 01:45:00')).toBe('2024-04-06 14:45:00');
  });
});

describe('nested values', () => {
  it('integers inside lists and structs stay JSON numbers with every digit', () => {
    expect(convertOne(column('json'), { a: 1n, l: [1n, 2, -9007199254740993n], s: 'x"\u0000' } as Value)).toBe('{"a":1,"l":[1,2,-9007199254740993],"s":"x\\"\\u0000"}');
    expect(convertOne(column('text'), [1n, 2n] as Value)).toBe('[1,2]');
  });
});
