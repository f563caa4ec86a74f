/**
 * Connects as a deployed function does (a secret, resolveDb, createMysqlPool)
 * and prints the session's TLS cipher, or the error, as one JSON line. Run
 * in a child process: NODE_EXTRA_CA_CERTS is read only at process start.
 */
import { resolveDb } from '../../functions/adapters/connections.ts';
import { checkedQuery, createMysqlPool } from '../../functions/adapters/mysql/connect.ts';

const secret = JSON.parse(process.env.PROBE_SECRET as string);
const db = await resolveDb({ secretId: 'probe' }, 'mysql', 'target.connection', { env: {}, secrets: { read: async () => secret } });
const pool = createMysqlPool(db, 1);
try {
  const rows = await checkedQuery<Array<{ Value: string }>>(pool, db.label, 'connecting', "SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  process.stdout.write(`${JSON.stringify({ ssl: db.ssl, cipher: rows[0]?.Value ?? '' })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ssl: db.ssl, error: (error as Error).message, name: (error as Error).constructor.name })}\n`);
} finally {
  await pool.end();
}
