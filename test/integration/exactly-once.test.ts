import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpener } from '../../functions/adapters/open-job.ts';
import { createConsumerHandler } from '../../functions/consumer/consumer.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { planRun } from '../../functions/core/plan.ts';
import { noEvents, type RangeMessage } from '../../functions/core/ports.ts';
import { sleep } from '../../functions/core/stream.ts';
import { finished, MYSQL_URL, mysqlConnection, mysqlDigest, PG_URL, pgClient, pgDigest, startCli, summary, tempDir, waitFor, writeJob } from '../helpers.ts';

const ROWS = 200_000;
const COLUMNS = 'id, education, num';
const PREFIX = 'it_once_';

let my: mysql.Connection;
let pgc: pg.Client;
let expected: string;

beforeAll(async () => {
  my = await mysqlConnection();
  pgc = await pgClient();
  await pgc.query('DROP TABLE IF EXISTS it_once_src');
  await pgc.query('CREATE TABLE it_once_src (id bigint PRIMARY KEY, education text, num int)');
  await pgc.query(`INSERT INTO it_once_src SELECT g, 'education ' || (g % 97), g % 1000 FROM generate_series(1, $1) g`, [ROWS]);
  expected = await pgDigest(pgc, `SELECT ${COLUMNS} FROM it_once_src`);
});

afterAll(async () => {
  await my.end();
  await pgc.end();
});

async function freshTarget(name: string): Promise<void> {
  await my.query(`DROP TABLE IF EXISTS ${name}`);
  await my.query(`CREATE TABLE ${name} (id BIGINT NOT NULL PRIMARY KEY, education VARCHAR(255), num INT) DEFAULT CHARSET=utf8mb4`);
}

function job(name: string, extra: { batchRows?: number } = {}) {
  return {
    name,
    source: { type: 'postgres', connection: { url: PG_URL }, table: 'public.it_once_src' },
    target: { type: 'mysql', connection: { url: MYSQL_URL }, table: name, ledger: { prefix: PREFIX }, ...extra },
    channel: { maxConcurrency: 2 },
  };
}

describe('exactly once', () => {
  it('a consumer process killed with SIGKILL mid-range: the run completes and every row is there once', async () => {
    await freshTarget('it_once_crash');
    const dir = await tempDir();
    // Small chunks make each range many transactions long, so the kill lands inside one.
    const file = await writeJob(dir, job('it_once_crash', { batchRows: 250 }));
    const cli = startCli(['run', file, '--json', '--workers', '2', '--visibility-timeout', '2']);
    const done = finished(cli);

    const victim = await waitFor(async () => {
      const [rows] = await my.query<mysql.RowDataPacket[]>(
        `SELECT r.run_id, r.range_id, r.owner, r.rows_written FROM ${PREFIX}ranges r JOIN ${PREFIX}runs u ON u.run_id = r.run_id
          WHERE u.job = 'it_once_crash' AND r.status = 'running' AND r.rows_written BETWEEN 1 AND 10000 LIMIT 1`,
      );
      return rows[0] as { run_id: string; range_id: string; owner: string } | undefined;
    }, 60_000, 10);
    const [host, pid] = victim.owner.split(':');
    expect(host).toBe(hostname());
    expect(Number(pid)).not.toBe(cli.pid);
    process.kill(Number(pid), 'SIGKILL');

    const result = await done;
    const s = summary(result);
    expect(s.status, result.stderr).toBe('succeeded');
    expect(s).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS, dirtyRecords: 0 });
    expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_once_crash`)).toBe(expected);
    const [[range]] = (await my.query(`SELECT status, attempts, rows_written FROM ${PREFIX}ranges WHERE run_id = ? AND range_id = ?`, [
      victim.run_id,
      victim.range_id,
    ])) as unknown as [{ status: string; attempts: string; rows_written: string }[]];
    // The killed delivery committed some chunks; a second one resumed after its checkpoint.
    expect(range.status).toBe('done');
    expect(Number(range.attempts)).toBeGreaterThanOrEqual(2);
  });

  it('the same range message delivered twice, at once and again later: no duplicates', async () => {
    await freshTarget('it_once_dup');
    const spec = JobSpec.parse(job('it_once_dup', { batchRows: 2000 }));
    const opener = createOpener({ env: {}, poolSize: 8, loadData: true });
    try {
      const messages: RangeMessage[] = [];
      const planned = await planRun(
        { job: spec, logicalTime: new Date(), vars: {}, mode: 'trigger' },
        { open: opener.open, queue: { send: async (m) => void messages.push(...m) }, events: noEvents, newRunId: randomUUID },
      );
      expect(messages.length).toBeGreaterThanOrEqual(2);
      const handler = createConsumerHandler({
        open: opener.open,
        jobs: () => spec,
        forget: opener.forget,
        events: noEvents,
        owner: `test:${process.pid}`,
        now: Date.now,
        sleep,
        log: { info: () => {}, error: () => {} },
        requeue: async () => {
          throw new Error('no range is handed back without a deadline');
        },
      });
      const deliver = async (batch: RangeMessage[], receiveCount: number) => {
        const event: SQSEvent = {
          Records: batch.map((m) => ({
            messageId: randomUUID(),
            receiptHandle: 'r',
            body: JSON.stringify(m),
            attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 'test', ApproximateFirstReceiveTimestamp: '0' },
            messageAttributes: {},
            md5OfBody: '',
            eventSource: 'aws:sqs',
            eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:test',
            awsRegion: 'us-east-1',
          })),
        };
        const response = await handler(event, { getRemainingTimeInMillis: () => 600_000 } as never);
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        return event.Records.flatMap((r, i) => (failed.has(r.messageId) ? [batch[i]] : []));
      };

      // Every range twice in one batch: the two deliveries of a range race for its checkpoint.
      let pending = await deliver([...messages, ...messages], 1);
      for (let attempt = 2; pending.length && attempt < 5; attempt++) pending = await deliver(pending, attempt);
      expect(pending).toEqual([]);
      // And every range once more after the run succeeded: acknowledged, nothing written.
      expect(await deliver(messages, 1)).toEqual([]);

      const { ledger } = await opener.open(spec);
      const run = await ledger.getRun(planned.runId);
      expect(run).toMatchObject({ status: 'succeeded', rowsRead: ROWS, rowsWritten: ROWS });
      expect(await mysqlDigest(my, `SELECT ${COLUMNS} FROM it_once_dup`)).toBe(expected);
    } finally {
      await opener.close();
    }
  });
});
