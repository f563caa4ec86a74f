import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peakConcurrency } from '../../functions/core/throttle.ts';
import { BIN, finished, mysqlDigest, PG_URL, pgClient, pgDigest, runCli, startCli, summary, tempDir, waitFor } from '../helpers.ts';

/**
 * The run lifecycle across attempts, on a 200k-row PostgreSQL source: no
 * sequence of interruptions, failures, resumes, reruns and backfills
 * writes a source row twice. Each test has a target table of its own in a
 * database made for this file.
 */

const ROWS = 200_000;
const suffix = randomBytes(4).toString('hex');
const DB = `it_lc_${suffix}`;
const SRC = `it_lc_src_${suffix}`;
const MYSQL = `mysql://root@127.0.0.1:3306/${DB}`;
const COLUMNS = 'id, v, n';

let my: mysql.Connection;
let pgc: pg.Client;
let dir: string;
let expected: string;

beforeAll(async () => {
  my = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306/test', typeCast: (field) => field.string() });
  await my.query(`CREATE DATABASE ${DB}`);
  await my.query(`USE ${DB}`);
  pgc = await pgClient();
  await pgc.query(`CREATE TABLE ${SRC} (id bigint PRIMARY KEY, v text, n int, dt text)`);
  // Three business dates for the backfill; id 777 has a value too long for the target (a dirty record).
  await pgc.query(
    `INSERT INTO ${SRC} SELECT g, CASE WHEN g = 777 THEN repeat('x', 40) ELSE 'value ' || (g % 97) END, g % 1000,
            (ARRAY['20261101', '20261102', '20261103'])[1 + g % 3] FROM generate_series(1, $1) g`,
    [ROWS],
  );
  expected = await pgDigest(pgc, `SELECT ${COLUMNS} FROM ${SRC}`);
  dir = await tempDir();
});

afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my.end();
  await pgc.query(`DROP TABLE IF EXISTS ${SRC}`);
  await pgc.end();
});

async function table(name: string, width = 64): Promise<void> {
  await my.query(`CREATE TABLE ${name} (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(${width}), n INT) DEFAULT CHARSET=utf8mb4`);
}

function job(name: string, target: Record<string, unknown> = {}, channel: Record<string, unknown> = {}, source: Record<string, unknown> = {}) {
  return {
    name,
    source: { type: 'postgres', connection: { url: PG_URL }, table: SRC, columns: ['id', 'v', 'n'], ...source },
    target: { type: 'mysql', connection: { url: MYSQL }, table: name, ...target },
    channel: { maxConcurrency: 2, ...channel },
  };
}

async function writeJobFile(spec: { name: string } & Record<string, unknown>, subdir = dir): Promise<string> {
  const file = join(subdir, `${spec.name}.json`);
  await writeFile(file, JSON.stringify(spec, null, 2));
  return file;
}

const count = async (name: string) => Number(((await my.query(`SELECT COUNT(*) AS c FROM ${name}`)) as unknown as [{ c: string }[]])[0][0].c);
const digest = (name: string) => mysqlDigest(my, `SELECT ${COLUMNS} FROM ${name}`);

async function runRow(runId: string): Promise<Record<string, string>> {
  const [rows] = (await my.query(`SELECT * FROM batchsync_runs WHERE run_id = ?`, [runId])) as unknown as [Record<string, string>[]];
  return rows[0];
}

async function attempts(runId: string) {
  const [rows] = (await my.query(`SELECT range_id, started_at, COALESCE(ended_at, heartbeat_at) AS ended_at FROM batchsync_attempts WHERE run_id = ? ORDER BY id`, [
    runId,
  ])) as unknown as [Array<{ range_id: string; started_at: string; ended_at: string }>];
  const at = (t: string) => new Date(`${t.replace(' ', 'T')}Z`);
  return rows.map((r) => ({ rangeId: Number(r.range_id), startedAt: at(r.started_at), endedAt: at(r.ended_at) }));
}

/** Waits until the target holds at least `rows` rows, so an interruption lands mid-run. */
const progressed = (name: string, rows: number) => waitFor(async () => (await count(name)) >= rows, 90_000, 100);

describe('run lifecycle', () => {
  it('Ctrl-C stops after the chunks in flight and exits 130; `run` again continues that run to exactly the source', async () => {
    const name = 'lc_ctrlc';
    await table(name, 64);
    const file = await writeJobFile(job(name, {}, { rowsPerSecond: 25_000 }));
    const first = startCli(['run', file, '--json']);
    const done = finished(first);
    await progressed(name, 30_000);
    first.kill('SIGINT');
    const interrupted = await done;
    expect(interrupted.code, interrupted.stderr).toBe(130);
    expect(interrupted.stderr).toMatch(/resumable: batchsync resume \S+ --job/);
    const runId = summary(interrupted).runId as string;
    expect(await count(name)).toBeLessThan(ROWS);

    const again = await runCli(['run', file, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`continuing run ${runId}`);
    expect(summary(again)).toMatchObject({ runId, status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS, outcome: 'resumed' });
    expect(await digest(name)).toBe(expected);
  });

  it('SIGKILL of the whole process group during postSql: `run` again finishes the finalize step', async () => {
    const name = 'lc_postkill';
    await table(name);
    await my.query('CREATE TABLE lc_post_log (at DATETIME(3))');
    // The first finalizer sleeps in its post-SQL (and is killed there); the second finds two log rows and does not.
    const postSql = ['INSERT INTO lc_post_log VALUES (NOW(3))', 'DO SLEEP(IF((SELECT COUNT(*) FROM lc_post_log) < 2, 60, 0))'];
    const file = await writeJobFile(job(name, { postSql }));
    const started = Date.now();
    const group = spawn(process.execPath, [BIN, 'run', file, '--json'], { detached: true, stdio: 'ignore' });
    await waitFor(async () => (await count('lc_post_log')) === 1, 120_000, 100);
    process.kill(-(group.pid as number), 'SIGKILL');

    const again = await runCli(['run', file, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(summary(again)).toMatchObject({ status: 'succeeded', rowsWritten: ROWS });
    expect(await count('lc_post_log')).toBe(2);
    expect(await digest(name)).toBe(expected);
    expect(Date.now() - started).toBeLessThan(90_000 + 60_000);
  });

  it('a run failed by its dirty limit is finished by `resume` after the limit is raised: exactly the source minus the dirty row', async () => {
    const name = 'lc_dirty';
    await table(name, 20);
    const spec = job(name, {}, { dirtyRecordLimit: 0 });
    const file = await writeJobFile(spec);
    const failed = await runCli(['run', file, '--json', '--logical-time', '2026-11-02T00:00:00Z']);
    expect(failed.code).toBe(1);
    const s = summary(failed);
    expect(s).toMatchObject({ status: 'failed', dirtyRecords: 1 });

    // A changed source is a new run: resume refuses it.
    await writeJobFile({ ...spec, source: { ...spec.source, where: 'id > 5' } });
    const refused = await runCli(['resume', s.runId as string, '--job', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('changed what run');

    // A raised dirty limit is a channel setting: resume takes it.
    await writeJobFile({ ...spec, channel: { ...spec.channel, dirtyRecordLimit: null } });
    const resumed = await runCli(['resume', s.runId as string, '--job', file, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summary(resumed)).toMatchObject({ runId: s.runId, status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS - 1, dirtyRecords: 1, outcome: 'resumed' });
    expect(await count(name)).toBe(ROWS - 1);
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM ${name}`)).toBe(await pgDigest(pgc, `SELECT ${COLUMNS} FROM ${SRC} WHERE id <> 777`));

  });

  it('rerun is refused for append/insert (pointing to resume) and starts a truncate job again from scratch', async () => {
    const time = '2026-11-05T00:00:00Z';
    await table('lc_append');
    const appendFile = await writeJobFile(job('lc_append'));
    expect((await runCli(['run', appendFile, '--logical-time', time])).code).toBe(0);
    const refused = await runCli(['rerun', appendFile, '--logical-time', time]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/could write rows twice.*batchsync resume/);
    expect(await count('lc_append')).toBe(ROWS);

    await table('lc_truncate');
    const truncateFile = await writeJobFile(job('lc_truncate', { loadMode: 'truncate' }));
    const first = summary(await runCli(['run', truncateFile, '--json', '--logical-time', time]));
    const second = await runCli(['rerun', truncateFile, '--json', '--logical-time', time]);
    expect(second.code, second.stderr).toBe(0);
    const s = summary(second);
    expect(s).toMatchObject({ status: 'succeeded', rowsWritten: ROWS, outcome: 'created' });
    expect(s.runId).not.toBe(first.runId);
    expect(await runRow(s.runId as string)).toMatchObject({ attempt: '2' });
    expect(await runRow(first.runId as string)).toMatchObject({ status: 'succeeded', superseded_by: s.runId });
    expect(await digest('lc_truncate')).toBe(expected);
  });

  it('the same logical time with other variables is refused, naming both sets', async () => {
    await table('lc_vars');
    const file = await writeJobFile(job('lc_vars', {}, {}, { where: "dt = '${day}'" }));
    const time = '2026-11-06T00:00:00Z';
    expect((await runCli(['run', file, '--logical-time', time, '--var', 'day=20261101'])).code).toBe(0);
    const other = await runCli(['run', file, '--logical-time', time, '--var', 'day=20261102']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('{"day":"20261101"}');
    expect(other.stderr).toContain('{"day":"20261102"}');
    // The same variables again: skipped, said so.
    const same = await runCli(['run', file, '--json', '--logical-time', time, '--var', 'day=20261101']);
    expect(summary(same)).toMatchObject({ outcome: 'skipped', status: 'succeeded' });
    const [{ rows }] = (await pgc.query(`SELECT COUNT(*)::int AS rows FROM ${SRC} WHERE dt = '20261101'`)).rows;
    expect(await count('lc_vars')).toBe(Number(rows));
  });

  it('backfill over 3 dates with a downstream job, twice: one run per date and job, the second writes nothing', async () => {
    const sub = await tempDir('batchsync-backfill-');
    await table('lc_bf_up');
    await table('lc_bf_down');
    const up = await writeJobFile(job('lc_bf_up', {}, {}, { where: "dt = '${bizdate}'" }), sub);
    await writeJobFile(
      {
        name: 'lc_bf_down',
        source: { type: 'mysql', connection: { url: MYSQL }, table: 'lc_bf_up', where: "id % 3 = (CAST(RIGHT('${bizdate}', 1) AS UNSIGNED) + 2) % 3" },
        target: { type: 'mysql', connection: { url: MYSQL }, table: 'lc_bf_down' },
        channel: { maxConcurrency: 2 },
        dependsOn: ['lc_bf_up'],
      },
      sub,
    );
    const first = await runCli(['backfill', up, '--from', '2026-11-01', '--to', '2026-11-03', '--downstream']);
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines.map((l) => l.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      '20261101 lc_bf_up succeeded created',
      '20261101 lc_bf_down succeeded created',
      '20261102 lc_bf_up succeeded created',
      '20261102 lc_bf_down succeeded created',
      '20261103 lc_bf_up succeeded created',
      '20261103 lc_bf_down succeeded created',
    ]);
    expect(await digest('lc_bf_up')).toBe(expected);
    expect(await digest('lc_bf_down')).toBe(expected);
    // Logical time: midnight (UTC, no schedule) of the day after each business date.
    const [times] = (await my.query(`SELECT DISTINCT logical_time AS t FROM batchsync_runs WHERE job = 'lc_bf_up' ORDER BY t`)) as unknown as [{ t: string }[]];
    expect(times.map((t) => t.t)).toEqual(['2026-11-02 00:00:00.000', '2026-11-03 00:00:00.000', '2026-11-04 00:00:00.000']);

    const second = await runCli(['backfill', up, '--from', '2026-11-01', '--to', '2026-11-03', '--downstream', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect((JSON.parse(second.stdout) as Array<{ outcome: string }>).map((l) => l.outcome)).toEqual(Array(6).fill('skipped'));
    expect(await count('lc_bf_up')).toBe(ROWS);
    expect(await count('lc_bf_down')).toBe(ROWS);
  });

  it('two `run` processes on one run never have more than maxConcurrency consumers at once', async () => {
    const name = 'lc_two';
    await table(name);
    const file = await writeJobFile(job(name, { batchRows: 2000 }, { maxConcurrency: 2, rowsPerSecond: 40_000 }));
    const time = '2026-11-07T00:00:00Z';
    const a = finished(startCli(['run', file, '--json', '--logical-time', time]));
    await progressed(name, 10_000);
    const b = await runCli(['run', file, '--json', '--logical-time', time]);
    const ra = await a;
    expect(b.code, b.stderr).toBe(0);
    expect(ra.code, ra.stderr).toBe(0);
    expect(summary(b)).toMatchObject({ outcome: 'joined', runId: summary(ra).runId, rowsWritten: ROWS });
    expect(await digest(name)).toBe(expected);
    const all = await attempts(summary(ra).runId as string);
    expect(new Set(all.map((x) => x.rangeId)).size).toBeGreaterThan(2);
    expect(peakConcurrency(all, new Date())).toBeLessThanOrEqual(2);
  });

  it('cancel during a run stops it; resume finishes it exactly', async () => {
    const name = 'lc_cancel';
    await table(name);
    const file = await writeJobFile(job(name, {}, { rowsPerSecond: 25_000 }));
    const running = finished(startCli(['run', file, '--json', '--logical-time', '2026-11-08T00:00:00Z']));
    await progressed(name, 20_000);
    const [[{ run_id: runId }]] = (await my.query(`SELECT run_id FROM batchsync_runs WHERE job = ?`, [name])) as unknown as [{ run_id: string }[]];
    const cancel = await runCli(['cancel', runId, '--job', file]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const stopped = await running;
    expect(stopped.code).toBe(1);
    expect(summary(stopped)).toMatchObject({ runId, status: 'cancelled' });
    const partial = await count(name);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count(name)).toBe(partial);
    expect(partial).toBeLessThan(ROWS);

    const resumed = await runCli(['resume', runId, '--job', file, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summary(resumed)).toMatchObject({ runId, status: 'succeeded', rowsWritten: ROWS });
    expect(await digest(name)).toBe(expected);
  });

  it('swap: a cancelled run drops its staging table; resumed, it loads from scratch and swaps exactly the source', async () => {
    const name = 'lc_swap';
    await table(name);
    await my.query(`INSERT INTO ${name} VALUES (-1, 'old snapshot', 0)`);
    const file = await writeJobFile(job(name, { loadMode: 'swap' }, { rowsPerSecond: 25_000 }));
    const running = finished(startCli(['run', file, '--json', '--logical-time', '2026-11-09T00:00:00Z']));
    const staging = async () =>
      ((await my.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'lc\\_swap\\_\\_bs\\_%'`, [DB])) as unknown as [
        { t: string }[],
      ])[0];
    const stagingName = await waitFor(async () => (await staging())[0]?.t, 60_000, 100);
    await waitFor(async () => (await count(stagingName)) > 20_000, 60_000, 100);
    const [[{ run_id: runId }]] = (await my.query(`SELECT run_id FROM batchsync_runs WHERE job = ?`, [name])) as unknown as [{ run_id: string }[]];
    expect((await runCli(['cancel', runId, '--job', file])).code).toBe(0);
    await running;
    expect(await staging()).toEqual([]);
    expect(await count(name)).toBe(1);

    const resumed = await runCli(['resume', runId, '--job', file, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summary(resumed)).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS });
    expect(await digest(name)).toBe(expected);
  });
});
