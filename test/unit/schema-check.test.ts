import { describe, expect, it } from 'vitest';
import { createTablePlan, fromParquet, fromPostgres, inferType } from '../../functions/adapters/mysql/create-table.ts';
import { tableName } from '../../functions/adapters/mysql/sql.ts';
import { JobError } from '../../functions/core/errors.ts';
import { checkJob, parseJob } from '../../functions/core/job-spec.ts';
import { checkSchemas, mapColumns, MissingTableError, selectColumns } from '../../functions/core/mapping.ts';
import type { SourceSchema, Target, TargetColumn } from '../../functions/core/ports.ts';
import { closest, editDistance } from '../../functions/core/suggest.ts';
import { resolveJob, schedulingVars } from '../../functions/core/vars.ts';
import { column } from './columns.ts';
import { ArraySource } from './fakes.ts';

const job = (target: object = {}, source: object = {}) =>
  parseJob(
    JSON.stringify({
      name: 'j',
      source: { type: 'postgres', connection: { url: 'postgres://u@h/db' }, table: 'src', ...source },
      target: { type: 'mysql', connection: { url: 'mysql://root@h/db' }, table: 't', ...target },
    }),
  );

const named = (name: string, type: string, extra: Partial<TargetColumn> = {}) => ({ ...column(type, extra), name });

/** A target whose table has `live` columns and `keys`, or none (null). */
function fakeTarget(live: TargetColumn[] | null, keys: string[][] = []): Target & { created: string[] } {
  const created: string[] = [];
  return {
    created,
    async describe() {
      if (!live) throw new MissingTableError('target.table: table db.t does not exist');
      return live;
    },
    uniqueKeys: async () => keys,
    createPlan: (schema: SourceSchema) => createTablePlan(tableName('t', 'db'), schema),
    create: async (ddl: string) => void created.push(ddl),
    discard: async () => {},
    prepare: async () => {},
    write: async () => ({ written: 0, bytes: 0, skipped: 0, dirty: [], runFailed: null }),
    publish: async () => {},
  };
}

describe('did you mean', () => {
  it('measures edits, a swap of neighbours as one', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('nmu', 'num')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('suggests the same name in another case first, then a near one, never a far one', () => {
    expect(closest('odps_result', ['other', 'ODPS_RESULT', 'odps_results'])).toBe('ODPS_RESULT');
    expect(closest('writeMod', ['writeMode', 'loadMode', 'table'])).toBe('writeMode');
    expect(closest('nmu', ['id', 'num'])).toBe('num');
    expect(closest('amount', ['id', 'name'])).toBeNull();
    expect(closest('ab', ['xy'])).toBeNull();
  });

  it('names the known key for a mistyped job-file key, at any depth and in any union option', () => {
    const base = { name: 'j', source: { type: 'mysql', connection: { url: 'mysql://h/db' }, table: 's' }, target: { type: 'mysql', connection: { url: 'mysql://h/db' }, table: 't' } };
    expect(checkJob({ ...base, target: { ...base.target, writeMod: 'upsert' } })).toEqual(['target.writeMod: unknown key; did you mean writeMode?']);
    expect(checkJob({ ...base, source: { ...base.source, splitkey: 'id' } })).toEqual(['source.splitkey: unknown key; did you mean splitKey?']);
    expect(checkJob({ ...base, chanel: {} })).toEqual(['chanel: unknown key; did you mean channel?']);
    expect(checkJob({ ...base, target: { ...base.target, zzzzzz: 1 } })).toEqual(['target.zzzzzz: unknown key']);
  });

  it('names the near column of the target and of the source', () => {
    const live = [named('id', 'int'), named('num', 'int')];
    expect(() => mapColumns([{ name: 'id', type: 'int' }, { name: 'nmu', type: 'int' }], undefined, 't', live)).toThrow(
      'source columns[1]: column "nmu" does not exist in target table t; did you mean num? (it has id, num)',
    );
    expect(() => selectColumns([{ name: 'amount' }], ['amonut'], 'src')).toThrow('source.columns[0]: column "amonut" does not exist in src; did you mean amount?');
  });
});

describe('job file: query, constant columns, create', () => {
  it('takes exactly one of table and query', () => {
    expect(checkJob({ name: 'j', source: { type: 'postgres', connection: { url: 'postgres://h/db' } }, target: { type: 'mysql', connection: { url: 'mysql://h/db' }, table: 't' } })).toEqual([
      'source: give exactly one of table, query',
    ]);
    expect(() => job({}, { query: 'SELECT 1' })).toThrow(JobError);
    expect(job({}, { table: undefined, query: 'SELECT 1 AS a' }).source).toMatchObject({ query: 'SELECT 1 AS a' });
  });

  it('resolves variables in the query and in constant column values', () => {
    const spec = job({ columns: ['id', { name: 'dt', value: '${bizdate}' }] }, { table: undefined, query: "SELECT id FROM s WHERE d = '${bizdate}'" });
    const resolved = resolveJob(spec, schedulingVars(new Date('2024-03-02T01:00:00Z'), 'UTC'));
    expect(resolved.target.columns).toEqual(['id', { name: 'dt', value: '20240301' }]);
    expect(resolved.source).toMatchObject({ query: "SELECT id FROM s WHERE d = '20240301'" });
    expect(spec.target.create).toBe(false);
  });

  it('maps constant columns after the source ones, counting only the named entries against the source', () => {
    const live = [named('id', 'int'), named('dt', 'varchar(8)'), named('v', 'int')];
    const mapped = mapColumns([{ name: 'a', type: 'int' }, { name: 'b', type: 'int' }], ['id', { name: 'dt', value: 'x' }, 'v'], 't', live);
    expect(mapped.map((c) => c.name)).toEqual(['id', 'v', 'dt']);
    expect(() => mapColumns([{ name: 'a', type: 'int' }], ['id', { name: 'dx', value: 'x' }], 't', live)).toThrow('target.columns[1].name: column "dx" does not exist in target table t; did you mean dt?');
  });
});

describe('checkSchemas', () => {
  const source = () => new ArraySource([['1', 'a']], ['id', 'name'], 10);

  it('refuses upsert, replace and ignore into a table without a primary or unique key', async () => {
    const live = [named('id', 'int'), named('name', 'varchar(10)')];
    for (const writeMode of ['upsert', 'replace', 'ignore']) {
      await expect(checkSchemas(job({ writeMode }), source(), fakeTarget(live))).rejects.toThrow(`target.writeMode: "${writeMode}" needs a primary or unique key on t`);
      await expect(checkSchemas(job({ writeMode }), source(), fakeTarget(live, [['id']]))).resolves.toMatchObject({ createDdl: null });
    }
    await expect(checkSchemas(job({ writeMode: 'insert' }), source(), fakeTarget(live))).resolves.toMatchObject({ createDdl: null });
  });

  it('a missing table is an error, unless target.create plans it from the source schema', async () => {
    await expect(checkSchemas(job(), source(), fakeTarget(null))).rejects.toThrow(MissingTableError);
    const withSchema = Object.assign(source(), {
      schema: async (): Promise<SourceSchema> => ({ dialect: 'postgres', columns: [{ name: 'id', type: 'bigint', nullable: false }, { name: 'name', type: 'text', nullable: true }], key: ['id'] }),
    });
    const checked = await checkSchemas(job({ create: true, writeMode: 'upsert' }), withSchema, fakeTarget(null));
    expect(checked.createDdl).toBe('CREATE TABLE IF NOT EXISTS `db`.`t` (\n  `id` BIGINT NOT NULL,\n  `name` LONGTEXT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin');
    expect(checked.columns.map((c) => `${c.name} ${c.columnType} ${c.nullable}`)).toEqual(['id bigint false', 'name longtext true']);
  });

  it('names file keys that no column reads', async () => {
    const files = Object.assign(source(), { fileKeys: async () => ['id', 'nmu', 'name'] });
    const live = [named('id', 'int'), named('name', 'varchar(10)')];
    const checked = await checkSchemas(job(), files, fakeTarget(live));
    expect(checked.unmatchedKeys).toEqual(['nmu']);
    expect(checked.warnings).toEqual(['source: key "nmu" of the files matches no column read, and is not loaded']);
  });
});

describe('target.create type mapping', () => {
  it('maps PostgreSQL types', () => {
    expect(['bigint', 'character varying(40)', 'numeric(12,2)', 'timestamp with time zone', 'timestamp(3) without time zone', 'boolean', 'jsonb', 'text', 'integer[]', 'uuid', 'bytea', 'numeric'].map(fromPostgres)).toEqual([
      'BIGINT', 'VARCHAR(40)', 'DECIMAL(12,2)', 'DATETIME(6)', 'DATETIME(3)', 'TINYINT(1)', 'JSON', 'LONGTEXT', 'JSON', 'CHAR(36)', 'LONGBLOB', 'DECIMAL(65,30)',
    ]);
  });

  it('maps Parquet types', () => {
    expect(['INT64', 'INT32', 'DOUBLE', 'STRING', 'DECIMAL(18,3)', 'TIMESTAMP(MICROS, UTC)', 'TIMESTAMP(MILLIS)', 'DATE', 'BOOLEAN', 'BYTE_ARRAY'].map(fromParquet)).toEqual([
      'BIGINT', 'INT', 'DOUBLE', 'LONGTEXT', 'DECIMAL(18,3)', 'DATETIME(6)', 'DATETIME(3)', 'DATE', 'TINYINT(1)', 'LONGBLOB',
    ]);
  });

  it('infers CSV and JSON Lines types from a sample', () => {
    expect(inferType(['1', '-20', null])).toBe('BIGINT');
    expect(inferType(['1.5', '22.125', '3'])).toBe('DECIMAL(5,3)');
    expect(inferType(['007', '1'])).toBe('LONGTEXT');
    expect(inferType(['2024-01-02', '2024-12-31'])).toBe('DATE');
    expect(inferType(['2024-01-02 10:00:00.123', '2024-01-02T10:00:00'])).toBe('DATETIME(3)');
    expect(inferType([1, 2])).toBe('BIGINT');
    expect(inferType([1.5, 2])).toBe('DOUBLE');
    expect(inferType([true, false])).toBe('TINYINT(1)');
    expect(inferType([{ a: 1 }, [1]])).toBe('JSON');
    expect(inferType(['x', 1])).toBe('LONGTEXT');
    expect(inferType([null, ''])).toBe('LONGTEXT');
  });

  it('gives a text key a bounded VARCHAR', () => {
    const { ddl } = createTablePlan(tableName('t', 'db'), { dialect: 'postgres', columns: [{ name: 'k', type: 'text', nullable: true }], key: ['k'] });
    expect(ddl).toContain('`k` VARCHAR(768) NOT NULL');
  });
});
