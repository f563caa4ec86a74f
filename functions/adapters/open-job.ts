import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { withCredentialRefresh } from '../core/credentials.ts';
import { ConnectionError, UnreachableError } from '../core/errors.ts';
import type { Connection, JobSpec, SqlSource } from '../core/job-spec.ts';
import type { JobResources } from '../core/plan.ts';
import type { HealthResources, HealthStore } from '../core/health.ts';
import type { Ledger, Source } from '../core/ports.ts';
import { type DbConfig, type Engine, resolveDb, type ResolveContext } from './connections.ts';
import { LocalStore } from './files/local-store.ts';
import type { S3Clients, S3Options } from './files/s3-store.ts';
import { checkedQuery, createMysqlPool } from './mysql/connect.ts';
import { healthTables, MysqlHealthProbe, MysqlHealthStore } from './mysql/health.ts';
import { MysqlLedger } from './mysql/ledger.ts';
import { MysqlSource } from './mysql/source.ts';
import { emptyInsertSql, type LedgerTables, ledgerTables, tableName } from './mysql/sql.ts';
import { MysqlTarget } from './mysql/target.ts';

// pg is loaded by the first job that reads from PostgreSQL: a command or function that never does starts without it.
const postgres = () => import('./postgres/source.ts');
// Likewise the files source (with its Parquet reader) and the S3 client: a database-to-database job never loads them.
const files = () => import('./files/source.ts');
const s3Store = () => import('./files/s3-store.ts');

export interface OpenerConfig extends ResolveContext {
  /** Connections per pool: the ranges one process works at once, plus the ledger's. */
  poolSize: number;
  /** Try LOAD DATA LOCAL INFILE first (it falls back by itself when the server has it off). */
  loadData: boolean;
  /** How to reach S3 for s3:// sources; default: from `env` (AWS_ENDPOINT_URL_S3, AWS_REGION...). */
  s3?: S3Options;
}

export interface JobOpener {
  /** Source, target and ledger; nothing is written until they are used. */
  open(job: JobSpec): Promise<JobResources>;
  /** Fails, with the database's reason, when the job's target user may not insert into the mapped columns; writes nothing. */
  checkWrite(job: JobSpec, columns: readonly string[]): Promise<void>;
  /** The ledger on a target server (created when missing). */
  openLedger(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<Ledger>;
  /** The health store next to that ledger (paused time of runs), created when missing. */
  openHealthStore(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<HealthStore>;
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
  let s3: Promise<S3Clients> | null = null;
  const s3Clients = () =>
    (s3 ??= s3Store().then(({ S3Clients, s3OptionsFromEnv }) => new S3Clients(config.s3 ?? s3OptionsFromEnv(config.env), { env: config.env, readSecret: config.secrets?.readJson?.bind(config.secrets) })));
  const healthStores = new Map<string, MysqlHealthStore>();

  /** A pool per connection, made once: tried with a query first, the secret re-read once if the login is refused. */
  function pooled<P extends { end(): Promise<void> }>(
    pools: Map<string, Promise<Pooled<P>>>,
    conn: Connection,
    engine: Engine,
    where: string,
    create: (db: DbConfig) => P,
    probe: (pool: P, db: DbConfig) => Promise<unknown>,
  ): Promise<Pooled<P>> {
    const key = JSON.stringify(conn);
    let entry = pools.get(key);
    if (!entry) {
      entry = withCredentialRefresh(async (fresh) => {
        const db = await resolveDb(conn, engine, where, config, fresh);
        const pool = create(db);
        try {
          await probe(pool, db);
        } catch (error) {
          await pool.end().catch(() => {});
          throw error;
        }
        return { pool, config: db };
      });
      pools.set(key, entry);
      entry.catch(() => pools.delete(key));
    }
    return entry;
  }

  const mysqlFor = (conn: Connection, where: string) =>
    pooled(mysqlPools, conn, 'mysql', where, (db) => createMysqlPool(db, config.poolSize), (pool, db) => checkedQuery(pool, db.label, 'connecting', 'SELECT 1'));

  const pgFor = async (conn: Connection, where: string) => {
    const { createPgPool, pgError } = await postgres();
    return pooled(pgPools, conn, 'postgres', where, (db) => createPgPool(db, config.poolSize), (pool, db) =>
      pool.query('SELECT 1').catch((error) => {
        throw pgError(error, db.label, 'connecting');
      }),
    );
  };

  /**
   * The pool every source read goes to: the replica when the job names one.
   * An unreachable replica fails clearly, or, with `replicaFallback`, the
   * primary is read instead; the primary is not even connected otherwise.
   */
  async function readPool<P>(spec: SqlSource, open: (conn: Connection, where: string) => Promise<Pooled<P>>): Promise<Pooled<P>> {
    if (!spec.replica) return open(spec.connection, 'source.connection');
    try {
      return await open(spec.replica, 'source.replica');
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
      if (error instanceof UnreachableError && spec.replicaFallback) return open(spec.connection, 'source.connection');
      const hint = error instanceof UnreachableError ? '; set "replicaFallback": true to read from the primary when the replica is down' : '';
      const Kind = error.constructor as typeof ConnectionError;
      throw new Kind(`source.replica: ${error.message}${hint}`, { cause: error });
    }
  }

  async function sourceFor(job: JobSpec): Promise<Source> {
    const spec = job.source;
    if (spec.type === 'files') {
      const { FilesSource } = await files();
      if (spec.url.startsWith('file://')) return new FilesSource(new LocalStore(spec.url), spec);
      const [{ S3Store }, clients] = await Promise.all([s3Store(), s3Clients()]);
      return new FilesSource(new S3Store(await clients.clientFor(spec), spec.url), spec);
    }
    if (spec.type === 'postgres') {
      const [{ PostgresSource }, { pool, config: db }] = await Promise.all([postgres(), readPool(spec, pgFor)]);
      return new PostgresSource(pool, spec, db.label);
    }
    const { pool, config: db } = await readPool(spec, mysqlFor);
    return new MysqlSource(pool, spec, db.database, db.label);
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
      dirtyRecordsStored: job.channel.dirtyRecordsStored,
      loadData: config.loadData,
      server: db.label,
    });
    return { target, pool, tables, server: db.label };
  }

  /** One ledger object per server and tables, so their creation is checked once per process. */
  function ledgerOn(pool: mysql.Pool, tables: LedgerTables, server: string): MysqlLedger {
    return made(ledgers, `${server}|${tables.runs}`, () => new MysqlLedger(pool, tables, server));
  }

  /** One health store per server and tables, like the ledger, so its tables are created once per process. */
  function healthStoreOn(pool: mysql.Pool, tables: LedgerTables, server: string): MysqlHealthStore {
    const t = healthTables(tables.database, tables.prefix);
    return made(healthStores, `${server}|${t.checks}`, () => new MysqlHealthStore(pool, t, server));
  }

  /** The target's health check: the shared store, and a probe of the target and its replicas (connected when first read). */
  function healthFor(job: JobSpec, pool: mysql.Pool, tables: LedgerTables, server: string): HealthResources | undefined {
    const spec = job.target.health;
    if (!spec) return undefined;
    const replicas = (spec.replicas ?? []).map((conn, i) => async () => {
      const replica = await mysqlFor(conn, `target.health.replicas[${i}]`);
      return { pool: replica.pool, server: replica.config.label };
    });
    return { store: healthStoreOn(pool, tables, server), probe: new MysqlHealthProbe({ pool, server }, replicas) };
  }

  async function open(job: JobSpec): Promise<JobResources> {
    const [source, { target, pool, tables, server }] = await Promise.all([sourceFor(job), targetFor(job)]);
    const health = healthFor(job, pool, tables, server);
    return { source, target, ledger: ledgerOn(pool, tables, server), ...(health && { health }) };
  }

  async function openHealthStore(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<HealthStore> {
    const { pool, config: db } = await mysqlFor(target.connection, 'target.connection');
    return healthStoreOn(pool, ledgerTables(target.ledger, db.database), db.label);
  }

  async function openLedger(target: Pick<JobSpec['target'], 'connection' | 'ledger'>): Promise<Ledger> {
    const { pool, config: db } = await mysqlFor(target.connection, 'target.connection');
    return ledgerOn(pool, ledgerTables(target.ledger, db.database), db.label);
  }

  async function checkWrite(job: JobSpec, columns: readonly string[]): Promise<void> {
    const { pool, config: db } = await mysqlFor(job.target.connection, 'target.connection');
    await checkedQuery(pool, db.label, 'checking the insert privilege', emptyInsertSql(tableName(job.target.table, db.database).sql, columns));
  }

  async function forget(): Promise<void> {
    const all = [...mysqlPools.values(), ...pgPools.values()];
    mysqlPools.clear();
    pgPools.clear();
    ledgers.clear();
    void s3?.then((clients) => clients.destroy(), () => {});
    s3 = null;
    healthStores.clear();
    await Promise.all(all.map((p) => p.then((x) => x.pool.end()).catch(() => {})));
  }

  async function close(): Promise<void> {
    await forget();
  }

  return { open, openLedger, openHealthStore, checkWrite, forget, close };
}

/** The value kept under `key`, made on first use. */
function made<V>(kept: Map<string, V>, key: string, make: () => V): V {
  let value = kept.get(key);
  if (value === undefined) {
    value = make();
    kept.set(key, value);
  }
  return value;
}
