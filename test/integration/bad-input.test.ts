import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, mysqlConnection, runCli, tempDir, writeJob } from '../helpers.ts';

let my: mysql.Connection;
let dir: string;
let csvDir: string;

beforeAll(async () => {
  my = await mysqlConnection();
  dir = await tempDir();
  csvDir = join(dir, 'data');
  await import('node:fs/promises').then((fs) => fs.mkdir(csvDir));
  await writeFile(join(csvDir, 'a.csv'), 'education,num\nbachelor,12\nmaster,7\n');
  await my.query('DROP TABLE IF EXISTS it_bad');
  await my.query('CREATE TABLE it_bad (id INT AUTO_INCREMENT PRIMARY KEY, education VARCHAR(255), num INT)');
});

afterAll(async () => {
  await my.end();
});

const goodJob = () => ({
  name: 'it_bad',
  source: { type: 'files', url: `file://${csvDir}/`, format: 'csv' },
  target: { type: 'mysql', connection: { url: MYSQL_URL }, table: 'it_bad' } as Record<string, unknown>,
});

/** Runs the job and expects one clear line on stderr, no stack trace, the exit code, and nothing written. */
async function expectRejected(job: object | string, code: number, message: RegExp): Promise<string> {
  const file = typeof job === 'string' ? join(dir, 'raw.json') : await writeJob(dir, job);
  if (typeof job === 'string') await writeFile(file, job);
  const result = await runCli(['run', file, '--json']);
  expect(result.code, result.stderr).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  const [[{ n }]] = (await my.query('SELECT COUNT(*) AS n FROM it_bad')) as unknown as [{ n: string }[]];
  expect(Number(n)).toBe(0);
  return result.stderr;
}

describe('bad input: one clear line, exit 2 (job) or 1 (connection), nothing written', () => {
  it('invalid JSON', async () => {
    await expectRejected('{ "name": "it_bad", ', 2, /invalid JSON/);
  });

  it('an unknown key, with its path', async () => {
    const job = goodJob();
    job.target.writeMod = 'insert';
    await expectRejected(job, 2, /target\.writeMod: unknown key/);
  });

  it('a value of the wrong type', async () => {
    await expectRejected({ ...goodJob(), channel: { maxConcurrency: '4' } }, 2, /channel\.maxConcurrency: .*expected number, received string/);
  });

  it('a missing target table', async () => {
    const job = goodJob();
    job.target.table = 'it_bad_missing';
    await expectRejected(job, 2, /target\.table: table test\.it_bad_missing does not exist/);
  });

  it('a missing column', async () => {
    const job = goodJob();
    job.target.columns = ['education', 'numx'];
    await expectRejected(job, 2, /target\.columns\[1\]: column "numx" does not exist in target table it_bad/);
  });

  it('a column count mismatch', async () => {
    const job = goodJob();
    job.target.columns = ['education'];
    await expectRejected(job, 2, /target\.columns: 1 columns, but the source has 2/);
  });

  it('an unreachable database', async () => {
    const job = goodJob();
    job.target.connection = { url: 'mysql://root@127.0.0.1:1/test' };
    await expectRejected(job, 1, /cannot reach mysql:\/\/root@127\.0\.0\.1:1\/test \(ECONNREFUSED\)/);
  });

  it('a wrong password, which is never printed', async () => {
    const job = goodJob();
    job.target.connection = { url: 'mysql://root:Sekrit-Pa55@127.0.0.1:3306/test' };
    const stderr = await expectRejected(job, 1, /cannot log in to mysql:\/\/root@127\.0\.0\.1:3306\/test: Access denied/);
    expect(stderr).not.toContain('Sekrit-Pa55');
  });

  it('validate lists every problem with its path', async () => {
    const file = await writeJob(dir, { name: 'Bad Name', source: { type: 'files', url: 'http://x', format: 'csv' }, target: { type: 'mysql' } });
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('name: must be 1-64 of a-z, 0-9, _ and -');
    expect(result.stderr).toContain('source.url: must start with file:// or s3://');
    expect(result.stderr).toContain('target.connection: Invalid input');
    expect(result.stderr).toContain('target.table: Invalid input');
    const good = await runCli(['validate', await writeJob(dir, goodJob(), 'good.json')]);
    expect(good.code).toBe(0);
  });

  it('check tests reading the source, inserting into the target and the ledger, writing nothing', async () => {
    const good = await runCli(['check', await writeJob(dir, goodJob(), 'check.json')]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^source: ok, 2 columns \(education, num\), readable \(1 range\)\ntarget: ok, it_bad \(education varchar\(255\), num int\(11\)\), insertable\nledger: ok\n$/);
    for (const host of ['localhost', '127.0.0.1', '%']) {
      await my.query(`CREATE USER IF NOT EXISTS 'bs_it_reader'@'${host}' IDENTIFIED BY 'reader-pw'`);
      await my.query(`GRANT SELECT ON test.* TO 'bs_it_reader'@'${host}'`);
    }
    const job = goodJob();
    job.target.connection = { url: 'mysql://bs_it_reader:reader-pw@127.0.0.1:3306/test' };
    const readOnly = await runCli(['check', await writeJob(dir, job, 'check-ro.json')]);
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toMatch(/^batchsync: checking the insert privilege on mysql:\/\/bs_it_reader@127\.0\.0\.1:3306\/test: INSERT command denied/);
    const [[{ n }]] = (await my.query('SELECT COUNT(*) AS n FROM it_bad')) as unknown as [{ n: string }[]];
    expect(Number(n)).toBe(0);
  });

  it('schema prints the JSON Schema of the job file', async () => {
    const result = await runCli(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.properties.target.properties.writeMode.enum).toEqual(['insert', 'ignore', 'replace', 'upsert']);
    expect(schema.additionalProperties).toBe(false);
  });
});
