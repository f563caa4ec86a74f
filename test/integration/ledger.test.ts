import { randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDbUrl } from '../../functions/adapters/connections.ts';
import { createMysqlPool } from '../../functions/adapters/mysql/connect.ts';
import { MysqlLedger } from '../../functions/adapters/mysql/ledger.ts';
import { ledgerDdl, ledgerTables } from '../../functions/adapters/mysql/sql.ts';
import { mysqlConnection } from '../helpers.ts';

/**
 * The ledger's tables on a real server: made on first use, upgraded from an
 * older shape keeping their runs, and used as they are (no DDL at all) when
 * already there, so a user without CREATE and ALTER can run jobs against a
 * ledger made for them. Each test has a database of its own.
 */

const SUFFIX = randomBytes(4).toString('hex');
const USER = `bs_ledger_${SUFFIX}`;
const databases: string[] = [];
let my: mysql.Connection;

beforeAll(async () => {
  my = await mysqlConnection();
});

afterAll(async () => {
  for (const db of databases) await my.query(`DROP DATABASE IF EXISTS ${db}`);
  await my.query(`DROP USER IF EXISTS '${USER}'@'%'`);
  await my.end();
});

async function database(name: string): Promise<string> {
  const db = `bs_ledger_${name}_${SUFFIX}`;
  databases.push(db);
  await my.query(`CREATE DATABASE ${db}`);
  return db;
}

/** Opens the ledger (prefix batchsync_) in `db` as `user`, runs `use` on it, and closes it. */
async function withLedger<T>(db: string, use: (ledger: MysqlLedger) => Promise<T>, user = 'root'): Promise<T> {
  const pool = createMysqlPool(parseDbUrl(`mysql://${user}@127.0.0.1:3306/${db}`, 'mysql', db), 2);
  try {
    return await use(new MysqlLedger(pool, ledgerTables({ prefix: 'batchsync_' }, db), 'test'));
  } finally {
    await pool.end();
  }
}

const run = (runId: string) => ({ runId, job: 'orders', logicalTime: new Date('2026-12-01T00:00:00Z'), vars: {}, attempt: 1, dataHash: '' });

async function columnsOf(db: string, table: string): Promise<string[]> {
  const [rows] = await my.query<mysql.RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY COLUMN_NAME',
    [db, table],
  );
  return rows.map((r) => r.name as string);
}

describe('the ledger tables', () => {
  it('are made on first use, with every column', async () => {
    const db = await database('fresh');
    await withLedger(db, async (ledger) => {
      await ledger.createRun(run('r1'));
      expect(await ledger.getRun('r1')).toMatchObject({ runId: 'r1', status: 'pending' });
    });
    expect(await columnsOf(db, 'batchsync_runs')).toContain('throttle_rows');
    expect(await columnsOf(db, 'batchsync_attempts')).toContain('heartbeat_at');
  });

  it('of an older shape are upgraded, their runs kept', async () => {
    const db = await database('older');
    const t = ledgerTables({ prefix: 'batchsync_' }, db);
    for (const { sql } of ledgerDdl(t)) await my.query(sql);
    // The shape before the throttle columns and the attempts' heartbeat.
    await my.query(`ALTER TABLE ${t.runs} DROP COLUMN throttle_rows, DROP COLUMN throttle_bytes`);
    await my.query(`ALTER TABLE ${t.attempts} DROP COLUMN heartbeat_at, DROP KEY open_attempts`);
    await my.query(`INSERT INTO ${t.runs} (run_id, job, logical_time, vars, vars_hash, status, created_at, updated_at)
                    VALUES ('old', 'orders', '2026-11-30', '{}', SHA1('{}'), 'succeeded', NOW(3), NOW(3))`);
    const before = await columnsOf(db, 'batchsync_runs');
    expect(before).not.toContain('throttle_rows');

    await withLedger(db, async (ledger) => expect(await ledger.getRun('old')).toMatchObject({ runId: 'old', status: 'succeeded' }));
    expect(await columnsOf(db, 'batchsync_runs')).toEqual([...before, 'throttle_bytes', 'throttle_rows'].sort());
    expect(await columnsOf(db, 'batchsync_attempts')).toContain('heartbeat_at');
  });

  it('already there are used by a user who may not create or alter tables', async () => {
    const db = await database('granted');
    await withLedger(db, (ledger) => ledger.getRun('none'));
    await my.query(`CREATE USER '${USER}'@'%'`);
    await my.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${db}.* TO '${USER}'@'%'`);
    await withLedger(
      db,
      async (ledger) => {
        await ledger.createRun(run('r2'));
        expect(await ledger.getRun('r2')).toMatchObject({ runId: 'r2' });
      },
      USER,
    );
  });
});
