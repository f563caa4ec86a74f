import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withoutCopyOnlyEscapes } from '../../functions/adapters/postgres/copy-text.ts';
import { chunkBytes } from '../../functions/core/consume.ts';
import { textChecks } from '../../functions/core/convert.ts';
import { checkText, encodeTextRows, type FieldCheck, mendText, parseTextRows } from '../../functions/core/text-rows.ts';
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
        expect(parseTextRows(withoutCopyOnlyEscapes(copy), 3)).toEqual(rs);
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
    expect(checkText(text(...rowsIn), checks)).toEqual({ bad: [], bytes: chunkBytes(rowsIn.map((r) => r.slice(0, 3))) + 1 });
  });

  it('names each line with one value the converter would change or reject, and counts only the others', () => {
    const lines = [
      ['1', 'a', '2.00'],
      ['2', 'b', 'NaN'],
      [null, 'a', '2.00'],
      ['', 'a', '2.00'],
      ['3', 'a'],
      ['4', 'a\tb\\c', '2.00'],
      ['5', null, null],
      ['6', 'ab', '1e3'],
    ];
    const data = text(...lines);
    const starts = lines.map((_, i) => text(...lines.slice(0, i)).length);
    // numeric(12,2) guarantees its own text: only NaN ends in a letter there.
    expect(checkText(data, checks)).toEqual({ bad: [1, 2, 3, 4].map((i) => starts[i]), bytes: chunkBytes([lines[0], lines[5], lines[6], lines[7]]) + 2 });
    // A last line without its line end is not a row.
    expect(checkText(Buffer.from('1\ta\t2.00'), checks).bad).toEqual([0]);
  });

  it('mends the lines it names: each replaced by what its fields convert to, or dropped, in order', () => {
    const data = text(['1', 'a', '2.00', 'k1'], ['2', 'x', 'NaN', 'k2'], ['3', 'b\tc', '1.5', 'k3'], ['', 'y', '7', 'k4']);
    const { bad } = checkText(data, checks);
    const seen: (string | null)[][] = [];
    const mended = mendText(data, bad, 3, 1, (fields) => {
      seen.push(fields);
      return fields[2] === 'NaN' ? null : ['4', fields[1], '7.00'];
    });
    expect(seen).toEqual([['2', 'x', 'NaN'], ['', 'y', '7']]);
    expect(mended.rows).toBe(1);
    expect(parseTextRows(mended.data, 4)).toEqual([['1', 'a', '2.00', 'k1'], ['3', 'b\tc', '1.5', 'k3'], ['4', 'y', '7.00', null]]);
  });

  it('encodes rows as the text it parses', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.option(fc.string({ unit: 'binary' })), { minLength: 2, maxLength: 2 }), { minLength: 1 }), (rowsIn) => {
        expect(parseTextRows(Buffer.from(encodeTextRows(rowsIn), 'utf8'), 2)).toEqual(rowsIn.map((r) => r.map((v) => (v === null ? null : Buffer.from(v, 'utf8').toString('utf8')))));
      }),
    );
  });

  it('is not offered when a column has neither a guarantee nor a form', () => {
    expect(textChecks([{ name: 'at', type: 'text' }], [column('time', { name: 'at' })], { timeZone: 'UTC', emptyAsNull: true })).toBeNull();
  });
});
