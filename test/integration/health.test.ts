import { randomBytes } from 'node:crypto';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from 'fauxqs';
import { ensureQueues, SqsPoller, SqsQueue } from '../../functions/adapters/sqs.ts';
import { sqsClient } from '../../functions/cli/local.ts';
import { finished, MYSQL_URL, mysqlConnection, mysqlDigest, runCli, startCli, summary, tempDir, waitFor, writeJob } from '../helpers.ts';

/**
 * The target's health pauses and fails runs (issue 14), against the real
 * MariaDB: its own Threads_running raised by SLEEP sessions, and a lag
 * table the test sets. Everything lives in a database of this file's own.
 */

const ROWS = 200_000;
const DB = `bs_health_${randomBytes(4).toString('hex')}`;
const url = new URL(MYSQL_URL);
url.pathname = `/${DB}`;
const DB_URL = url.toString();

let my: mysql.Connection;
let dir: string;
let expected: string;

beforeAll(async () => {
  my = await mysqlConnection();
  dir = await tempDir();
  await my.query(`CREATE DATABASE ${DB}`);
  await my.query(`CREATE TABLE ${DB}.src (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NULL, num INT NULL)`);
  await my.query(`INSERT INTO ${DB}.src SELECT seq, IF(seq % 17 = 0, NULL, CONCAT('name ', seq)), (seq * 7919) % 100000 FROM seq_1_to_${ROWS}`);
  await my.query(`CREATE TABLE ${DB}.hb (id INT PRIMARY KEY, lag_s DECIMAL(10,3) NOT NULL)`);
  await my.query(`INSERT INTO ${DB}.hb VALUES (1, 0)`);
  expected = await mysqlDigest(my, `SELECT id, name, num FROM ${DB}.src`);
}, 120_000);

afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my.end();
});

async function job(name: string, health: object): Promise<string> {
  await my.query(`DROP TABLE IF EXISTS ${DB}.${name}`);
  await my.query(`CREATE TABLE ${DB}.${name} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NULL, num INT NULL)`);
  return writeJob(
    dir,
    {
      name,
      source: { type: 'mysql', connection: { url: DB_URL }, table: 'src' },
      target: { type: 'mysql', connection: { url: DB_URL }, table: name, health },
      // About 10 s for the 200k rows, so the test can act mid-run.
      channel: { maxConcurrency: 2, rowsPerSecond: 20_000 },
    },
    `${name}.json`,
  );
}

const count = async (table: string) => {
  const [[row]] = (await my.query(`SELECT COUNT(*) AS n FROM ${DB}.${table}`)) as unknown as [{ n: string }[]];
  return Number(row.n);
};

/** Twelve sessions each running SELECT SLEEP(seconds): Threads_running goes up by twelve for that long. */
async function busySessions(seconds: number): Promise<{ done: Promise<void> }> {
  const sessions = await Promise.all(Array.from({ length: 12 }, () => mysql.createConnection({ uri: MYSQL_URL })));
  const done = Promise.all(sessions.map((s) => s.query('SELECT SLEEP(?)', [seconds]).finally(() => s.end()))).then(() => {});
  return { done };
}

/** Polls until a consumer of the job has seen a pause verdict (its run's pause clock runs). */
async function pauseBegins(job: string): Promise<void> {
  await waitFor(async () => {
    const [rows] = (await my.query(
      `SELECT 1 FROM ${DB}.batchsync_health_pauses p JOIN ${DB}.batchsync_runs r USING (run_id) WHERE r.job = ? AND p.paused_since IS NOT NULL`,
      [job],
    )) as unknown as [unknown[]];
    return rows.length > 0;
  }, 10_000, 50);
}

/** The target's row count every 200 ms until `untilMs` (epoch ms). */
async function samples(table: string, untilMs: number): Promise<number[]> {
  const out: number[] = [];
  while (Date.now() < untilMs) {
    out.push(await count(table));
    await new Promise((r) => setTimeout(r, 200));
  }
  return out;
}

/**
 * What "no chunk commits while paused" means, sampled from the moment the
 * pause began: each consumer may still commit the one chunk it had checked
 * before (at most maxConcurrency chunks), then the count stays flat.
 */
function expectPaused(during: number[], chunkRows: number, consumers: number): void {
  const text = during.join(' ');
  expect(during.length, text).toBeGreaterThanOrEqual(6);
  expect(during[during.length - 1] - during[0], `more than the in-flight chunks committed during the pause: ${text}`).toBeLessThanOrEqual(chunkRows * consumers);
  const steps = during.filter((n, i) => i > 0 && n !== during[i - 1]).length;
  expect(steps, `the count moved more than ${consumers} times during the pause: ${text}`).toBeLessThanOrEqual(consumers);
  const tail = during.slice(-3);
  expect(new Set(tail).size, `the count moved at the end of the pause: ${text}`).toBe(1);
  expect(tail[0]).toBeLessThan(ROWS);
}

/** Rows per chunk of these jobs: rowsPerSecond / maxConcurrency / 2 (core/consume.ts chunkRows). */
const CHUNK_ROWS = 5000;

describe('target.health protects the target', () => {
  it('maxLoad: writes pause while Threads_running is over the limit, then the run completes exactly', async () => {
    const file = await job('h_load', { maxLoad: { Threads_running: 8 } });
    const child = startCli(['run', file, '--json']);
    const result = finished(child);
    await waitFor(async () => (await count('h_load')) > 0, 60_000, 50);
    const before = await count('h_load');
    const busyUntil = Date.now() + 5000;
    const busy = await busySessions(5);
    await pauseBegins('h_load');
    const during = await samples('h_load', busyUntil - 300);
    await busy.done;
    const r = await result;
    const s = summary(r);
    expect(s.status, r.stderr).toBe('succeeded');
    console.log(`maxLoad: ${JSON.stringify(s)} before ${before} during ${during.join(' ')}`);
    expect(before).toBeLessThan(ROWS);
    expectPaused(during, CHUNK_ROWS, 2);
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0, error: null });
    expect(s.pausedMs as number).toBeGreaterThanOrEqual(2000);
    expect((s.pauseReasons as string[]).join(' ')).toMatch(/^Threads_running \d+ > 8$/);
    expect(r.stderr).toMatch(/paused: Threads_running \d+ > 8/);
    expect(await mysqlDigest(my, `SELECT id, name, num FROM ${DB}.h_load`)).toBe(expected);

    const status = await runCli(['status', String(s.runId), '--job', file, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ runId: s.runId, pausedMs: s.pausedMs });
  }, 120_000);

  it('criticalLoad: the run fails before its next chunk, naming the variable, its value and the limit', async () => {
    const file = await job('h_crit', { criticalLoad: { Threads_running: 8 } });
    const result = finished(startCli(['run', file, '--json']));
    await waitFor(async () => (await count('h_crit')) > 0, 60_000, 50);
    const busy = await busySessions(5);
    const r = await result;
    await busy.done;
    expect(r.code, r.stderr).toBe(1);
    const s = summary(r);
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/target\.health\.criticalLoad: Threads_running \d+ > 8/);
    expect(await count('h_crit')).toBeLessThan(ROWS);
  }, 120_000);

  it('lag: writes pause while the lag query reports 30 s, resume at 0, and nothing is lost across hand-backs', async () => {
    const health = { maxLagMillis: 1000, lagQuery: `SELECT lag_s FROM ${DB}.hb WHERE id = 1`, checkIntervalMs: 500 };
    const file = await job('h_lag', health);
    const check = await runCli(['check', file]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('health: lag 0 ms on the target (pauses above 1000 ms)');
    expect(check.stdout).toContain('health: verdict: ok, writes go ahead');

    // A consumer's time limit of 3 s: a 5 s pause outlasts it, so ranges are handed back with their checkpoints mid-pause.
    const result = finished(startCli(['run', file, '--json', '--range-time-limit', '3']));
    await waitFor(async () => (await count('h_lag')) > 0, 60_000, 50);
    await my.query(`UPDATE ${DB}.hb SET lag_s = 30 WHERE id = 1`);
    await pauseBegins('h_lag');
    const during = await samples('h_lag', Date.now() + 5000);
    await my.query(`UPDATE ${DB}.hb SET lag_s = 0 WHERE id = 1`);
    const r = await result;
    const s = summary(r);
    expect(s.status, r.stderr).toBe('succeeded');
    console.log(`lag: ${JSON.stringify(s)} during ${during.join(' ')}`);
    expectPaused(during, CHUNK_ROWS, 2);
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0, pauseReasons: ['lag 30000 ms > 1000 ms'] });
    expect(s.pausedMs as number).toBeGreaterThanOrEqual(4000);
    expect(await mysqlDigest(my, `SELECT id, name, num FROM ${DB}.h_lag`)).toBe(expected);
  }, 120_000);

  it('check shows each load signal next to its limits; an unknown variable is named', async () => {
    const file = await job('h_check', { maxLoad: { Threads_running: 25 }, criticalLoad: { Threads_running: 200, Threads_connected: 5000 } });
    const check = await runCli(['check', file]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/health: Threads_running \d+ \(pauses above 25, fails above 200\)/);
    expect(check.stdout).toMatch(/health: Threads_connected \d+ \(fails above 5000\)/);

    const bad = await job('h_bad', { maxLoad: { Threads_runing: 25 } });
    const run = await runCli(['check', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('target.health: Threads_runing is not a global status variable');
  }, 60_000);
});

/** A range message, and a fresh queue on a private emulator for `test`. */
const MESSAGE = { v: 2, job: 'j', runId: 'r', rangeId: 0, logicalTime: new Date(0).toISOString(), vars: {}, specHash: 'h' } as const;
async function withQueue(test: (client: SQSClient, queueUrl: string) => Promise<void>): Promise<void> {
  const server = await startFauxqs({ port: 0, logger: false });
  const client = await sqsClient(server.address);
  try {
    const { queueUrl } = await ensureQueues(client, `bs-health-${randomBytes(3).toString('hex')}`, { maxReceiveCount: 5, visibilitySeconds: 2 });
    await test(client, queueUrl);
  } finally {
    client.destroy();
    await server.stop();
  }
}

describe('a paused range keeps its SQS message', () => {
  it('extendVisibility keeps a received message invisible past its visibility timeout', () =>
    withQueue(async (client, queueUrl) => {
      const queue = new SqsQueue(client, queueUrl);
      await queue.send([MESSAGE]);
      const [received] = (await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 2 }))).Messages ?? [];
      await queue.extendVisibility(received.ReceiptHandle as string, 60);
      await new Promise((r) => setTimeout(r, 3000));
      // Without the extension it would be delivered again by now (its timeout was 2 s).
      const again = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
      expect(again.Messages ?? []).toEqual([]);
    }), 30_000);
});

describe('range messages on SQS', () => {
  it('one batch may carry a range twice (a delivery that overran its time and its hand-back)', () =>
    withQueue(async (client, queueUrl) => {
      await new SqsQueue(client, queueUrl).send([MESSAGE, MESSAGE]);
      const received = await new SqsPoller(client, queueUrl).receive(10, 30, 1);
      expect(received.map((m) => JSON.parse(m.body))).toEqual([MESSAGE, MESSAGE]);
    }), 30_000);
});
