import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, finished, MYSQL_URL, mysqlConnection, PG_URL, pgClient, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/** Everything of this file lives in a database (and a PostgreSQL schema) of its own, dropped at the end. */
const DB = `it_cli_${randomBytes(4).toString('hex')}`;
const url = (base: string, db: string) => base.replace(/\/[^/?]*(\?|$)/, `/${db}$1`);
const TARGET_URL = url(MYSQL_URL, DB);

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;
let csv: string;

beforeAll(async () => {
  my = await mysqlConnection();
  await my.query(`CREATE DATABASE ${DB}`);
  await my.query(`CREATE TABLE ${DB}.items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50))`);
  pgc = await pgClient();
  await pgc.query(`CREATE SCHEMA ${DB}`);
  await pgc.query(`CREATE TABLE ${DB}.items (id BIGINT PRIMARY KEY, name TEXT)`);
  await pgc.query(`INSERT INTO ${DB}.items SELECT g, 'item ' || g FROM generate_series(1, 300) g`);
  dir = await tempDir();
  csv = join(dir, 'data');
  await import('node:fs/promises').then((fs) => fs.mkdir(csv));
  await writeFile(join(csv, 'a.csv'), `id,name\n${Array.from({ length: 50 }, (_, i) => `${i + 1},n${i + 1}`).join('\n')}\n`);
});

afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my.end();
  await pgc.query(`DROP SCHEMA IF EXISTS ${DB} CASCADE`);
  await pgc.end();
});

const csvJob = (name: string, table: string) => ({
  name,
  source: { type: 'files', url: `file://${csv}/`, format: 'csv' },
  target: { type: 'mysql', connection: { url: TARGET_URL }, table },
});

async function freshTable(table: string): Promise<void> {
  await my.query(`DROP TABLE IF EXISTS ${DB}.${table}`);
  await my.query(`CREATE TABLE ${DB}.${table} (id INT NOT NULL PRIMARY KEY, name VARCHAR(50))`);
}

async function count(table: string): Promise<number> {
  const [[row]] = (await my.query(`SELECT COUNT(*) AS n FROM ${DB}.${table}`)) as unknown as [{ n: string }[]];
  return Number(row.n);
}

/** One line on stderr, exit 2, nothing on stdout, no stack trace. */
function expectUsageError(result: { code: number | null; stdout: string; stderr: string }, message: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr).toMatch(message);
}

describe('command line conventions', () => {
  it('--help, help and COMMAND --help print to stdout and exit 0', async () => {
    const overview = await runCli(['--help']);
    expect(overview).toMatchObject({ code: 0, stderr: '' });
    for (const command of ['run', 'resume', 'rerun', 'backfill', 'cancel', 'validate', 'plan', 'check', 'status', 'dirty', 'schema', 'init', 'help']) {
      expect(overview.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    const help = await runCli(['help', 'run']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^usage: batchsync run JOB/);
    for (const option of ['--var k=v...', '--logical-time ISO', '--new', '--event FILE', '--workers N', '--connections FILE', '--json']) expect(help.stdout).toContain(option);
    expect(await runCli(['run', '--help'])).toEqual(help);
    expect(await runCli(['run', '-h'])).toEqual(help);
    expectUsageError(await runCli(['help', 'nope']), /unknown command "nope"/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('a code cache per command: written by its first success, none for a mistyped command, a damaged one ignored and rewritten', async () => {
    expect((await runCli(['--version'])).code).toBe(0);
    const bundles = join(BIN, '..', '..', 'node_modules', '.cache', 'batchsync');
    const dirs = await Promise.all((await readdir(bundles)).map(async (name) => ({ path: join(bundles, name), mtime: (await stat(join(bundles, name))).mtimeMs })));
    const bundle = dirs.sort((a, b) => b.mtime - a.mtime)[0].path;
    const cache = join(bundle, '--version.v8cache');
    await rm(cache, { force: true });
    expect((await runCli(['--version'])).code).toBe(0);
    const written = await readFile(cache);
    // Bytes flipped past the file's digest: V8 itself does not check them, and would crash on some.
    const damaged = Buffer.from(written);
    for (let i = 1000; i < damaged.length; i += 997) damaged[i] ^= 0xff;
    await writeFile(cache, damaged);
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stderr: '' });
    expect((await readFile(cache)).equals(damaged)).toBe(false);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect(existsSync(join(bundle, 'frobnicate.v8cache'))).toBe(false);
  });

  it('each command takes its own options: another is an error naming it and the command', async () => {
    const file = await writeJob(dir, csvJob('it_cli_opts', 'items'), 'opts.json');
    expectUsageError(await runCli(['validate', '--workers', '3', file]), /^batchsync: validate does not take --workers\b/);
    expectUsageError(await runCli(['status', '--new']), /^batchsync: status does not take --new\b/);
    expectUsageError(await runCli(['run']), /run needs JOB/);
    expectUsageError(await runCli(['run', file, 'extra']), /unexpected argument extra/);
    expectUsageError(await runCli(['plan', file, '--var']), /--var needs a value/);
    expectUsageError(await runCli(['frobnicate']), /unknown command "frobnicate"/);
    expectUsageError(await runCli(['run', file, '--logicaltime', '2026-01-01']), /run does not take --logicaltime; did you mean --logical-time\?/);
    expectUsageError(await runCli(['stauts']), /unknown command "stauts"; did you mean status\?/);
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^usage: batchsync/);
  });

  it('every command that prints a result takes --json', async () => {
    for (const command of ['run', 'resume', 'rerun', 'backfill', 'cancel', 'validate', 'plan', 'check', 'status', 'dirty']) {
      expect((await runCli(['help', command])).stdout, command).toContain('--json');
    }
    const file = await writeJob(dir, csvJob('it_cli_json', 'items'), 'json.json');
    expect(JSON.parse((await runCli(['validate', file, '--json'])).stdout)).toEqual({ file, valid: true, problems: [] });
    const check = await runCli(['check', file, '--json']);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ job: 'it_cli_json', ok: true, source: { ranges: 1 }, target: { table: 'items', insertable: true }, ledger: { ok: true } });
    const plan = JSON.parse((await runCli(['plan', file, '--json'])).stdout);
    expect(plan).toMatchObject({ job: 'it_cli_json', ranges: 1, rangeList: [{ id: 0 }] });
  });

  it('a JSON syntax error names its line and column', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{\n  "name": "x",\n  source: {}\n}\n');
    const result = await runCli(['validate', file]);
    expectUsageError(result, /broken\.json: invalid JSON at line 3, column 3: /);
  });

  it('the lifecycle commands check their own options', async () => {
    const file = await writeJob(dir, csvJob('it_cli_life', 'items'), 'life.json');
    expectUsageError(await runCli(['rerun', file]), /rerun needs --logical-time/);
    expectUsageError(await runCli(['backfill', file, '--from', '2026-01-02']), /backfill needs --to/);
    expectUsageError(await runCli(['backfill', file, '--from', '2026-01-05', '--to', '2026-01-02']), /--from 2026-01-05 is after --to 2026-01-02/);
    expectUsageError(await runCli(['cancel', 'abc']), /cancel needs --job/);
  });
});

describe('runs say what happened', () => {
  it('a run, then the same logical time again: created, then skipped, in text and JSON; status shows times; ids by prefix', async () => {
    await freshTable('runs');
    const file = await writeJob(dir, csvJob('it_cli_runs', 'runs'), 'runs.json');
    const time = '2026-11-30T00:00:00Z';
    const first = await runCli(['run', file, '--json', '--logical-time', time]);
    const s = summary(first);
    expect(s).toMatchObject({ outcome: 'created', status: 'succeeded', rowsWritten: 50, ranges: 1, logicalTime: '2026-11-30T00:00:00.000Z' });
    // Progress by rows on a non-terminal stderr: a plain line.
    expect(first.stderr).toMatch(/^it_cli_runs: [\d,]+( of about [\d,]+)? rows written, (\?|[\d,]+) rows\/s, \S+ left, ranges \d+\/1$/m);

    const again = await runCli(['run', file, '--json', '--logical-time', time]);
    expect(again.code).toBe(0);
    expect(summary(again)).toMatchObject({ runId: s.runId, outcome: 'skipped', status: 'succeeded' });
    expect(again.stderr).toMatch(/skipped: job it_cli_runs already has run \S+ for logical time 2026-11-30T00:00:00.000Z, ended succeeded; nothing was run/);
    const text = await runCli(['run', file, '--logical-time', time]);
    expect(text.stdout).toMatch(/^skipped: /);
    expect(await count('runs')).toBe(50);

    const runId = s.runId as string;
    const list = await runCli(['status', '--job', file]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^RUN\s+JOB\s+LOGICAL TIME\s+STARTED\s+DURATION\s+STATUS/);
    expect(list.stdout).toMatch(new RegExp(`^${runId}\\s+it_cli_runs\\s+2026-11-30 00:00:00Z\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+[\\d.]+m?s\\s+succeeded\\s+50\\s`, 'm'));

    const one = JSON.parse((await runCli(['status', runId.slice(0, 8), '--json', '--job', file])).stdout);
    expect(one).toMatchObject({ runId, ranges: 1, rangeList: [{ id: 0, status: 'done', rowsWritten: 50 }] });
    const oneText = await runCli(['status', runId.slice(0, 6), '--job', file]);
    expect(oneText.stdout).toMatch(/logical time 2026-11-30 00:00:00Z, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, took [\d.]+m?s/);
    const dirty = await runCli(['dirty', runId.slice(0, 5), '--json', '--job', file]);
    expect(JSON.parse(dirty.stdout)).toEqual([]);
  });

  it('an ambiguous run id prefix is refused, naming the runs it could be', async () => {
    const ledger = `${DB}.batchsync_runs`;
    await runCli(['status', '--ledger', TARGET_URL]); // creates the ledger tables
    for (const id of ['feedface-0001', 'feedface-0002']) {
      await my.query(`INSERT INTO ${ledger} (run_id, job, logical_time, vars, vars_hash, status, created_at, updated_at) VALUES (?, 'it_cli_amb', NOW(3), '{}', SHA1(?), 'failed', NOW(3), NOW(3))`, [id, id]);
    }
    const result = await runCli(['status', 'feedface', '--ledger', TARGET_URL]);
    expectUsageError(result, /run id feedface is ambiguous: it starts 2 runs \(feedface-0001, feedface-0002\)/);
    expect(JSON.parse((await runCli(['status', 'feedface-0002', '--json', '--ledger', TARGET_URL])).stdout)).toMatchObject({ runId: 'feedface-0002' });
    const none = await runCli(['status', 'nosuchrun', '--ledger', TARGET_URL]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no run nosuchrun in the ledger/);
  });
});

describe('dirty streams', () => {
  it('prints more than 100k dirty records, complete through a pipe, under a 64 MB heap', async () => {
    const runId = 'it-cli-many-dirty';
    const records = 120_000;
    await runCli(['status', '--ledger', TARGET_URL]); // creates the ledger tables
    await my.query(`INSERT INTO ${DB}.batchsync_runs (run_id, job, logical_time, vars, vars_hash, status, dirty_records, created_at, updated_at) VALUES (?, 'it_cli_dirty', NOW(3), '{}', SHA1('{}'), 'failed', ?, NOW(3), NOW(3))`, [
      runId,
      records,
    ]);
    // Each record about 600 bytes: 70 MB of JSON, more than the heap allowed.
    await my.query(
      `INSERT INTO ${DB}.batchsync_dirty (run_id, range_id, column_name, reason, record, created_at)
       SELECT ?, seq % 7, 'num', CONCAT('value "x', seq, '" is not an integer'), CONCAT('["', seq, '","', REPEAT('y', 560), '"]'), NOW(3) FROM seq_1_to_${records}`,
      [runId],
    );
    const child = spawn(process.execPath, ['--max-old-space-size=64', BIN, 'dirty', runId, '--json', '--ledger', TARGET_URL], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await finished(child);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(64 * 1024 * 1024);
    const parsed = JSON.parse(result.stdout) as Array<{ rangeId: number; column: string; reason: string; record: string[] }>;
    expect(parsed).toHaveLength(records);
    expect(parsed[0]).toEqual({ rangeId: 1, column: 'num', reason: 'value "x1" is not an integer', record: ['1', 'y'.repeat(560)] });
    expect(parsed[records - 1].record[0]).toBe(String(records));
  });
});

describe('init', () => {
  it('writes a starter job from a PostgreSQL table that validates, checks and runs', async () => {
    const result = await runCli(['init', '--source', PG_URL, '--table', `${DB}.items`, '--target', TARGET_URL]);
    expect(result.code, result.stderr).toBe(0);
    const job = JSON.parse(result.stdout);
    expect(job).toMatchObject({
      name: 'items',
      source: { type: 'postgres', table: `${DB}.items`, columns: ['id', 'name'], splitKey: 'id' },
      target: { type: 'mysql', table: 'items' },
    });
    expect(job.target.create).toBeUndefined();
    expect(result.stderr).toMatch(/init: job items: 2 columns/);
    const file = join(dir, 'init.json');
    await writeFile(file, result.stdout);
    expect(await runCli(['validate', file])).toMatchObject({ code: 0, stdout: `${file}: ok\n` });
    expect((await runCli(['check', file])).code).toBe(0);
    const run = summary(await runCli(['run', file, '--json']));
    expect(run).toMatchObject({ status: 'succeeded', rowsWritten: 300 });
    expect(await count('items')).toBe(300);
  });

  it('sets "create": true when the target table is missing', async () => {
    const result = await runCli(['init', '--source', PG_URL, '--table', `${DB}.items`, '--target', TARGET_URL, '--target-table', 'new_items']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'new_items', target: { table: 'new_items', create: true } });
    expect(result.stderr).toMatch(/target table new_items does not exist/);
  });

  it('names what it needs', async () => {
    expectUsageError(await runCli(['init', '--source', PG_URL, '--table', 'x']), /init needs --target/);
    expectUsageError(await runCli(['init', '--source', 'file:///tmp/', '--table', 'x', '--target', TARGET_URL]), /expected a postgres:\/\/ or mysql:\/\/ URL/);
  });
});

describe('one job file for local and deployed runs', () => {
  it('a job with secretId runs locally through --connections, with worker processes', async () => {
    await freshTable('secret_items');
    const job = {
      name: 'it_cli_secrets',
      source: { type: 'postgres', connection: { secretId: 'prod/source-db' }, table: `${DB}.items` },
      target: { type: 'mysql', connection: { secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf' }, table: 'secret_items' },
      channel: { maxConcurrency: 2, distributed: true },
    };
    const file = await writeJob(dir, job, 'secrets.json');
    const connections = join(dir, 'connections.json');
    await writeFile(connections, JSON.stringify({ 'prod/source-db': PG_URL, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:target-AbCdEf': TARGET_URL }));
    // No AWS credentials here: a secret is found in the connections file or nowhere.
    const env = { AWS_ACCESS_KEY_ID: '', AWS_PROFILE: '', HOME: dir };
    const missing = await runCli(['check', file], env);
    expectUsageError(missing, /secret \S+: no --connections FILE was given, and no AWS credentials are configured/);
    const run = await runCli(['run', file, '--json', '--connections', connections], env);
    expect(summary(run)).toMatchObject({ status: 'succeeded', rowsWritten: 300, outcome: 'created' });
    expect(await count('secret_items')).toBe(300);
    const status = await runCli(['status', '--job', file, '--json'], { ...env, BATCHSYNC_CONNECTIONS: connections });
    expect(JSON.parse(status.stdout)).toMatchObject([{ job: 'it_cli_secrets', status: 'succeeded' }]);
  });
});
