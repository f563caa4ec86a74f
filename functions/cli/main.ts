import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { JobOpener } from '../adapters/open-job.ts';
import { BatchsyncError, describeError, JobError } from '../core/errors.ts';
import { jobJsonSchema, JobFileError, type JobSpec, parseJob } from '../core/job-spec.ts';
import { mapColumns } from '../core/mapping.ts';
import { RANGES_PER_CONSUMER } from '../core/plan.ts';
import type { Ledger } from '../core/ports.ts';
import { redact } from '../core/redact.ts';
import { peakConcurrency } from '../core/throttle.ts';
import { parseVarArgs, resolveJob, schedulingVars } from '../core/vars.ts';
import { localConsumerHandler, localOpener, sqsClient } from './local.ts';
import { dirtySummary, formatRun, Progress, rangeSummary, runSummary } from './output.ts';
import { runLocally, WorkerConfig } from './run.ts';
import { runWorker } from './worker.ts';

/** Where `status` and `dirty` look when no job file names the ledger. */
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

const USAGE = `usage: batchsync <command> [options]

  run JOB [--var k=v]... [--workers N] [--json]   plan and run the job locally
      [--logical-time ISO] [--visibility-timeout S] [--range-time-limit S] [--endpoint URL]
  validate JOB                                    check the job file
  plan JOB [--var k=v]... [--json]                print the ranges, write nothing
  check JOB                                       test connections and the column mapping
  status [RUN_ID] [--job NAME|FILE] [--json]      runs and their ranges
  dirty RUN_ID [--json]                           the dirty records of a run
  schema                                          print the job file JSON Schema

  status and dirty read the ledger of --job FILE, or --ledger URL, or
  $BATCHSYNC_MYSQL_URL, or ${DEFAULT_MYSQL_URL}.`;

class UsageError extends JobError {}

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

async function loadJob(path: string | undefined): Promise<JobSpec> {
  if (!path) throw new UsageError('a job file is required');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new JobError(`${path}: cannot read the job file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return withFilesRelativeTo(parseJob(text, path), path);
}

/** A `file://` URL without a leading slash (file://data/) is relative to the job file. */
function withFilesRelativeTo(job: JobSpec, path: string): JobSpec {
  const url = job.source.type === 'files' ? job.source.url : '';
  if (!url.startsWith('file://') || url.startsWith('file:///')) return job;
  const absolute = pathToFileURL(resolve(dirname(path), url.slice('file://'.length))).href;
  return { ...job, source: { ...job.source, url: url.endsWith('/') && !absolute.endsWith('/') ? `${absolute}/` : absolute } } as JobSpec;
}

function logicalTime(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--logical-time ${text}: not an ISO date and time`);
  return time;
}

function positiveInt(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} ${text}: expected a whole number of at least 1`);
  return value;
}

const common = {
  json: { type: 'boolean' },
  var: { type: 'string', multiple: true },
  'logical-time': { type: 'string' },
  workers: { type: 'string' },
  'visibility-timeout': { type: 'string' },
  'range-time-limit': { type: 'string' },
  endpoint: { type: 'string' },
  job: { type: 'string' },
  ledger: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof common; allowPositionals: true }>>['values'];

async function ledgerFor(values: Values, opener: JobOpener): Promise<Ledger> {
  if (values.job && existsSync(values.job)) return opener.openLedger((await loadJob(values.job)).target);
  const url = values.ledger ?? process.env.BATCHSYNC_MYSQL_URL ?? DEFAULT_MYSQL_URL;
  return opener.openLedger({ connection: { url }, ledger: { prefix: 'batchsync_' } });
}

async function commandRun(file: string | undefined, values: Values, opener: JobOpener): Promise<number> {
  const job = await loadJob(file);
  const rangeLimit = positiveInt(values['range-time-limit'], 'range-time-limit');
  const { run, outcome } = await runLocally({
    job,
    vars: parseVarArgs(values.var ?? []),
    logicalTime: logicalTime(values['logical-time']),
    workers: positiveInt(values.workers, 'workers'),
    visibilitySeconds: positiveInt(values['visibility-timeout'], 'visibility-timeout') ?? 30,
    invocationMs: (rangeLimit ?? 900) * 1000,
    endpoint: values.endpoint ?? process.env.BATCHSYNC_SQS_ENDPOINT,
    opener,
    progress: new Progress(process.stderr, false),
  });
  if (outcome !== 'created') err(`batchsync: job ${job.name} already has run ${run.runId} for this logical time (${outcome === 'joined' ? 'joined it' : 'nothing to do'})`);
  if (values.json) out(JSON.stringify(runSummary(run)));
  else out(formatRun(run));
  return run.status === 'succeeded' ? 0 : 1;
}

async function commandPlan(file: string | undefined, values: Values, opener: JobOpener): Promise<number> {
  const spec = await loadJob(file);
  const time = logicalTime(values['logical-time']);
  const job = resolveJob(spec, { ...schedulingVars(time, spec.schedule?.timezone ?? spec.timezone), ...parseVarArgs(values.var ?? []) });
  const { source, target } = await opener.open(job);
  mapColumns(await source.columns(), job.target.columns, job.target.table, await target.describe());
  const ranges = await source.plan(job.channel.maxConcurrency * RANGES_PER_CONSUMER);
  const where = job.source.type === 'files' ? undefined : job.source.where;
  if (values.json) {
    out(JSON.stringify({ job: job.name, where, ranges: ranges.map((r, id) => ({ id, description: r.description })) }));
  } else {
    out(`job ${job.name}: ${ranges.length} ranges${where ? ` where ${where}` : ''}`);
    ranges.forEach((r, id) => out(`  ${id}  ${r.description}`));
  }
  return 0;
}

async function commandCheck(file: string | undefined, opener: JobOpener): Promise<number> {
  const job = await loadJob(file);
  const { source, target, ledger } = await opener.open(job);
  const columns = await source.columns();
  // Planning reads the source (its key bounds, a sample, the files): it needs what a run needs.
  const ranges = await source.plan(1);
  out(`source: ok, ${columns.length} columns (${columns.map((c) => c.name).join(', ')}), readable (${ranges.length} range${ranges.length === 1 ? '' : 's'})`);
  const mapped = mapColumns(columns, job.target.columns, job.target.table, await target.describe());
  await opener.checkWrite(job, mapped.map((c) => c.name));
  out(`target: ok, ${job.target.table} (${mapped.map((c) => `${c.name} ${c.columnType}`).join(', ')}), insertable`);
  await ledger.listRuns({ job: job.name, limit: 1 });
  out(`ledger: ok`);
  return 0;
}

async function commandStatus(runId: string | undefined, values: Values, opener: JobOpener): Promise<number> {
  const ledger = await ledgerFor(values, opener);
  if (runId) {
    const run = await ledger.getRun(runId);
    if (!run) throw new BatchsyncError(`no run ${runId} in the ledger`);
    const ranges = await ledger.listRanges(runId);
    const peak = peakConcurrency(await ledger.listAttempts(runId), run.finishedAt ?? new Date());
    if (values.json) out(JSON.stringify({ ...runSummary(run), peakConcurrency: peak, ranges: ranges.map(rangeSummary) }));
    else {
      out(formatRun(run));
      out(`  at most ${peak} consumers at once`);
      for (const r of ranges) out(`  range ${r.rangeId}  ${r.status}  read ${r.rowsRead}  written ${r.rowsWritten}  dirty ${r.dirtyRecords}  ${r.spec.description}${r.error ? `  error: ${r.error}` : ''}`);
    }
    return 0;
  }
  const jobName = values.job && existsSync(values.job) ? (await loadJob(values.job)).name : values.job;
  const runs = await ledger.listRuns({ job: jobName, limit: 20 });
  if (values.json) out(JSON.stringify(runs.map(runSummary)));
  else if (runs.length === 0) out('no runs');
  else for (const run of runs) out(formatRun(run));
  return 0;
}

async function commandDirty(runId: string | undefined, values: Values, opener: JobOpener): Promise<number> {
  if (!runId) throw new UsageError('dirty needs a RUN_ID');
  const ledger = await ledgerFor(values, opener);
  if (!(await ledger.getRun(runId))) throw new BatchsyncError(`no run ${runId} in the ledger`);
  const dirty = (await ledger.listDirty(runId)).map(dirtySummary);
  if (values.json) out(JSON.stringify(dirty));
  else if (dirty.length === 0) out(`run ${runId}: no dirty records`);
  else for (const d of dirty) out(`range ${d.rangeId}  ${d.reason}\n  ${JSON.stringify(d.record)}`);
  return 0;
}

/** A consumer instance of `run` in distributed mode: a child process, told its queue by the run over IPC. */
async function commandWorker(opener: JobOpener): Promise<number> {
  if (!process.send) throw new UsageError('worker is started by batchsync run');
  process.once('SIGTERM', () => process.exit(0));
  // The run going away (killed, say) disconnects the channel: a worker does not outlive it.
  process.once('disconnect', () => process.exit(0));
  // The SQS client loads while the run creates the queue.
  const sqs = import('../adapters/sqs.ts');
  const config = WorkerConfig.parse(await new Promise((resolve) => process.once('message', resolve)));
  const { SqsPoller, SqsQueue } = await sqs;
  const client = await sqsClient(config.endpoint);
  await runWorker({
    poller: new SqsPoller(client, config.queueUrl),
    queueArn: config.queueArn,
    handler: localConsumerHandler(opener, new SqsQueue(client, config.queueUrl)),
    batchSize: 1,
    visibilitySeconds: config.visibilitySeconds,
    retryDelaySeconds: 1,
    invocationMs: config.invocationMs,
    signal: new AbortController().signal,
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: common, allowPositionals: true, strict: true });
  } catch (error) {
    err(`batchsync: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, arg, ...extra] = positionals;
  if (values.help || !command) {
    (command ? out : err)(USAGE);
    return command ? 0 : 2;
  }
  const opener = localOpener(process.env, 8);
  try {
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    switch (command) {
      case 'schema':
        out(JSON.stringify(jobJsonSchema(), null, 2));
        return 0;
      case 'validate': {
        if (!arg) throw new UsageError('validate needs a job file');
        try {
          await loadJob(arg);
        } catch (error) {
          if (!(error instanceof JobFileError)) throw error;
          for (const problem of error.problems) err(`${arg}: ${problem}`);
          return 2;
        }
        out(`${arg}: ok`);
        return 0;
      }
      case 'run':
        return await commandRun(arg, values, opener);
      case 'plan':
        return await commandPlan(arg, values, opener);
      case 'check':
        return await commandCheck(arg, opener);
      case 'status':
        return await commandStatus(arg, values, opener);
      case 'dirty':
        return await commandDirty(arg, values, opener);
      case 'worker':
        return await commandWorker(opener);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    err(`batchsync: ${redact(describeError(error))}`);
    if (process.env.BATCHSYNC_DEBUG && error instanceof Error) err(redact(error.stack ?? ''));
    return error instanceof BatchsyncError ? error.exitCode : 1;
  } finally {
    await opener.close();
  }
}
