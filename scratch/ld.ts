import mysql from 'mysql2/promise';
import { Readable } from 'node:stream';
const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
await c.query('drop table if exists scratch_ld');
await c.query('create table scratch_ld like scratch_dst');
const lines: string[] = [];
for (let g = 1; g <= 200000; g++) lines.push(`${g}\tedu ${g % 97}\t${g % 1000}\t${((g % 100000) / 100).toFixed(2)}\t2024-01-0${1 + Math.floor(g / 86400)} 00:00:00`);
const data = Buffer.from(lines.join('\n') + '\n');
for (const chunk of [200000, 10000]) {
  await c.query('truncate scratch_ld');
  const t = Date.now();
  for (let i = 0; i < 200000; i += chunk) {
    const part = Buffer.from(lines.slice(i, i + chunk).join('\n') + '\n');
    await c.query('begin');
    await c.query({ sql: "LOAD DATA LOCAL INFILE 'x' INTO TABLE scratch_ld FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'", infileStreamFactory: () => Readable.from([part]) });
    await c.query('commit');
  }
  console.log('chunk', chunk, 'ms', Date.now() - t, 'rows/s', Math.round(200000 / ((Date.now() - t) / 1000)));
}
await c.end();
