/**
 * Variables in SQL fields (issue 11, item 5): a value is the content of the
 * string literal the job file writes, for the dialect that runs it. Checked
 * by text, and by the real servers: `SELECT '<escaped>'` gives the value back.
 */
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { resolveJob, sqlStringContent } from '../../functions/core/vars.ts';
import { mysqlConnection, pgClient } from '../helpers.ts';

/** Values an S3 key or a --var could carry, attempts to end the literal among them. */
const NASTY = [
  "O'Brien",
  'back\\slash',
  'trailing\\',
  "x'; DROP TABLE t; --",
  "a\\' OR 1=1 -- ",
  "\\'; DELETE FROM runs; SELECT '",
  "exports/2026-11-24/it's \\\\ \"quoted\" ${not_a_var}.csv",
  'line\nbreak\ttab',
  '日本語 ✓',
  '',
];

const job = (source: Record<string, unknown>) =>
  JobSpec.parse({
    name: 'landing',
    source: { connection: { secretId: 's' }, table: 'public.landing', ...source },
    target: { type: 'mysql', connection: { secretId: 't' }, table: 'landing', preSql: ["DELETE FROM landing WHERE s3_key = '${key}'"], postSql: ["INSERT INTO loaded (k) VALUES ('${key}')"] },
  });

describe('a variable in where, preSql and postSql is escaped as string literal content', () => {
  it('an injection attempt in an S3 key stays inside the quotes the job file wrote (PostgreSQL source, MySQL target)', () => {
    const key = "x'; DROP TABLE t; --";
    const resolved = resolveJob(job({ type: 'postgres', where: "s3_key = '${key}' AND dt = '${bizdate}'" }), { key, bizdate: '20261124' });
    expect(resolved.source).toMatchObject({ where: "s3_key = 'x''; DROP TABLE t; --' AND dt = '20261124'" });
    expect(resolved.target.preSql).toEqual(["DELETE FROM landing WHERE s3_key = 'x''; DROP TABLE t; --'"]);
    expect(resolved.target.postSql).toEqual(["INSERT INTO loaded (k) VALUES ('x''; DROP TABLE t; --')"]);
  });

  it("MySQL doubles quotes and backslashes; PostgreSQL doubles quotes only (its backslash is a plain character)", () => {
    const value = "a\\' OR 1=1 -- ";
    const vars = (v: string) => ({ v, key: 'k' });
    expect(resolveJob(job({ type: 'mysql', where: "k = '${v}'" }), vars(value)).source).toMatchObject({ where: "k = 'a\\\\'' OR 1=1 -- '" });
    expect(resolveJob(job({ type: 'postgres', where: "k = '${v}'" }), vars(value)).source).toMatchObject({ where: "k = 'a\\'' OR 1=1 -- '" });
    expect(sqlStringContent('nul\0byte', 'mysql')).toBe('nul\\0byte');
    expect(() => resolveJob(job({ type: 'postgres', where: "k = '${v}'" }), vars('nul\0byte'))).toThrow('source.where: ${v}: the value has a NUL character');
  });

  it('a files source URL takes the value as it is: an S3 key is the key', () => {
    const files = JobSpec.parse({ ...job({ type: 'postgres' }), source: { type: 'files', url: 's3://landing/${key}', format: 'csv' } });
    expect(resolveJob(files, { key: "in/it's a \\ key.csv" }).source).toMatchObject({ url: "s3://landing/in/it's a \\ key.csv" });
  });
});

describe('the servers read the escaped literal back as the value', () => {
  let my: mysql.Connection;
  let pgc: pg.Client;
  beforeAll(async () => {
    my = await mysqlConnection();
    pgc = await pgClient();
    // As batchsync's own sessions (functions/adapters/mysql/connect.ts): backslash escapes on.
    await my.query("SET sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', NAMES utf8mb4");
  });
  afterAll(async () => {
    await my?.end();
    await pgc?.end();
  });

  it.each(NASTY.map((v) => [v]))('MariaDB and PostgreSQL: %j', async (value) => {
    const [rows] = await my.query(`SELECT '${sqlStringContent(value, 'mysql')}' AS v, 1 AS one`);
    expect(rows).toEqual([{ v: value, one: '1' }]);
    const result = await pgc.query(`SELECT '${sqlStringContent(value, 'postgres')}' AS v, 1 AS one`);
    expect(result.rows).toEqual([{ v: value, one: '1' }]);
  });
});
