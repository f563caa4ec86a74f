import type mysql from 'mysql2/promise';
import { isRetryable, JobError } from '../../core/errors.ts';
import type { Assessment, HealthProbe, HealthReading, HealthSignals, HealthStore, PauseTotals, Verdict } from '../../core/health.ts';
import type { Health } from '../../core/job-spec.ts';
import { checkedQuery } from './connect.ts';
import { quoteId } from './sql.ts';

/** The health tables, next to the ledger's (same database and prefix), kept apart from it. */
export interface HealthTables {
  /** One row per job: who claimed its check last, and what that check found. */
  checks: string;
  /** One row per run that paused: its paused time and why. */
  pauses: string;
}

export function healthTables(database: string, prefix: string): HealthTables {
  const t = (name: string) => `${quoteId(database)}.${quoteId(prefix + name)}`;
  return { checks: t('health'), pauses: t('health_pauses') };
}

function healthDdl(t: HealthTables): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.checks} (
      job VARCHAR(64) NOT NULL PRIMARY KEY,
      claimed_at DATETIME(3) NOT NULL,
      checked_at DATETIME(3) NULL,
      signals TEXT NULL,
      verdict VARCHAR(16) NULL,
      reasons TEXT NULL
    ) DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE IF NOT EXISTS ${t.pauses} (
      run_id VARCHAR(40) NOT NULL PRIMARY KEY,
      paused_ms BIGINT NOT NULL DEFAULT 0,
      paused_since DATETIME(3) NULL,
      reasons TEXT NULL,
      updated_at DATETIME(3) NOT NULL
    ) DEFAULT CHARSET=utf8mb4`,
  ];
}

type Db = Record<string, string | number | null>;

/**
 * The job's shared health check in the ledger database. The check of an
 * interval is claimed with a conditional UPDATE on the job's row, so of N
 * consumers one measures and the others read its verdict; times are the
 * server's (NOW(3)), one clock for all consumers.
 */
export class MysqlHealthStore implements HealthStore {
  private ready: Promise<void> | null = null;
  private readonly known = new Set<string>();

  constructor(
    private readonly pool: mysql.Pool,
    private readonly t: HealthTables,
    private readonly server: string,
  ) {}

  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      for (const ddl of healthDdl(this.t)) await checkedQuery(this.pool, this.server, 'creating the health tables', ddl);
    })().catch((error) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  private async query<T>(sql: string, values: unknown[]): Promise<T> {
    await this.ensure();
    return checkedQuery<T>(this.pool, this.server, 'checking the target health', sql, values);
  }

  async claim(job: string, intervalMs: number): Promise<boolean> {
    if (!this.known.has(job)) {
      // A row to claim on; its first claim is due at once.
      await this.query(`INSERT IGNORE INTO ${this.t.checks} (job, claimed_at) VALUES (?, '2000-01-01')`, [job]);
      this.known.add(job);
    }
    const result = await this.query<{ affectedRows: number }>(
      `UPDATE ${this.t.checks} SET claimed_at = NOW(3) WHERE job = ? AND claimed_at <= NOW(3) - INTERVAL ? MICROSECOND`,
      [job, Math.trunc(intervalMs) * 1000],
    );
    return result.affectedRows === 1;
  }

  async save(job: string, reading: Assessment & { signals: HealthSignals }): Promise<void> {
    await this.query(`UPDATE ${this.t.checks} SET checked_at = NOW(3), signals = ?, verdict = ?, reasons = ? WHERE job = ?`, [
      JSON.stringify(reading.signals),
      reading.verdict,
      JSON.stringify(reading.reasons),
      job,
    ]);
  }

  async latest(job: string): Promise<HealthReading | null> {
    const rows = await this.query<Db[]>(
      `SELECT signals, verdict, reasons, TIMESTAMPDIFF(MICROSECOND, checked_at, NOW(3)) AS age_us FROM ${this.t.checks} WHERE job = ? AND checked_at IS NOT NULL`,
      [job],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return {
      signals: JSON.parse(String(r.signals)) as HealthSignals,
      verdict: String(r.verdict) as Verdict,
      reasons: JSON.parse(String(r.reasons)) as string[],
      ageMs: Number(r.age_us) / 1000,
    };
  }

  async pausing(runId: string, reasons: string[]): Promise<void> {
    await this.query(
      `INSERT INTO ${this.t.pauses} (run_id, paused_since, reasons, updated_at) VALUES (?, NOW(3), ?, NOW(3))
       ON DUPLICATE KEY UPDATE paused_since = COALESCE(paused_since, NOW(3)), reasons = VALUES(reasons), updated_at = NOW(3)`,
      [runId, JSON.stringify(reasons)],
    );
  }

  async resumed(runId: string): Promise<void> {
    // Of the consumers that see the pause end, the first adds it; the others find the clock stopped.
    await this.query(
      `UPDATE ${this.t.pauses} SET paused_ms = paused_ms + TIMESTAMPDIFF(MICROSECOND, paused_since, NOW(3)) DIV 1000, paused_since = NULL, updated_at = NOW(3)
        WHERE run_id = ? AND paused_since IS NOT NULL`,
      [runId],
    );
  }

  async pauses(runId: string): Promise<PauseTotals> {
    const rows = await this.query<Db[]>(
      `SELECT paused_ms + IF(paused_since IS NULL, 0, TIMESTAMPDIFF(MICROSECOND, paused_since, NOW(3)) DIV 1000) AS ms,
              paused_since IS NOT NULL AS now_paused, reasons
         FROM ${this.t.pauses} WHERE run_id = ?`,
      [runId],
    );
    if (!rows.length) return { pausedMs: 0, reasons: [], pausedNow: false };
    return { pausedMs: Number(rows[0].ms), reasons: JSON.parse(String(rows[0].reasons ?? '[]')) as string[], pausedNow: Number(rows[0].now_paused) === 1 };
  }
}

/** A server to read signals from: its pool and its name for messages. */
export interface HealthServer {
  pool: mysql.Pool;
  server: string;
}

/** The lag a lagQuery's first row gives, in seconds: Seconds_Behind_Master/Source when SHOW REPLICA STATUS is used, else the first column. */
function lagSeconds(rows: Db[]): number | null | undefined {
  if (!rows.length) return undefined;
  const row = rows[0];
  const key = Object.keys(row).find((k) => /^seconds_behind_(master|source)$/i.test(k)) ?? Object.keys(row)[0];
  const value = row[key];
  return value === null ? null : Number(value);
}

/**
 * Reads a job's signals: the named global status variables on the target,
 * and the lag query on each replica (the target when none are named).
 * A replica that cannot be reached, or reports no lag (replication stopped),
 * makes the lag unknown, which pauses; a wrong query fails the run.
 */
export class MysqlHealthProbe implements HealthProbe {
  constructor(
    private readonly target: HealthServer,
    /** The replicas, opened on first use; empty: lag is read on the target. */
    private readonly replicas: Array<() => Promise<HealthServer>>,
  ) {}

  async measure(spec: Health): Promise<HealthSignals> {
    const signals: HealthSignals = { load: await this.load(spec) };
    if (spec.lagQuery === undefined) return signals;
    const servers = this.replicas.length ? this.replicas : [async () => this.target];
    let worst = 0;
    for (const [i, open] of servers.entries()) {
      const where = this.replicas.length ? `replicas[${i}]` : 'the target';
      let rows: Db[];
      try {
        const { pool, server } = await open();
        rows = await checkedQuery<Db[]>(pool, server, 'running target.health.lagQuery', spec.lagQuery);
      } catch (error) {
        // A replica that is down or busy is lag we cannot see (pause); a wrong query or login is the job's to fix (fail).
        if (isRetryable(error)) {
          return { ...signals, lagUnknown: `${where}: ${(error as Error).message}` };
        }
        throw error;
      }
      const seconds = lagSeconds(rows);
      if (seconds === undefined) throw new JobError(`target.health.lagQuery returned no row on ${where}`);
      if (seconds === null) return { ...signals, lagUnknown: `${where} reports no lag (NULL: replication stopped?)` };
      if (!Number.isFinite(seconds)) throw new JobError(`target.health.lagQuery returned a value that is not a number on ${where}`);
      worst = Math.max(worst, seconds);
    }
    return { ...signals, lagMillis: Math.round(worst * 1000) };
  }

  private async load(spec: Health): Promise<Record<string, number>> {
    const names = [...new Set([...Object.keys(spec.maxLoad), ...Object.keys(spec.criticalLoad)])];
    if (!names.length) return {};
    const rows = await checkedQuery<Array<{ Variable_name: string; Value: string }>>(
      this.target.pool,
      this.target.server,
      'reading global status for target.health',
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map(() => '?').join(', ')})`,
      names,
    );
    const byName = new Map(rows.map((r) => [r.Variable_name.toLowerCase(), r.Value]));
    const load: Record<string, number> = {};
    for (const name of names) {
      const text = byName.get(name.toLowerCase());
      if (text === undefined) throw new JobError(`target.health: ${name} is not a global status variable of ${this.target.server}`);
      const value = Number(text);
      if (!Number.isFinite(value)) throw new JobError(`target.health: ${name} is not a number on ${this.target.server} (${text})`);
      load[name] = value;
    }
    return load;
  }
}
