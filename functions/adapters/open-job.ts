import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { withCredentialRefresh } from '../core/credentials.ts';
import type { Connection, JobSpec } from '../core/job-spec.ts';
import type { JobResources } from '../core/plan.ts';
import type { Ledger, Source } from '../core/ports.ts';
import { type DbConfig, resolveDb, type ResolveContext } from './connections.ts';
import { LocalStore } from './files/local-store.ts';
import { FilesSource } from './files/source.ts';
import { checkedQuery, createMysqlPool } from './mysql/connect.ts';
import { MysqlLedger } from './mysql/ledger.ts';
import { type LedgerTables, ledgerTables, tableName } from './mysql/sql.ts';
import { MysqlTarget } from './mysql/target.ts';
import { createPgPool, pgError, PostgresSource } from './postgres/source.ts';

export interface OpenerConfig extends ResolveContext {
  /** Connections per pool: the ranges one process works at once, plus the ledger's. */
  poolSize: number;
  /** Try LOAD DATA LOCAL INFILE first (it falls back by itself when the server has it off). */
  loadData: boolean;
}

export interface JobOpener {
  /** Source, target and ledger; nothing is written until they are used. */
  open(job: JobSpec): Promise<JobResources>;
  /** The ledger on a target server (created when missing). */
  openLedger(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<Ledger>;
  /** Drops cached pools, so the next open connects (and reads secrets) again. */
  forget(): Promise<void>;
  close(): Promise<void>;
}

interface Pooled<P> {
  pool: P;
  config: DbConfig;
}

/**
 * Builds a job's source, target and ledger from its connections. Pools are
 * made once per process per connection and kept across warm invocations; a
 * new pool is tried with a query first, and a refused login re-reads the
 * secret once (rotation).
 */
export function createOpener(config: OpenerConfig): JobOpener {
  const mysqlPools = new Map<string, Promise<Pooled<mysql.Pool>>>();
  const pgPools = new Map<string, Promise<Pooled<pg.Pool>>>();
  const ledgers = new Map<string, MysqlLedger>();

  function cached<P>(map: Map<string, Promise<Pooled<P>>>, conn: Connection, make: () => Promise<Pooled<P>>): Promise<Pooled<P>> {
    const key = JSON.stringify(conn);
    let entry = map.get(key);
    if (!entry) {
      entry = make();
      map.set(key, entry);
      entry.catch(() => map.delete(key));
    }
    return entry;
  }

  const mysqlFor = (conn: Connection, where: string) =>
    cached(mysqlPools, conn, () =>
      withCredentialRefresh(async (fresh) => {
        const db = await resolveDb(conn, 'mysql', where, config, fresh);
        const pool = createMysqlPool(db, config.poolSize);
        try {
          await checkedQuery(pool, db.label, 'connecting', 'SELECT 1');
        } catch (error) {
          await pool.end().catch(() => {});
          throw error;
        }
        return { pool, config: db };
      }),
    );

  const pgFor = (conn: Connection, where: string) =>
    cached(pgPools, conn, () =>
      withCredentialRefresh(async (fresh) => {
        const db = await resolveDb(conn, 'postgres', where, config, fresh);
        const pool = createPgPool(db, config.poolSize);
        try {
          await pool.query('SELECT 1');
        } catch (error) {
          await pool.end().catch(() => {});
          throw pgError(error, db.label, 'connecting');
        }
        return { pool, config: db };
      }),
    );

  async function sourceFor(job: JobSpec): Promise<Source> {
    const spec = job.source;
    if (spec.type === 'files') return new FilesSource(new LocalStore(spec.url), spec);
    if (spec.type === 'postgres') {
      const { pool, config: db } = await pgFor(spec.connection, 'source.connection');
      return new PostgresSource(pool, spec, db.label);
    }
    throw new Error(`source type ${spec.type} is not wired`);
  }

  async function targetFor(job: JobSpec) {
    const { pool, config: db } = await mysqlFor(job.target.connection, 'target.connection');
    const tables = ledgerTables(job.target.ledger, db.database);
    const target = new MysqlTarget(pool, {
      table: tableName(job.target.table, db.database),
      ledger: tables,
      writeMode: job.target.writeMode,
      loadMode: job.target.loadMode,
      preSql: job.target.preSql,
      postSql: job.target.postSql,
      dirtyRecordLimit: job.channel.dirtyRecordLimit,
      loadData: config.loadData,
      server: db.label,
    });
    return { target, pool, tables, server: db.label };
  }

  /** One ledger object per server and tables, so their creation is checked once per process. */
  function ledgerOn(pool: mysql.Pool, tables: LedgerTables, server: string): MysqlLedger {
    const key = `${server}|${tables.runs}`;
    let ledger = ledgers.get(key);
    if (!ledger) {
      ledger = new MysqlLedger(pool, tables, server);
      ledgers.set(key, ledger);
    }
    return ledger;
  }

  async function open(job: JobSpec): Promise<JobResources> {
    const [source, { target, pool, tables, server }] = await Promise.all([sourceFor(job), targetFor(job)]);
    return { source, target, ledger: ledgerOn(pool, tables, server) };
  }

  async function openLedger(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<Ledger> {
    const { pool, config: db } = await mysqlFor(target.connection, 'target.connection');
    return ledgerOn(pool, ledgerTables(target.ledger, db.database), db.label);
  }

  async function forget(): Promise<void> {
    const all = [...mysqlPools.values(), ...pgPools.values()];
    mysqlPools.clear();
    pgPools.clear();
    ledgers.clear();
    await Promise.all(all.map((p) => p.then((x) => x.pool.end()).catch(() => {})));
  }

  return { open, openLedger, forget, close: forget };
}
