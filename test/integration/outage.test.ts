import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, mysqlConnection, mysqlDigest, startCli, summary, tempDir, waitFor, writeJob } from '../helpers.ts';

/**
 * A database restart during a run costs retries, not the run. The target
 * and ledger live on a private MariaDB that this test starts, kills and
 * starts again; the source is a database of its own on the shared server.
 */

const SRC_DB = `bs_outage_${randomBytes(4).toString('hex')}`;
const ROWS = 20_000;
let shared: mysql.Connection;
let dataDir: string;
let port: number;
let server: ChildProcess | null = null;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as { port: number };
      probe.close(() => resolve(p));
    });
  });
}

async function startServer(): Promise<void> {
  const child = spawn(
    '/usr/sbin/mariadbd',
    ['--no-defaults', '--user=root', `--datadir=${dataDir}`, `--port=${port}`, `--socket=${join(dataDir, 's')}`, '--bind-address=127.0.0.1', '--skip-grant-tables', '--local-infile=1', '--innodb-buffer-pool-size=64M', '--skip-log-bin'],
    { stdio: 'ignore' },
  );
  server = child;
  await waitFor(async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
    await c.end();
    return true;
  }, 60_000, 200);
}

async function killServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  server = null;
}

beforeAll(async () => {
  shared = await mysqlConnection();
  await shared.query(`CREATE DATABASE ${SRC_DB}`);
  await shared.query(`CREATE TABLE ${SRC_DB}.src (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL, n BIGINT NULL)`);
  await shared.query(`INSERT INTO ${SRC_DB}.src SELECT seq, CONCAT('row ', seq, ' ', SHA1(seq)), IF(seq % 7 = 0, NULL, seq * 31) FROM seq_1_to_${ROWS}`);
  dataDir = await tempDir('batchsync-outage-');
  await promisify(execFile)('mariadb-install-db', ['--no-defaults', '--user=root', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal']);
  port = await freePort();
  await startServer();
}, 120_000);

afterAll(async () => {
  await killServer();
  await shared.query(`DROP DATABASE IF EXISTS ${SRC_DB}`);
  await shared.end();
});

describe('a target and ledger restart during a run', () => {
  it('killed 3 s into a throttled run and back 5 s later: the run completes, exactly', async () => {
    const admin = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
    await admin.query('CREATE DATABASE t');
    await admin.query('CREATE TABLE t.dst (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL, n BIGINT NULL)');
    await admin.end();
    const dir = await tempDir();
    const jobFile = await writeJob(dir, {
      name: 'outage',
      source: { type: 'mysql', connection: { url: `mysql://root@127.0.0.1:3306/${SRC_DB}` }, table: 'src' },
      target: { type: 'mysql', connection: { url: `mysql://root@127.0.0.1:${port}/t` }, table: 'dst' },
      // About 13 s of work at this rate: the outage falls in the middle.
      channel: { maxConcurrency: 2, rowsPerSecond: 1500 },
    });
    const run = startCli(['run', jobFile, '--json']);
    const result = finished(run);
    const target = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: 't' });
    // Some rows are in: the run is under way.
    await waitFor(async () => {
      const c = await target();
      try {
        const [[{ n }]] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM dst');
        return Number(n) > 0;
      } finally {
        await c.end();
      }
    }, 60_000, 100);
    await new Promise((r) => setTimeout(r, 3000));
    await killServer();
    await new Promise((r) => setTimeout(r, 5000));
    await startServer();
    const done = await result;
    const s = summary(done);
    expect(s, done.stderr).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0 });
    expect(done.code).toBe(0);
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: 't', typeCast: (field) => field.string() });
    try {
      expect(await mysqlDigest(c, 'SELECT id, v, n FROM dst')).toBe(await mysqlDigest(shared, `SELECT id, v, n FROM ${SRC_DB}.src`));
    } finally {
      await c.end();
    }
  }, 300_000);

  it('a target gone for good: the runner gives up after its retries and still prints the summary, failed with the reason', async () => {
    // A run that cannot finish: the server is killed and not started again until after the run gave up.
    const admin = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
    await admin.query('CREATE DATABASE IF NOT EXISTS t');
    await admin.query('CREATE TABLE t.gone (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL, n BIGINT NULL)');
    await admin.end();
    const dir = await tempDir();
    const jobFile = await writeJob(dir, {
      name: 'gone',
      source: { type: 'mysql', connection: { url: `mysql://root@127.0.0.1:3306/${SRC_DB}` }, table: 'src' },
      target: { type: 'mysql', connection: { url: `mysql://root@127.0.0.1:${port}/t` }, table: 'gone' },
      channel: { maxConcurrency: 1, rowsPerSecond: 500 },
    });
    const result = finished(startCli(['run', jobFile, '--json']));
    await waitFor(async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: 't' });
      try {
        const [[{ n }]] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM gone');
        return Number(n) > 0;
      } finally {
        await c.end();
      }
    }, 60_000, 100);
    await killServer();
    const done = await result;
    await startServer();
    const s = summary(done);
    expect(done.code).toBe(1);
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/^gave up waiting for the run: .*127\.0\.0\.1:\d+/);
  }, 300_000);
});
