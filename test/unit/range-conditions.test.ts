import { describe, expect, it } from 'vitest';
import { rangeConditions as myConditions, shown } from '../../functions/adapters/mysql/source-sql.ts';
import { rangeConditions as pgConditions } from '../../functions/adapters/postgres/sql.ts';

/** A key range never holds a row with a NULL key column: those are the null-key range's, read once there. */
describe('key ranges of a nullable split key', () => {
  it('PostgreSQL: the one range of a small table, and a bound decided by the first column of a composite key, leave NULLs out', () => {
    expect(pgConditions(undefined, { by: 'key', key: ['k'], from: null, to: null, nullable: ['k'] }, null)).toEqual(['"k" IS NOT NULL']);
    expect(pgConditions(undefined, { by: 'key', key: ['a', 'b'], from: ['1', 'x'], to: null, nullable: ['a', 'b'] }, null)).toEqual([
      '"b" IS NOT NULL',
      `("a", "b") >= ('1', 'x')`,
    ]);
    expect(pgConditions(undefined, { by: 'key', key: ['id'], from: null, to: null }, null)).toEqual(['TRUE']);
  });

  it('MySQL: the same', () => {
    const sql = (nullable: string[], from: [number, string] | null) =>
      shown(myConditions(undefined, { by: 'key', key: ['a', 'b'], kinds: ['integer', 'string'], from, to: null, nullable }, null));
    expect(sql(['a', 'b'], null)).toBe('`a` IS NOT NULL AND `b` IS NOT NULL');
    expect(sql(['a', 'b'], [1, 'x'])).toMatch(/^`b` IS NOT NULL AND \(`a` >= 1 AND /);
  });
});
