/**
 * `npm run demo`: creates the demo table odps_result if missing and loads
 * examples/data/ into it with examples/write_result.json, printing the
 * run's summary. The MySQL server is $BATCHSYNC_MYSQL_URL, by default the
 * local one.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';

const url = process.env.BATCHSYNC_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const conn = await mysql.createConnection(url);
await conn.query(`CREATE TABLE IF NOT EXISTS odps_result (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  education VARCHAR(255) NOT NULL,
  num INT NULL
) DEFAULT CHARSET=utf8mb4`);
await conn.end();

const run = spawnSync(process.execPath, [here('../bin/batchsync.js'), 'run', here('write_result.json'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, BATCHSYNC_MYSQL_URL: url },
});
process.exit(run.status ?? 1);
