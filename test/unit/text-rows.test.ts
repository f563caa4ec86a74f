import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withoutCopyOnlyEscapes } from '../../functions/adapters/postgres/copy-text.ts';
import { chunkBytes } from '../../functions/core/consume.ts';
import { textChecks } from '../../functions/core/convert.ts';
import { type FieldCheck, parseTextRows, textPassesAsIs } from '../../functions/core/text-rows.ts';
import { column } from './columns.ts';

/** A line as PostgreSQL's COPY ... TO STDOUT writes it (its text output escapes these seven). */
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const copyLine = (row: readonly (string | null)[]) => `${row.map((v) => (v === null ? '\\N' : v.replace(/[\\\b\f\n\r\t\v]/g, (c) => COPY_ESCAPES[c]))).join('\t')}\n`;

/** What MySQL's LOAD DATA (ESCAPED BY '\\') reads from a field: its escapes, and any other escaped character as itself. */
const LOAD_DATA_ESCAPES: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };
function loadDataRows(text: Buffer): (string | null)[][] {
  return text
    .toString('utf8')
    .split('\n')
    .slice(0, -1)
    .map((line) => line.split('\t').map((f) => (f === '\\N' ? null : f.replace(/\\(.)/gs, (_, c: string) => LOAD_DATA_ESCAPES[c] ?? c))));
}

const value = fc.oneof(fc.constant(null), fc.string({ unit: fc.constantFrom('a', 'é', '中', '\\', '\t', '\n', '\r', '\b', '\f', '\v', 'N', 'f', 'v', ' ') }), fc.string());
const rows = fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 20 });

describe('escaped text rows', () => {
  it("COPY's text, with \\f and \\v made plain, is read by LOAD DATA as the same rows; parsed here, too", () => {
    fc.assert(
      fc.property(rows, (rs) => {
        const copy = Buffer.from(rs.map(copyLine).join(''), 'utf8');
        expect(loadDataRows(withoutCopyOnlyEscapes(copy))).toEqual(rs);
        expect(parseTextRows(copy, 3)).toEqual(rs);
      }),
      { numRuns: 500 },
    );
  });

  it('text without \\f or \\v is passed on as the same buffer', () => {
    const copy = Buffer.from(copyLine(['a\\b', null, 'tab\there']));
    expect(withoutCopyOnlyEscapes(copy)).toBe(copy);
  });
});

describe('text that passes as is', () => {
  const int = column('int', { name: 'id', nullable: false });
  const name = column('varchar(20)', { name: 'name' });
  const amount = column('decimal(12,2)', { name: 'amount' });
  const checks = textChecks(
    [
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'character varying(20)' },
      { name: 'amount', type: 'numeric(12,2)' },
    ],
    [int, name, amount],
    { timeZone: 'UTC', emptyAsNull: true },
  ) as FieldCheck[];
  const text = (...lines: (string | null)[][]) => Buffer.from(lines.map(copyLine).join(''));

  it('counts the bytes of the columns, not of the key fields after them', () => {
    const rowsIn = [
      ['1', 'ä\\b', '1.50', 'key-1'],
      ['2', '', null, 'key-2'],
    ];
    // The one escaped character (the backslash) counts its escape too.
    expect(textPassesAsIs(text(...rowsIn), checks)).toBe(chunkBytes(rowsIn.map((r) => r.slice(0, 3))) + 1);
  });

  it('refuses a chunk with one value the converter would change or reject', () => {
    expect(textPassesAsIs(text(['1', 'a', '2.00'], ['2', 'b', 'NaN']), checks)).toBe(-1);
    expect(textPassesAsIs(text([null, 'a', '2.00']), checks)).toBe(-1);
    expect(textPassesAsIs(text(['', 'a', '2.00']), checks)).toBe(-1);
    expect(textPassesAsIs(text(['1', 'a']), checks)).toBe(-1);
    expect(textPassesAsIs(Buffer.from('1\ta\t2.00'), checks)).toBe(-1);
    expect(textPassesAsIs(text(['1', 'a\tb\\c', '2.00'], ['2', null, null]), checks)).toBeGreaterThan(0);
  });

  it('is not offered when a column has no such guarantee', () => {
    expect(textChecks([{ name: 'id', type: 'text' }], [int], { timeZone: 'UTC', emptyAsNull: true })).toBeNull();
  });
});
