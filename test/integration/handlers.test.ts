/**
 * The Lambda handlers, run as AWS runs them: the planner with the events the
 * deployed stack sends it (the Scheduler's input, the dependsOn and S3 rules'
 * inputs, taken from the synthesized template and applied to real-shaped
 * EventBridge events), the consumer with SQS event-source batches received
 * from the emulator. MariaDB, PostgreSQL and the SQS emulator are real;
 * Secrets Manager and EventBridge, which have no emulator, are
 * aws-sdk-client-mock fakes.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  ChangeMessageVisibilityCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { interceptLocalhostDns, startFauxqs } from 'fauxqs';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretsManagerReader } from '../../functions/adapters/secrets.ts';
import { withCredentialRefresh } from '../../functions/core/credentials.ts';
import { AuthError, ConnectionError } from '../../functions/core/errors.ts';
import { mysqlConnection, pgClient, tempDir, writeJob } from '../helpers.ts';
import { synth } from '../infra/synth.ts';

const LEDGER = 'it_h_';
const REGION = 'us-east-1';
const WAREHOUSE = { host: '127.0.0.1', port: 5432, username: 'postgres', password: 'trust-ignores-it', dbname: 'test', engine: 'postgres', ssl: false };
const REPORTING = { host: '127.0.0.1', port: 3306, username: 'root', password: '', dbname: 'test', engine: 'mysql', ssl: false };
const ROTATING_USER = 'it_h_rot';

/** A deployable job: every connection a secretId, as the stack requires. */
function job(name: string, extra: Record<string, unknown> = {}, targetSecret = 'it-h/reporting') {
  return {
    name,
    source: { type: 'postgres', connection: { secretId: 'it-h/warehouse' }, table: `public.${name}` },
    target: { type: 'mysql', connection: { secretId: targetSecret }, table: name, ledger: { prefix: LEDGER }, batchRows: 100 },
    ...extra,
  };
}

const JOBS = [
  job('it_h_orders', { schedule: { cron: '0 2 * * ? *', timezone: 'Asia/Shanghai' }, channel: { maxConcurrency: 3 } }),
  job('it_h_up_a', { schedule: { cron: '0 1 * * ? *' } }),
  job('it_h_up_b', { schedule: { cron: '0 1 * * ? *' } }),
  job('it_h_down', { dependsOn: ['it_h_up_a', 'it_h_up_b'], channel: { maxConcurrency: 1 } }),
  job('it_h_landing', { triggers: [{ type: 's3', bucket: 'it-h-landing', prefix: 'exports/' }] }),
  job('it_h_rotating', { schedule: { cron: '30 3 * * ? *' } }, 'it-h/rotating'),
  job('it_h_strict', { channel: { dirtyRecordLimit: 0 } }),
  // Throttled to 100 rows/s in chunks of 5: a range of 100 rows takes a second, longer than the consumer is given below.
  job('it_h_handback', { target: { ...job('x').target, table: 'it_h_handback', batchRows: 5 }, channel: { maxConcurrency: 1, rowsPerSecond: 100 } }),
];
const ROWS: Record<string, number> = {
  // Enough rows (twice 4 MB) for the planner to cut more than one range.
  it_h_orders: 300_000,
  it_h_up_a: 10,
  it_h_up_b: 12,
  it_h_down: 20,
  it_h_landing: 50,
  it_h_rotating: 30,
  it_h_strict: 40,
  it_h_handback: 400,
};

let my: mysql.Connection;
let pgc: pg.Client;
let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
let restoreDns: () => void;
let sqs: SQSClient;
let template: Template;
let planner: (event: unknown, context: Context) => Promise<Array<{ job: string; logicalTime: string; outcome: string; runId: string | null; ranges: number }>>;
let consumer: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const secretsManager = mockClient(SecretsManagerClient);
const eventBridge = mockClient(EventBridgeClient);
const secrets = new Map<string, object>();
/** What the functions published to the bus, as EventBridge delivers it to rules. */
const published: BusEvent[] = [];
/** The EMF metric records the functions wrote to stdout. */
const emf: Array<Record<string, any>> = [];
const savedEnv = { ...process.env };

interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** A Lambda context whose remaining time runs down from `remainingMs`, as on Lambda. */
function context(name: string, remainingMs = 900_000): Context {
  const end = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:000000000000:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

beforeAll(async () => {
  my = await mysqlConnection();
  pgc = await pgClient();
  for (const [name, rows] of Object.entries(ROWS)) {
    await pgc.query(`DROP TABLE IF EXISTS ${name}`);
    await pgc.query(`CREATE TABLE ${name} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await pgc.query(`INSERT INTO ${name} SELECT g, 'row ' || g FROM generate_series(1, $1) g`, [rows]);
    await my.query(`DROP TABLE IF EXISTS ${name}`);
    await my.query(`CREATE TABLE ${name} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL) DEFAULT CHARSET=utf8mb4`);
  }
  for (const t of ['runs', 'ranges', 'dirty', 'attempts']) await my.query(`DROP TABLE IF EXISTS ${LEDGER}${t}`);
  await my.query(`DROP USER IF EXISTS '${ROTATING_USER}'@'%'`);
  await my.query(`CREATE USER '${ROTATING_USER}'@'%' IDENTIFIED BY 'before-rotation'`);
  await my.query(`GRANT ALL ON test.* TO '${ROTATING_USER}'@'%'`);

  secrets.set('it-h/warehouse', WAREHOUSE);
  secrets.set('it-h/reporting', REPORTING);
  secrets.set('it-h/rotating', { ...REPORTING, username: ROTATING_USER, password: 'before-rotation' });
  secretsManager.on(GetSecretValueCommand).callsFake(({ SecretId }: { SecretId: string }) => {
    const secret = secrets.get(SecretId);
    if (!secret) throw Object.assign(new Error(`Secrets Manager can't find the specified secret.`), { name: 'ResourceNotFoundException' });
    return { Name: SecretId, SecretString: JSON.stringify(secret), VersionStages: ['AWSCURRENT'] };
  });
  eventBridge.on(PutEventsCommand).callsFake(({ Entries }: { Entries: Array<{ EventBusName: string; Source: string; DetailType: string; Detail: string }> }) => {
    for (const e of Entries) {
      expect(e.EventBusName).toBe('batchsync');
      published.push({
        version: '0',
        id: randomUUID(),
        'detail-type': e.DetailType,
        source: e.Source,
        account: '000000000000',
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: REGION,
        resources: [],
        detail: JSON.parse(e.Detail),
      });
    }
    return { FailedEntryCount: 0, Entries: Entries.map(() => ({ EventId: randomUUID() })) };
  });

  // The stack these jobs deploy to: its queues are made in the emulator, its rules and schedules route the events below.
  const dir = await tempDir('batchsync-handlers-');
  for (const j of JOBS) await writeJob(dir, j, `${j.name}.json`);
  template = synth(JOBS).template;

  fauxqs = await startFauxqs({ port: 0, logger: false });
  restoreDns = interceptLocalhostDns();
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: fauxqs.address,
    BATCHSYNC_JOBS_DIR: dir,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    ...functionEnv(),
  });
  sqs = new SQSClient({ endpoint: fauxqs.address });
  await createQueues();

  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any, ...rest: any[]) => {
    const text = String(chunk);
    if (!text.includes('"_aws"')) return write(chunk, ...rest);
    for (const line of text.split('\n').filter((l) => l.includes('"_aws"'))) emf.push(JSON.parse(line));
    return true;
  });
  // The emulator's queue URLs name a *.localhost host (resolved by interceptLocalhostDns); the SDK says so on every send.
  const warn = console.warn.bind(console);
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => (String(args[0]).startsWith('QueueUrl=') ? undefined : warn(...args)));
  // As on Lambda: each handler module is its own cold start, reading its environment once.
  planner = (await import('../../functions/planner/handler.ts')).handler as typeof planner;
  consumer = (await import('../../functions/consumer/handler.ts')).handler as unknown as typeof consumer;
});

afterAll(async () => {
  vi.restoreAllMocks();
  secretsManager.restore();
  eventBridge.restore();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  restoreDns?.();
  sqs?.destroy();
  await fauxqs?.stop();
  await my?.query(`DROP USER IF EXISTS '${ROTATING_USER}'@'%'`);
  await my?.end();
  await pgc?.end();
});

/** The environment the stack gives both functions, from the template (the bus name is a Ref there: its name). */
function functionEnv(): Record<string, string> {
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function'));
  const vars = fn.Properties.Environment.Variables as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) out[k] = typeof v === 'string' ? v : 'batchsync';
  return out;
}

/** The template's queues, made in the emulator: dead-letter queues first, then the range queues redriving to them. */
async function createQueues(): Promise<void> {
  const queues = Object.entries(template.findResources('AWS::SQS::Queue')).filter(([, q]) => q.Properties.QueueName);
  const arns = new Map<string, string>();
  for (const [id, q] of [...queues].sort(([, a]) => (a.Properties.RedrivePolicy ? 1 : -1))) {
    const p = q.Properties;
    const attributes: Record<string, string> = { VisibilityTimeout: String(p.VisibilityTimeout ?? 30) };
    if (p.FifoQueue) attributes.FifoQueue = 'true';
    if (p.RedrivePolicy) {
      attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: arns.get(p.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]), maxReceiveCount: p.RedrivePolicy.maxReceiveCount });
    }
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: p.QueueName, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    arns.set(id, Attributes?.QueueArn as string);
  }
}

/** The Scheduler's input for a job, at a scheduled time, exactly as the schedule in the template renders it. */
function scheduled(jobName: string, time: string): unknown {
  const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
  const input = schedules.map((s) => s.Properties.Target.Input as string).find((i) => JSON.parse(i).job === jobName);
  if (!input) throw new Error(`no schedule for ${jobName}`);
  return JSON.parse(input.replaceAll('<aws.scheduler.scheduled-time>', time));
}

/** Does an EventBridge pattern match the event (literal lists, prefix, nested fields)? */
function matches(pattern: Record<string, any>, event: Record<string, any>): boolean {
  return Object.entries(pattern).every(([key, want]) => {
    const value = event?.[key];
    if (!Array.isArray(want)) return matches(want, value);
    return want.some((w) => (typeof w === 'object' && w !== null ? typeof value === 'string' && value.startsWith(w.prefix) : w === value));
  });
}

/** A rule target's input: the template's InputTransformer applied to the event. */
function transform(transformer: { InputPathsMap: Record<string, string>; InputTemplate: string }, event: object): unknown {
  let text = transformer.InputTemplate;
  for (const [name, path] of Object.entries(transformer.InputPathsMap)) {
    const value = path.slice(2).split('.').reduce<any>((v, k) => v?.[k], event);
    text = text.replaceAll(`<${name}>`, JSON.stringify(value));
  }
  return JSON.parse(text);
}

/**
 * EventBridge: every rule of the template on the event's bus whose pattern
 * matches invokes the planner with its target's input.
 */
async function deliver(event: BusEvent, bus: 'batchsync' | 'default') {
  const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) => (r.Properties.EventBusName ? 'batchsync' : 'default') === bus);
  const results = [];
  for (const rule of rules.filter((r) => matches(r.Properties.EventPattern, event))) {
    // The planner's targets only (the Run Failed alert goes to the SNS topic).
    const toPlanner = rule.Properties.Targets.filter((t: any) => /Planner/.test(JSON.stringify(t.Arn)));
    for (const target of toPlanner) results.push(...(await planner(transform(target.InputTransformer, event), context('planner'))));
  }
  return results;
}

function s3ObjectCreated(bucket: string, key: string, time: string): BusEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '000000000000',
    time,
    region: REGION,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: { key, size: 1024, etag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '0062E99A88DC407460' },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      'source-ip-address': '1.2.3.4',
      reason: 'PutObject',
    },
  };
}

async function queueUrl(name: string): Promise<string> {
  return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;
}

/**
 * The SQS event source with batch size 1: receives a message, invokes the
 * consumer with it, deletes it unless it is in batchItemFailures (then makes
 * it visible again at once, instead of after the visibility timeout, to keep
 * the test short). Returns the number of invocations, when the queue is empty.
 */
async function drain(queueName: string, remainingMs?: number): Promise<{ invocations: number; failures: number }> {
  const url = await queueUrl(queueName);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  let invocations = 0;
  let failures = 0;
  for (;;) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1, MessageSystemAttributeNames: ['All'] }));
    if (Messages.length === 0) return { invocations, failures };
    const m = Messages[0];
    const event: SQSEvent = {
      Records: [
        {
          messageId: m.MessageId as string,
          receiptHandle: m.ReceiptHandle as string,
          body: m.Body as string,
          attributes: m.Attributes as any,
          messageAttributes: {},
          md5OfBody: m.MD5OfBody as string,
          eventSource: 'aws:sqs',
          eventSourceARN: Attributes?.QueueArn as string,
          awsRegion: REGION,
        },
      ],
    };
    invocations++;
    const response = await consumer(event, context('consumer', remainingMs));
    if (response.batchItemFailures.some((f) => f.itemIdentifier === m.MessageId)) {
      failures++;
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    } else {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
    if (invocations > 200) throw new Error(`${queueName} does not drain`);
  }
}

async function runs(jobName: string): Promise<Array<{ run_id: string; status: string; logical_time: string; error: string | null }>> {
  const [rows] = await my.query(`SELECT run_id, status, DATE_FORMAT(logical_time, '%Y-%m-%dT%H:%i:%sZ') AS logical_time, error FROM ${LEDGER}runs WHERE job = ? ORDER BY created_at`, [
    jobName,
  ]);
  return rows as any;
}

async function targetRows(table: string): Promise<{ count: number; distinct: number }> {
  const [[row]] = (await my.query(`SELECT COUNT(*) AS count, COUNT(DISTINCT id) AS \`distinct\` FROM ${table}`)) as any;
  return { count: Number(row.count), distinct: Number(row.distinct) };
}

/** The value of a metric the functions emitted for a job (summed over records). */
function metric(jobName: string, name: string): number {
  return emf.filter((r) => r.job === jobName && r.service === 'batchsync' && name in r).reduce((sum, r) => sum + Number(r[name]), 0);
}

function runEvents(jobName: string): BusEvent[] {
  return published.filter((e) => e.detail.job === jobName);
}

describe('planner and consumer handlers', () => {
  it('a duplicate Scheduler event joins the run the first one started: one run, each range queued once, every row once', async () => {
    const time = '2026-11-24T18:00:00Z';
    const first = await planner(scheduled('it_h_orders', time), context('planner'));
    const second = await planner(scheduled('it_h_orders', time), context('planner'));
    expect(first).toEqual([{ job: 'it_h_orders', logicalTime: '2026-11-24T18:00:00.000Z', outcome: 'created', runId: expect.any(String), ranges: expect.any(Number) }]);
    expect(first[0].ranges).toBeGreaterThan(1);
    expect(second).toEqual([{ ...first[0], outcome: 'joined' }]);
    expect(await runs('it_h_orders')).toEqual([expect.objectContaining({ run_id: first[0].runId, status: 'running', logical_time: time })]);

    // The consumer is invoked once per range queued by the first event, none for the duplicate.
    expect(await drain('batchsync-it_h_orders.fifo')).toEqual({ invocations: first[0].ranges, failures: 0 });
    expect(await runs('it_h_orders')).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(await targetRows('it_h_orders')).toEqual({ count: 300_000, distinct: 300_000 });

    // The finalizer announced the run on the project's bus once, and the metrics for the job were emitted.
    expect(runEvents('it_h_orders')).toEqual([
      expect.objectContaining({ source: 'batchsync', 'detail-type': 'Run Succeeded', detail: { job: 'it_h_orders', runId: first[0].runId, logicalTime: '2026-11-24T18:00:00.000Z', error: null } }),
    ]);
    expect(metric('it_h_orders', 'RunsStarted')).toBe(1);
    expect(metric('it_h_orders', 'RangesQueued')).toBe(first[0].ranges);
    expect(metric('it_h_orders', 'RunsSucceeded')).toBe(1);
    expect(metric('it_h_orders', 'RowsRead')).toBe(300_000);
    expect(metric('it_h_orders', 'RowsWritten')).toBe(300_000);
    expect(metric('it_h_orders', 'DirtyRecords')).toBe(0);
    expect(metric('it_h_orders', 'RunDuration')).toBeGreaterThan(0);
    expect(emf.find((r) => r.job === 'it_h_orders' && 'RunsSucceeded' in r)?._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'batchsync', Dimensions: [['service', 'job']] });

    // A late third delivery of the same schedule skips the finished run.
    expect(await planner(scheduled('it_h_orders', time), context('planner'))).toEqual([{ ...first[0], outcome: 'skipped' }]);
    expect(await runs('it_h_orders')).toHaveLength(1);
    expect(await targetRows('it_h_orders')).toEqual({ count: 300_000, distinct: 300_000 });
  });

  it('dependsOn: the rule fires on each upstream success, and the job starts only when every upstream of that logical time has succeeded', async () => {
    const time = '2026-11-24T01:00:00Z';
    await planner(scheduled('it_h_up_a', time), context('planner'));
    await drain('batchsync-it_h_up_a.fifo');
    const [aDone] = runEvents('it_h_up_a');
    expect(aDone['detail-type']).toBe('Run Succeeded');

    // it_h_up_a succeeded, it_h_up_b has not run: the rule wakes the planner, which waits.
    expect(await deliver(aDone, 'batchsync')).toEqual([{ job: 'it_h_down', logicalTime: '2026-11-24T01:00:00.000Z', outcome: 'waiting', runId: null, ranges: 0 }]);
    expect(await runs('it_h_down')).toEqual([]);
    // it_h_up_b succeeding at another logical time does not count either.
    await planner(scheduled('it_h_up_b', '2026-11-23T01:00:00Z'), context('planner'));
    await drain('batchsync-it_h_up_b.fifo');
    expect(await deliver(runEvents('it_h_up_b')[0], 'batchsync')).toEqual([expect.objectContaining({ job: 'it_h_down', outcome: 'waiting' })]);
    expect(await runs('it_h_down')).toEqual([]);

    await my.query('TRUNCATE TABLE it_h_up_b');
    await planner(scheduled('it_h_up_b', time), context('planner'));
    await drain('batchsync-it_h_up_b.fifo');
    expect(await targetRows('it_h_up_b')).toEqual({ count: 12, distinct: 12 });
    const bDone = runEvents('it_h_up_b')[1];
    expect(bDone.detail).toMatchObject({ logicalTime: '2026-11-24T01:00:00.000Z' });
    const [started] = await deliver(bDone, 'batchsync');
    expect(started).toMatchObject({ job: 'it_h_down', logicalTime: '2026-11-24T01:00:00.000Z', outcome: 'created' });

    // maxConcurrency 1: a FIFO queue, drained one range at a time.
    expect(await drain('batchsync-it_h_down.fifo')).toEqual({ invocations: started.ranges, failures: 0 });
    expect(await runs('it_h_down')).toEqual([expect.objectContaining({ status: 'succeeded', logical_time: time })]);
    expect(await targetRows('it_h_down')).toEqual({ count: 20, distinct: 20 });

    // EventBridge delivers at least once: the rule firing again, or the raw event sent to the planner, finds the run done.
    expect(await deliver(bDone, 'batchsync')).toEqual([expect.objectContaining({ job: 'it_h_down', outcome: 'skipped', runId: started.runId })]);
    expect(await planner(bDone, context('planner'))).toEqual([expect.objectContaining({ job: 'it_h_down', outcome: 'skipped', runId: started.runId })]);
    expect(await runs('it_h_down')).toHaveLength(1);
  });

  it('an S3 Object Created event under the trigger prefix starts the job at the event time; other keys start nothing', async () => {
    expect(await deliver(s3ObjectCreated('it-h-landing', 'elsewhere/part-0.csv', '2026-11-24T09:15:00Z'), 'default')).toEqual([]);
    expect(await deliver(s3ObjectCreated('another-bucket', 'exports/part-0.csv', '2026-11-24T09:15:00Z'), 'default')).toEqual([]);
    expect(await planner(s3ObjectCreated('it-h-landing', 'elsewhere/part-0.csv', '2026-11-24T09:15:00Z'), context('planner'))).toEqual([]);

    const event = s3ObjectCreated('it-h-landing', 'exports/2026-11-24/part-0.csv', '2026-11-24T09:15:00Z');
    const [started] = await deliver(event, 'default');
    expect(started).toMatchObject({ job: 'it_h_landing', logicalTime: '2026-11-24T09:15:00.000Z', outcome: 'created' });
    // The raw event, as the planner also accepts it, joins the same run.
    expect(await planner(event, context('planner'))).toEqual([{ ...started, outcome: 'joined' }]);
    await drain('batchsync-it_h_landing.fifo');
    expect(await runs('it_h_landing')).toEqual([expect.objectContaining({ status: 'succeeded', logical_time: '2026-11-24T09:15:00Z' })]);
    expect(await targetRows('it_h_landing')).toEqual({ count: 50, distinct: 50 });
  });

  it('a rotated secret: each function re-reads it once after the refused login, and the run succeeds', async () => {
    const reads = () => secretsManager.commandCalls(GetSecretValueCommand, { SecretId: 'it-h/rotating' }).length;
    await planner(scheduled('it_h_rotating', '2026-11-23T19:30:00Z'), context('planner'));
    await drain('batchsync-it_h_rotating.fifo');
    expect(await runs('it_h_rotating')).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(reads()).toBe(2); // one cold start each: planner and consumer

    // Rotation: a new password, the secret updated, and the connections made with the old one closed.
    await my.query(`ALTER USER '${ROTATING_USER}'@'%' IDENTIFIED BY 'after-rotation'`);
    secrets.set('it-h/rotating', { ...REPORTING, username: ROTATING_USER, password: 'after-rotation' });
    const [sessions] = (await my.query('SELECT id FROM information_schema.processlist WHERE user = ?', [ROTATING_USER])) as any;
    expect(sessions.length).toBeGreaterThan(0);
    for (const { id } of sessions) await my.query(`KILL CONNECTION ${Number(id)}`);
    await my.query('TRUNCATE TABLE it_h_rotating');

    const [started] = await planner(scheduled('it_h_rotating', '2026-11-24T19:30:00Z'), context('planner'));
    expect(started).toMatchObject({ outcome: 'created' });
    expect(reads()).toBe(3);
    expect(await drain('batchsync-it_h_rotating.fifo')).toEqual({ invocations: started.ranges, failures: 0 });
    expect(reads()).toBe(4);
    expect(await runs('it_h_rotating')).toEqual([expect.objectContaining({ status: 'succeeded' }), expect.objectContaining({ run_id: started.runId, status: 'succeeded' })]);
    expect(await targetRows('it_h_rotating')).toEqual({ count: 30, distinct: 30 });
    // Neither password reached a log line or a metric.
    expect(JSON.stringify(emf)).not.toMatch(/before-rotation|after-rotation/);
  });

  it('a failed run is announced as Run Failed and counted in the very metric its alarm watches', async () => {
    await my.query("INSERT INTO it_h_strict VALUES (7, 'already here')");
    const [started] = await deliver(
      { ...s3ObjectCreated('unused', 'unused', '2026-11-24T00:00:00Z'), source: 'batchsync', 'detail-type': 'Run Succeeded', detail: { job: 'nobody', runId: 'r', logicalTime: '2026-11-24T00:00:00.000Z', error: null } },
      'batchsync',
    );
    expect(started).toBeUndefined(); // no rule for a job nobody depends on
    const [planned] = await planner({ job: 'it_h_strict', logicalTime: '2026-11-24T00:00:00Z' }, context('planner'));
    await drain('batchsync-it_h_strict.fifo');
    expect(await runs('it_h_strict')).toEqual([expect.objectContaining({ run_id: planned.runId, status: 'failed', error: expect.stringMatching(/dirty/i) })]);
    expect(runEvents('it_h_strict').map((e) => e['detail-type'])).toContain('Run Failed');

    const [alarm] = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'RunsFailed' } })).filter((a) =>
      a.Properties.Dimensions.some((d: { Name: string; Value: string }) => d.Name === 'job' && d.Value === 'it_h_strict'),
    );
    const { Namespace, MetricName, Dimensions } = alarm.Properties as { Namespace: string; MetricName: string; Dimensions: Array<{ Name: string; Value: string }> };
    const records = emf.filter(
      (r) =>
        MetricName in r &&
        r._aws.CloudWatchMetrics.some((m: any) => m.Namespace === Namespace && m.Dimensions.some((set: string[]) => [...set].sort().join() === Dimensions.map((d) => d.Name).sort().join())) &&
        Dimensions.every((d) => r[d.Name] === d.Value),
    );
    expect(records.reduce((sum, r) => sum + r[MetricName], 0)).toBeGreaterThanOrEqual(alarm.Properties.Threshold);
  });

  it('a consumer near its timeout hands the rest of its range back to its (FIFO) queue, and the next invocations finish it: every row once', async () => {
    const [started] = await planner({ job: 'it_h_handback', logicalTime: '2026-11-24T00:00:00Z' }, context('planner'));
    // One second per invocation: the consumer stops at 80% of it, commits, and queues the rest of the range again.
    const { invocations, failures } = await drain('batchsync-it_h_handback.fifo', 1000);
    expect(invocations - failures - started.ranges).toBeGreaterThanOrEqual(started.ranges); // at least one hand-back per range
    expect(await runs('it_h_handback')).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(await targetRows('it_h_handback')).toEqual({ count: 400, distinct: 400 });
    expect(metric('it_h_handback', 'RowsWritten')).toBe(400);
  });
});

// The pieces the rotation above goes through, on their own. Secrets Manager has no emulator: a fake client.
describe('reading secrets (SecretsManagerReader with a fake client) and the rotation rule (withCredentialRefresh)', () => {
  const stored = { host: 'db.internal', port: 3306, username: 'app', password: 'pw-0123456789', dbname: 'reporting' };

  function fakeClient(...answers: Array<object | string | Error>) {
    const client = new SecretsManagerClient({ region: REGION });
    const mock = mockClient(client);
    const call = mock.on(GetSecretValueCommand);
    for (const a of answers) {
      if (a instanceof Error) call.rejectsOnce(a);
      else call.resolvesOnce({ SecretString: typeof a === 'string' ? a : JSON.stringify(a) });
    }
    return { reader: new SecretsManagerReader(client), calls: () => mock.commandCalls(GetSecretValueCommand).length };
  }

  it('reads a secret once and keeps it; a fresh read replaces what is kept', async () => {
    const { reader, calls } = fakeClient(stored, { ...stored, password: 'pw-rotated-987' });
    expect(await reader.read('app/db', false)).toMatchObject({ host: 'db.internal', password: 'pw-0123456789' });
    expect(await reader.read('app/db', false)).toMatchObject({ password: 'pw-0123456789' });
    expect(calls()).toBe(1);
    expect(await reader.read('app/db', true)).toMatchObject({ password: 'pw-rotated-987' });
    expect(await reader.read('app/db', false)).toMatchObject({ password: 'pw-rotated-987' });
    expect(calls()).toBe(2);
  });

  it('a failed read is a ConnectionError naming the secret and the service error, and is not kept', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' });
    const { reader, calls } = fakeClient(denied, stored);
    await expect(reader.read('app/db', false)).rejects.toThrow(new ConnectionError('cannot read secret app/db: AccessDeniedException'));
    expect(await reader.read('app/db', false)).toMatchObject({ username: 'app' });
    expect(calls()).toBe(2);
  });

  it("a secret that is not the RDS shape is refused without showing its contents", async () => {
    const notJson = fakeClient('password=pw-0123456789');
    const error = await notJson.reader.read('app/db', false).catch((e: Error) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(String(error)).toMatch(/secret app\/db is not JSON in the RDS secret shape/);
    expect(String(error)).not.toContain('pw-0123456789');

    const partial = fakeClient({ username: 'app', password: 'pw-0123456789' });
    const missing = await partial.reader.read('app/db', false).catch((e: Error) => e);
    expect(String(missing)).toMatch(/secret app\/db lacks fields of the RDS secret shape: host/);
    expect(String(missing)).not.toContain('pw-0123456789');
  });

  it('credentials refused: one retry with a fresh secret; refused again, or another error, is not retried', async () => {
    const tries: boolean[] = [];
    const refusedOnce = async (fresh: boolean) => {
      tries.push(fresh);
      if (!fresh) throw new AuthError('cannot log in');
      return 'connected';
    };
    expect(await withCredentialRefresh(refusedOnce)).toBe('connected');
    expect(tries).toEqual([false, true]);

    tries.length = 0;
    await expect(withCredentialRefresh(async (fresh) => (tries.push(fresh), Promise.reject(new AuthError('wrong password'))))).rejects.toThrow('wrong password');
    expect(tries).toEqual([false, true]);

    tries.length = 0;
    await expect(withCredentialRefresh(async (fresh) => (tries.push(fresh), Promise.reject(new ConnectionError('unreachable'))))).rejects.toThrow('unreachable');
    expect(tries).toEqual([false]);
  });
});
