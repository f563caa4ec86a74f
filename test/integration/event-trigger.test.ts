import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startFauxqs } from 'fauxqs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../functions/adapters/files/s3-store.ts';
import { Digest, mysqlConnection, mysqlDigest, runCli, summary, tempDir, writeJob } from '../helpers.ts';

/**
 * The tutorial's workflow, locally: the upstream (a Glue job standing in for
 * MaxCompute's insert_data) has unloaded result_table as Parquet under
 * dt=${bizdate}/ on an S3-compatible store that is not AWS (the emulator, on
 * its own port, named by the job's own endpoint with its own keys: the
 * process has no S3 endpoint and no AWS credentials). `run --event` on a
 * captured-shape "Glue Job State Change" event loads exactly that day, once.
 */

const BUCKET = 'odps-export';
const DB = `it_ev_${randomBytes(4).toString('hex')}`;
const KEYS = { accessKeyId: 'oss-test-key', secretAccessKey: 'oss/test+secret' };

let server: Awaited<ReturnType<typeof startFauxqs>>;
let s3: S3Client;
let my: mysql.Connection;
let dir: string;
let jobFile: string;
/** No process-wide S3 endpoint or AWS keys: only the job's endpoint and connection can make the run work. */
let env: Record<string, string>;

function glueEvent(state: 'SUCCEEDED' | 'FAILED', time: string) {
  return {
    version: '0',
    id: `5b6c9a1e-${state}`,
    'detail-type': 'Glue Job State Change',
    source: 'aws.glue',
    account: '123456789012',
    time,
    region: 'cn-shanghai',
    resources: [],
    detail: {
      jobName: 'insert_data',
      severity: state === 'SUCCEEDED' ? 'INFO' : 'ERROR',
      state,
      jobRunId: 'jr_4a2f0c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f',
      message: state === 'SUCCEEDED' ? 'Job run succeeded' : 'Command failed with exit code 1',
    },
  };
}

const region = (i: number) => ['华东', 'north', 'south, "east"'][i % 3];

/** result_table of one day as Parquet files (ids from `from`), and the digest of the rows they hold. */
async function unload(bizdate: string, from: number, files: number, rowsPerFile: number, expected?: Digest): Promise<void> {
  for (let f = 0; f < files; f++) {
    const ids = Array.from({ length: rowsPerFile }, (_, k) => from + f * rowsPerFile + k);
    for (const i of ids) expected?.add([String(i), region(i), String(i * 3), bizdate]);
    const body = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: ids.map((i) => BigInt(i)), type: 'INT64' },
        { name: 'region', data: ids.map(region), type: 'STRING' },
        { name: 'total', data: ids.map((i) => i * 3), type: 'INT32' },
        { name: 'dt', data: ids.map(() => bizdate), type: 'STRING' },
      ],
      rowGroupSize: 500,
    });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `result_table/dt=${bizdate}/part-${f}.parquet`, Body: new Uint8Array(body) }));
  }
}

const expected = new Digest();

beforeAll(async () => {
  server = await startFauxqs({ port: 0, logger: false });
  server.createBucket(BUCKET);
  s3 = createS3Client({ endpoint: server.address, region: 'us-east-1', forcePathStyle: true }, KEYS);
  // 20261124 is the day the event's time gives (2026-11-25 09:30 in Shanghai); the other days must not be read.
  await unload('20261124', 0, 3, 1200, expected);
  await unload('20261125', 10_000, 1, 100);
  await unload('20261123', 20_000, 1, 100);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'result_table/dt=20261124/_SUCCESS', Body: new Uint8Array() }));

  my = await mysqlConnection();
  await my.query(`CREATE DATABASE ${DB}`);
  await my.query(`CREATE TABLE ${DB}.odps_result (id BIGINT PRIMARY KEY, region VARCHAR(64), total INT, dt CHAR(8)) DEFAULT CHARSET=utf8mb4`);

  dir = await tempDir();
  env = {
    AWS_ENDPOINT_URL_S3: '',
    AWS_ENDPOINT_URL: '',
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: 'us-east-1',
    OSS_KEYS: JSON.stringify(KEYS),
  };
  jobFile = await writeJob(dir, {
    name: 'write_result',
    timezone: 'Asia/Shanghai',
    source: {
      type: 'files',
      url: 's3://odps-export/result_table/dt=${bizdate}/',
      format: 'parquet',
      endpoint: server.address,
      region: 'oss-cn-shanghai',
      connection: { urlFromEnv: 'OSS_KEYS' },
    },
    target: { type: 'mysql', connection: { url: `mysql://root@127.0.0.1:3306/${DB}` }, table: 'odps_result' },
    channel: { maxConcurrency: 2 },
    triggers: [
      {
        type: 'event',
        pattern: { source: ['aws.glue'], 'detail-type': ['Glue Job State Change'], detail: { jobName: ['insert_data'], state: ['SUCCEEDED'] } },
        vars: { upstreamRun: '$.detail.jobRunId' },
      },
    ],
  });
  await writeFile(join(dir, 'succeeded.json'), JSON.stringify(glueEvent('SUCCEEDED', '2026-11-25T01:30:12Z')));
  await writeFile(join(dir, 'failed.json'), JSON.stringify(glueEvent('FAILED', '2026-11-26T01:30:12Z')));
});

afterAll(async () => {
  s3?.destroy();
  await my?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await my?.end();
  await server?.stop();
});

const count = async () => Number(((await my.query(`SELECT COUNT(*) AS n FROM ${DB}.odps_result`)) as any)[0][0].n);

describe('an event trigger, tried locally with run --event', () => {
  it('plan --event takes the logical time from the event: the ranges are the files of that day', async () => {
    const result = await runCli(['plan', jobFile, '--event', join(dir, 'succeeded.json'), '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.logicalTime).toBe('2026-11-25T01:30:12.000Z');
    const described = plan.rangeList.map((r: { description: string }) => r.description).join(' ');
    expect(described).toContain('part-0.parquet');
    expect(described).not.toMatch(/20261125|20261123/);
    expect(await count()).toBe(0);
  });

  it('the rows of dt=${bizdate} land exactly once, the run at the event time', async () => {
    const result = await runCli(['run', jobFile, '--event', join(dir, 'succeeded.json'), '--json', '--workers', '2'], env);
    const s = summary(result);
    expect(s, result.stderr).toMatchObject({ status: 'succeeded', rowsRead: 3600, rowsWritten: 3600, dirtyRecords: 0, logicalTime: '2026-11-25T01:30:12.000Z' });
    expect(await count()).toBe(3600);
    expect(await mysqlDigest(my, `SELECT id, region, total, dt FROM ${DB}.odps_result`)).toBe(expected.toString());
    const [runs] = (await my.query(`SELECT logical_time FROM ${DB}.batchsync_runs WHERE job = 'write_result'`)) as any;
    expect(runs).toHaveLength(1);
  });

  it('the same event again joins that run and writes nothing', async () => {
    const result = await runCli(['run', jobFile, '--event', join(dir, 'succeeded.json'), '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/skipped: job write_result already has run \S+ for logical time/);
    expect(await count()).toBe(3600);
    expect(await mysqlDigest(my, `SELECT id, region, total, dt FROM ${DB}.odps_result`)).toBe(expected.toString());
    const [runs] = (await my.query(`SELECT COUNT(*) AS n FROM ${DB}.batchsync_runs`)) as any;
    expect(Number(runs[0].n)).toBe(1);
  });

  it('a FAILED event is refused with exit 2 and one line saying why; nothing is written', async () => {
    for (const command of ['run', 'plan']) {
      const result = await runCli([command, jobFile, '--event', join(dir, 'failed.json')], env);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        `batchsync: --event ${join(dir, 'failed.json')}: the event does not start job write_result: triggers[0]: detail.state is "FAILED", the pattern wants ["SUCCEEDED"]`,
      ]);
    }
    expect(await count()).toBe(3600);
    const [runs] = (await my.query(`SELECT COUNT(*) AS n FROM ${DB}.batchsync_runs`)) as any;
    expect(Number(runs[0].n)).toBe(1);
  });

  it('--event with --logical-time, or an unreadable event file, is refused with exit 2', async () => {
    const both = await runCli(['run', jobFile, '--event', join(dir, 'succeeded.json'), '--logical-time', '2026-01-01T00:00:00Z'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--event gives the logical time: --logical-time cannot be used with it/);
    const missing = await runCli(['run', jobFile, '--event', join(dir, 'nope.json')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--event .*nope\.json: cannot read the file \(ENOENT\)/);
  });
});
