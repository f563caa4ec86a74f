import mysql from 'mysql2/promise';
import { AuthError, BatchsyncError, ConnectionError, JobError, RetryableError, StatementError, UnreachableError } from '../../core/errors.ts';
import { type DbConfig, driverOptions } from '../connections.ts';

/** Errors of a row the database rejects (the row is dirty, the batch is fine). */
export const ROW_ERRORS = new Set([
  'ER_DUP_ENTRY',
  'ER_NO_REFERENCED_ROW',
  'ER_NO_REFERENCED_ROW_2',
  'ER_BAD_NULL_ERROR',
  'ER_DATA_TOO_LONG',
  'ER_WARN_DATA_OUT_OF_RANGE',
  'ER_TRUNCATED_WRONG_VALUE',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'WARN_DATA_TRUNCATED',
  'ER_SIGNAL_EXCEPTION',
  'ER_CHECK_CONSTRAINT_VIOLATED',
  'ER_CONSTRAINT_FAILED',
  'ER_INVALID_JSON_TEXT',
  'ER_DIVISION_BY_ZERO',
  'ER_NO_DEFAULT_FOR_FIELD',
  'ER_WARN_NULL_TO_NOTNULL',
  'ER_ROW_IS_REFERENCED',
  'ER_ROW_IS_REFERENCED_2',
  'ER_DATA_OUT_OF_RANGE',
  'ER_INVALID_CHARACTER_STRING',
]);
// MariaDB's CHECK failure (4025) and MySQL's (3819) by number, as mysql2 may not name them.
const ROW_ERRNOS = new Set([4025, 3819, 1062, 1452, 1048, 1406, 1264, 1292, 1366, 1265, 1644, 3140]);

const RETRYABLE = new Set([
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_NET_READ_ERROR',
  'ER_NET_ERROR_ON_WRITE',
  'ER_LOCK_ABORTED',
  'ECONNABORTED',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);
/** The server's certificate could not be verified, or the server has no TLS (the Node.js and mysql2 codes). */
const TLS_ERRORS = new Set([
  'HANDSHAKE_NO_SSL_SUPPORT',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENETUNREACH']);

interface DriverError {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  fatal?: boolean;
  message?: string;
}

/**
 * SQLSTATE classes about one row's values: 22 data exception (too long, out
 * of range, incorrect value), 23 integrity constraint (duplicate key, foreign
 * key, NOT NULL, CHECK), 45 a trigger's own SIGNAL, whatever MYSQL_ERRNO it sets.
 */
const ROW_SQLSTATE = /^(22|23|45)/;

export function isRowError(error: unknown): boolean {
  const e = error as DriverError;
  if (e.code !== undefined && ROW_ERRORS.has(e.code)) return true;
  if (e.errno !== undefined && ROW_ERRNOS.has(e.errno)) return true;
  return e.sqlState !== undefined && ROW_SQLSTATE.test(e.sqlState);
}

/** The database's own words for an error. */
export function driverMessage(error: unknown): string {
  const e = error as DriverError;
  return e.sqlMessage ?? e.message ?? String(error);
}

/** A driver error as one of ours, its message naming the server and what was being done. */
export function mysqlError(error: unknown, server: string, doing: string): BatchsyncError {
  if (error instanceof BatchsyncError) return error;
  const e = error as DriverError;
  const code = e.code ?? '';
  const text = `${doing} on ${server}: ${driverMessage(error)}`;
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') {
    return new AuthError(`cannot log in to ${server}: ${driverMessage(error)}`, { cause: error });
  }
  if (TLS_ERRORS.has(code) || /certificate/i.test(e.message ?? '')) {
    return new ConnectionError(`cannot open a verified TLS connection to ${server}: ${driverMessage(error)} (TLS is the default for a secret's connection; the CA bundle comes from NODE_EXTRA_CA_CERTS; "ssl": false in the secret turns TLS off)`, { cause: error });
  }
  if (UNREACHABLE.has(code)) return new UnreachableError(`cannot reach ${server} (${code})`, { cause: error });
  if (code === 'ER_BAD_DB_ERROR') return new ConnectionError(`${server}: ${driverMessage(error)}`, { cause: error });
  if (code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_FIELD_ERROR') return new JobError(text, { cause: error });
  // A fatal driver error leaves the connection dead (the server went away mid-query): a new connection may work.
  if (RETRYABLE.has(code) || (e.fatal && !code.startsWith('ER_'))) return new RetryableError(text, { cause: error });
  return new StatementError(text, { cause: error });
}

/** Session settings every batchsync connection uses: UTC, strict, utf8mb4. */
const SESSION_SQL =
  "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', NAMES utf8mb4";

/** A pool for one server; each new connection gets the session settings. */
export function createMysqlPool(config: DbConfig, connectionLimit: number): mysql.Pool {
  const pool = mysql.createPool({
    ...driverOptions(config),
    connectionLimit,
    connectTimeout: 10_000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    timezone: 'Z',
    charset: 'UTF8MB4_UNICODE_CI',
  });
  pool.pool.on('connection', (conn) => conn.query(SESSION_SQL));
  return pool;
}

/** Runs one query, mapping driver errors (connection refused, access denied...) to ours. */
export async function checkedQuery<T = unknown>(pool: mysql.Pool | mysql.PoolConnection, server: string, doing: string, sql: string, values?: unknown[]): Promise<T> {
  try {
    const [rows] = await pool.query(sql, values);
    return rows as T;
  } catch (error) {
    throw mysqlError(error, server, doing);
  }
}
