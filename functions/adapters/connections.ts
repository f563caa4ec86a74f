import { z } from 'zod';
import { ConnectionError, JobError } from '../core/errors.ts';
import type { Connection } from '../core/job-spec.ts';
import { registerSecret } from '../core/redact.ts';

/**
 * Turns a job's connection (url, urlFromEnv or secretId) into what a driver
 * needs. The label names the server for messages and never holds a password.
 */

export type Engine = 'mysql' | 'postgres';

export interface DbConfig {
  engine: Engine;
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** off; on, verifying the server's certificate; or on without verifying it (sslmode=no-verify). */
  ssl: 'off' | 'verify' | 'no-verify';
  /** e.g. mysql://root@127.0.0.1:3306/test — safe to print. */
  label: string;
}

/** The secret's JSON as RDS writes it. */
export const RdsSecret = z.object({
  host: z.string(),
  port: z.union([z.number(), z.string()]).optional(),
  username: z.string(),
  password: z.string(),
  dbname: z.string().optional(),
  engine: z.string().optional(),
  /**
   * Not part of RDS's shape. TLS with certificate verification is the
   * default for every secret connection (MySQL and PostgreSQL; the RDS CA
   * bundle is loaded through NODE_EXTRA_CA_CERTS); `false` turns TLS off.
   */
  ssl: z.boolean().optional(),
});
export type RdsSecret = z.infer<typeof RdsSecret>;

export interface SecretReader {
  /** The secret's JSON; `fresh` skips any cache (after a refused login). */
  read(secretId: string, fresh: boolean): Promise<RdsSecret>;
  /** The secret's JSON in any shape (S3 keys, say); `fresh` as for read. */
  readJson?(secretId: string, fresh: boolean): Promise<unknown>;
}

const DEFAULT_PORT: Record<Engine, number> = { mysql: 3306, postgres: 5432 };
const PROTOCOLS: Record<string, Engine> = { 'mysql:': 'mysql', 'mariadb:': 'mysql', 'postgres:': 'postgres', 'postgresql:': 'postgres' };

function label(c: Omit<DbConfig, 'label'>): string {
  return `${c.engine}://${encodeURIComponent(c.user)}@${c.host}:${c.port}/${c.database}`;
}

/** Parses a connection URL; `where` names the job field in errors. */
export function parseDbUrl(text: string, engine: Engine, where: string): DbConfig {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new JobError(`${where}: not a valid URL`);
  }
  if (PROTOCOLS[url.protocol] !== engine) throw new JobError(`${where}: expected a ${engine}:// URL, got ${url.protocol}//`);
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  registerSecret(password);
  const ssl = (url.searchParams.get('ssl') ?? url.searchParams.get('sslmode'))?.toLowerCase();
  const config: Omit<DbConfig, 'label'> = {
    engine,
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port ? Number(url.port) : DEFAULT_PORT[engine],
    user: decodeURIComponent(url.username) || (engine === 'mysql' ? 'root' : 'postgres'),
    password,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    ssl: ssl === undefined || ['false', 'disable', '0'].includes(ssl) ? 'off' : ssl === 'no-verify' ? 'no-verify' : 'verify',
  };
  if (!config.database) throw new JobError(`${where}: the URL names no database (…/dbname)`);
  return { ...config, label: label(config) };
}

/** What both drivers take to connect: the server, the credentials, and TLS. */
export function driverOptions(config: DbConfig) {
  const { host, port, user, password, database } = config;
  return { host, port, user, password, database, ssl: config.ssl === 'off' ? undefined : { rejectUnauthorized: config.ssl === 'verify' } };
}

export interface ResolveContext {
  env: Record<string, string | undefined>;
  secrets?: SecretReader;
}

/** Resolves a job connection to a DbConfig; `fresh` re-reads a secret. */
export async function resolveDb(conn: Connection, engine: Engine, where: string, ctx: ResolveContext, fresh = false): Promise<DbConfig> {
  if (conn.url !== undefined) return parseDbUrl(conn.url, engine, `${where}.url`);
  if (conn.urlFromEnv !== undefined) {
    const value = ctx.env[conn.urlFromEnv];
    if (!value) throw new JobError(`${where}.urlFromEnv: environment variable ${conn.urlFromEnv} is not set`);
    return parseDbUrl(value, engine, `${where}.urlFromEnv (${conn.urlFromEnv})`);
  }
  const secretId = conn.secretId as string;
  if (!ctx.secrets) throw new ConnectionError(`${where}.secretId: Secrets Manager is not configured here`);
  const secret = await ctx.secrets.read(secretId, fresh);
  registerSecret(secret.password);
  const config: Omit<DbConfig, 'label'> = {
    engine,
    host: secret.host,
    port: secret.port ? Number(secret.port) : DEFAULT_PORT[engine],
    user: secret.username,
    password: secret.password,
    database: secret.dbname ?? '',
    ssl: secret.ssl === false ? 'off' : 'verify',
  };
  if (!config.database) throw new JobError(`${where}.secretId: secret ${secretId} has no dbname`);
  return { ...config, label: label(config) };
}
