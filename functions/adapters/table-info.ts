import type { DbConfig } from './connections.ts';
import { checkedQuery, createMysqlPool } from './mysql/connect.ts';
import { INDEXES } from './mysql/source-sql.ts';
import { tableName } from './mysql/sql.ts';
import { createPgPool, pgError } from './postgres/source.ts';
import { PRIMARY_KEY, qualified } from './postgres/sql.ts';

/**
 * What `batchsync init` asks of a database before a job exists: a table's
 * primary key, and whether a target table is there. One short connection each.
 */

/** The primary key's columns in key order; empty when the table has none. */
export async function primaryKeyOf(db: DbConfig, table: string): Promise<string[]> {
  if (db.engine === 'postgres') {
    const pool = createPgPool(db, 1);
    try {
      const result = await pool.query<{ name: string }>(PRIMARY_KEY, [qualified(table)]);
      return result.rows.map((r) => r.name);
    } catch (error) {
      throw pgError(error, db.label, 'finding the primary key');
    } finally {
      await pool.end();
    }
  }
  const pool = createMysqlPool(db, 1);
  try {
    const name = tableName(table, db.database);
    const rows = await checkedQuery<Array<{ indexName: string; name: string }>>(pool, db.label, 'finding the primary key', INDEXES, [name.database, name.table]);
    return rows.filter((r) => r.indexName === 'PRIMARY').map((r) => r.name);
  } finally {
    await pool.end();
  }
}

/** Whether a MySQL table exists (by its exact name). */
export async function mysqlTableExists(db: DbConfig, table: string): Promise<boolean> {
  const pool = createMysqlPool(db, 1);
  try {
    const name = tableName(table, db.database);
    const rows = await checkedQuery<unknown[]>(pool, db.label, 'looking for the target table', 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
      name.database,
      name.table,
    ]);
    return rows.length > 0;
  } finally {
    await pool.end();
  }
}
