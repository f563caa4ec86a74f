import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { JobOpener } from '../adapters/open-job.ts';
import { BatchsyncError, describeError, JobError } from '../core/errors.ts';
import { jobJsonSchema, JobFileError, type JobSpec, parseJob } from '../core/job-spec.ts';
import { checkSchemas } from '../core/mapping.ts';
import { RANGES_PER_CONSUMER } from '../core/plan.ts';
import { checkHealth, type HealthStore } from '../core/health.ts';
import type { Ledger } from '../core/ports.ts';
import { redact } from '../core/redact.ts';
import { peakConcurrency } from '../core/throttle.ts';
import { parseDate } from '../core/schedule.ts';
import { parseVarArgs, resolveRun } from '../core/vars.ts';
import { closest, type CommandSpec, commandHelp, type OptionTable, overviewHelp, parseCommand, UsageError, type Values } from './args.ts';
import { localSecrets } from './connections-file.ts';
import { starterJob } from './init.ts';
import { eventStart } from './event.ts';
import { backfill, type BackfillLine, cancelJob, downstreamOf, type LifecycleContext, rerunJob, resumeJob, runJob } from './lifecycle.ts';
import { localConsumerHandler, localOpener, sqsClient } from './local.ts';
import { formatRun, formatRunTable, outcomeLine, Progress, rangeSummary, runSummary, writeAll, writeDirtyJson, writeDirtyText } from './output.ts';
import { type RunOptions, type RunReport, WorkerConfig } from './run.ts';
import { runWorker } from './worker.ts';

export { UsageError } from './args.ts';

/** Where `status` and `dirty` look when no job file names the ledger. */
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

/** Ids of runs shown when a prefix is ambiguous. */
const AMBIGUOUS_SHOWN = 10;

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

// ---- the options, declared once and shared by the commands that take them ----

const json = { json: { type: 'boolean', help: 'print the result as JSON on stdout' } } as const;
const connections = {
  connections: {
    type: 'string',
    value: 'FILE',
    help: 'JSON map from secretId to connection URL, for jobs that name secrets (also $BATCHSYNC_CONNECTIONS)',
  },
} as const;
const vars = {
  var: { type: 'string', multiple: true, value: 'k=v', help: 'set a variable for ${k} (repeatable)' },
  'logical-time': { type: 'string', value: 'ISO', help: "the logical time; sets ${bizdate} and ${cyctime} (run: default the job's unfinished run, else now)" },
} as const;
const event = { event: { type: 'string', value: 'FILE', help: "an EventBridge event (JSON) matched against the job's event triggers" } } as const;
const runSettings = {
  workers: { type: 'string', value: 'N', help: 'consumers, in worker processes from the start (default: channel.maxConcurrency, in processes once a distributed run proves large)' },
  'visibility-timeout': { type: 'string', value: 'S', help: 'seconds a delivered range stays invisible to other consumers (30)' },
  'range-time-limit': { type: 'string', value: 'S', help: "a consumer's time per delivery, like a Lambda timeout (900)" },
  endpoint: { type: 'string', value: 'URL', help: 'an SQS endpoint instead of the embedded emulator (also $BATCHSYNC_SQS_ENDPOINT)' },
} as const;
const ledgerOf = (jobValue: string) =>
  ({
    job: { type: 'string', value: jobValue, help: jobValue === 'FILE' ? 'the job file whose target holds the ledger' : 'a job file (its ledger and name), or a job name' },
    ledger: { type: 'string', value: 'URL', help: `the MySQL server of the ledger (default $BATCHSYNC_MYSQL_URL, else ${DEFAULT_MYSQL_URL})` },
  }) as const;
const jobFile = { job: { type: 'string', value: 'FILE', help: 'the job file of the run (required)' } } as const;

const LEDGER_NOTE = `The ledger is found through --job FILE, else --ledger URL, else $BATCHSYNC_MYSQL_URL, else ${DEFAULT_MYSQL_URL}.
A RUN_ID may be given by a unique prefix.`;

const COMMANDS = {
  run: {
    args: 'JOB',
    arity: [1, 1],
    summary: 'plan and run the job locally; progress on stderr',
    notes:
      "Without --logical-time it continues the job's unfinished run, if there is one.\n" +
      'Exit 0 when the run succeeded, 1 when it failed, 2 for a bad job file or usage (nothing written), 130 interrupted (resumable).',
    options: { ...vars, new: { type: 'boolean', help: 'start a new run (now) even when one is unfinished' }, ...event, ...runSettings, ...connections, ...json },
  },
  resume: {
    args: 'RUN_ID',
    arity: [1, 1],
    summary: 'finish a failed, cancelled or interrupted run from its checkpoints',
    notes: LEDGER_NOTE,
    options: { ...jobFile, ...runSettings, ...connections, ...json },
  },
  rerun: {
    args: 'JOB',
    arity: [1, 1],
    summary: 'run a logical time again from scratch, where that cannot duplicate rows',
    options: { ...vars, ...runSettings, ...connections, ...json },
  },
  backfill: {
    args: 'JOB',
    arity: [1, 1],
    summary: 'one run per business date, in order; succeeded dates skipped, failed ones resumed',
    options: {
      from: { type: 'string', value: 'YYYY-MM-DD', help: 'the first business date (required)' },
      to: { type: 'string', value: 'YYYY-MM-DD', help: 'the last business date (required)' },
      parallel: { type: 'string', value: 'N', help: 'dates run at once (1)' },
      downstream: { type: 'boolean', help: 'also run the job files of the same directory that depend on this one' },
      var: vars.var,
      ...runSettings,
      ...connections,
      ...json,
    },
  },
  cancel: {
    args: 'RUN_ID',
    arity: [1, 1],
    summary: "stop a run before its consumers' next chunk",
    notes: LEDGER_NOTE,
    options: { ...jobFile, ...connections, ...json },
  },
  validate: { args: 'JOB', arity: [1, 1], summary: 'check the job file, printing each problem with its path', options: { ...json } },
  plan: { args: 'JOB', arity: [1, 1], summary: 'print the ranges the planner would make; writes nothing', options: { ...vars, ...event, ...connections, ...json } },
  check: {
    args: 'JOB',
    arity: [1, 1],
    summary: 'test connections, reading the source, the mapping, inserting into the target and the ledger; writes no rows',
    options: { ...vars, ...connections, ...json },
  },
  status: {
    args: '[RUN_ID]',
    arity: [0, 1],
    summary: 'runs (logical time, start, duration, status), or one run and its ranges',
    notes: LEDGER_NOTE,
    options: { ...ledgerOf('NAME|FILE'), limit: { type: 'string', value: 'N', help: 'runs listed (20)' }, ...connections, ...json },
  },
  dirty: {
    args: 'RUN_ID',
    arity: [1, 1],
    summary: 'the dirty records of a run, each with its reason (streamed)',
    notes: LEDGER_NOTE,
    options: { ...ledgerOf('FILE'), ...connections, ...json },
  },
  schema: { args: '', arity: [0, 0], summary: 'print the job file JSON Schema', options: { json: { type: 'boolean', help: 'accepted for symmetry: the schema is JSON' } } },
  init: {
    args: '',
    arity: [0, 0],
    summary: 'write a starter job for a table to stdout (batchsync init ... > job.json)',
    notes: 'Reads the columns and primary key of --table on --source; sets "create": true when the target table is missing.',
    options: {
      source: { type: 'string', value: 'URL', help: 'postgres:// or mysql:// URL of the source database (required)' },
      table: { type: 'string', value: 'NAME', help: 'the source table, optionally schema.table (required)' },
      target: { type: 'string', value: 'URL', help: 'mysql:// URL of the target database (required)' },
      'target-table': { type: 'string', value: 'NAME', help: "the target table (default: the source table's name)" },
      name: { type: 'string', value: 'NAME', help: 'the job name (default: from the target table)' },
    },
  },
  help: { args: '[COMMAND]', arity: [0, 1], summary: 'print the help of a command, or of all', options: {} },
} satisfies Record<string, CommandSpec>;

type Commands = typeof COMMANDS;
type Name = keyof Commands;
type Opts<N extends Name> = Values<Commands[N]['options']>;

/** The worker command is started by `run`, not by people: it is not in the help. */
const WORKER: CommandSpec = { args: '', arity: [0, 0], summary: 'a consumer worker process of run', options: {} };

function usage(): string {
  return overviewHelp(COMMANDS, 'batchsync help COMMAND (or COMMAND --help) shows its options; --version prints the version.');
}

function version(): string {
  // bin/batchsync.js says where it is (this module runs bundled elsewhere); from the sources, two levels up.
  const bin = process.env.BATCHSYNC_BIN;
  const file = bin ? join(dirname(bin), '..', 'package.json') : fileURLToPath(new URL('../../package.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

// ---- helpers of the commands ----

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

function required<T>(value: T | undefined, command: string, option: string): T {
  if (value === undefined) throw new UsageError(`${command} needs --${option} (batchsync help ${command})`);
  return value;
}

/** The logical time and variables of a run or plan: from --event, or --logical-time and --var (null: none given). */
async function runIdentity(job: JobSpec, values: { var?: string[]; 'logical-time'?: string; event?: string }) {
  const given = parseVarArgs(values.var ?? []);
  if (values.event) {
    const fromEvent = await eventStart(job, values.event, values['logical-time'] !== undefined);
    return { logicalTime: fromEvent.logicalTime, vars: { ...fromEvent.vars, ...given } };
  }
  return { logicalTime: values['logical-time'] ? logicalTime(values['logical-time']) : null, vars: given };
}

interface Context {
  opener: JobOpener;
}

async function ledgerFor(values: { job?: string; ledger?: string }, opener: JobOpener): Promise<Ledger> {
  if (values.job && existsSync(values.job)) return opener.openLedger((await loadJob(values.job)).target);
  const url = values.ledger ?? process.env.BATCHSYNC_MYSQL_URL ?? DEFAULT_MYSQL_URL;
  return opener.openLedger({ connection: { url }, ledger: { prefix: 'batchsync_' } });
}

/** A run id as typed: the whole id, or a prefix of exactly one (as git takes commits). */
async function resolveRunId(ledger: Ledger, given: string): Promise<string> {
  if (await ledger.getRun(given)) return given;
  const ids = await ledger.runIdsStartingWith(given, AMBIGUOUS_SHOWN + 1);
  if (ids.length === 1) return ids[0];
  if (ids.length === 0) throw new BatchsyncError(`no run ${given} in the ledger`);
  const shown = ids.slice(0, AMBIGUOUS_SHOWN).join(', ');
  throw new UsageError(`run id ${given} is ambiguous: it starts ${ids.length > AMBIGUOUS_SHOWN ? `more than ${AMBIGUOUS_SHOWN}` : ids.length} runs (${shown}${ids.length > AMBIGUOUS_SHOWN ? ', …' : ''}); give more of it`);
}

function lifecycle(values: { workers?: string; 'visibility-timeout'?: string; 'range-time-limit'?: string; endpoint?: string }, ctx: Context): LifecycleContext {
  const rangeLimit = positiveInt(values['range-time-limit'], 'range-time-limit');
  const base = {
    workers: positiveInt(values.workers, 'workers'),
    visibilitySeconds: positiveInt(values['visibility-timeout'], 'visibility-timeout') ?? 30,
    invocationMs: (rangeLimit ?? 900) * 1000,
    endpoint: values.endpoint ?? process.env.BATCHSYNC_SQS_ENDPOINT,
    opener: ctx.opener,
  };
  return { opener: ctx.opener, runOptions: (job): RunOptions => ({ ...base, job, progress: new Progress(process.stderr, false) }), note: err };
}

/** Prints what a run command did: its warnings, the outcome and the summary, as text or JSON; the exit code (130: interrupted, resumable). */
function report({ run, outcome, unmatchedKeys, warnings, pauses }: RunReport, file: string, asJson: boolean | undefined): number {
  for (const warning of warnings) err(`batchsync: warning: ${warning}`);
  if (outcome === 'interrupted') {
    err(`batchsync: interrupted; run ${run.runId} is resumable: batchsync resume ${run.runId} --job ${file} (or batchsync run ${file})`);
    if (asJson) out(JSON.stringify({ ...runSummary(run, undefined, pauses), outcome }));
    else out(formatRun(run, undefined, pauses));
    return 130;
  }
  if (asJson) {
    const said = outcomeLine(run, outcome);
    if (said) err(`batchsync: ${said}`);
    out(JSON.stringify({ ...runSummary(run, outcome, pauses), ...(unmatchedKeys.length && { unmatchedKeys }) }));
  } else out(formatRun(run, outcome, pauses));
  return run.status === 'succeeded' ? 0 : 1;
}

// ---- the commands ----

async function commandRun(file: string, values: Opts<'run'>, ctx: Context): Promise<number> {
  const job = await loadJob(file);
  const { logicalTime: time, vars: given } = await runIdentity(job, values);
  return report(await runJob(job, { vars: given, logicalTime: time, fresh: values.new === true }, lifecycle(values, ctx)), file, values.json);
}

async function commandResume(given: string, values: Opts<'resume'>, ctx: Context): Promise<number> {
  const file = required(values.job, 'resume', 'job');
  const job = await loadJob(file);
  const runId = await resolveRunId(await ctx.opener.openLedger(resolveRun(job, new Date(), {}).target), given);
  return report(await resumeJob(runId, job, lifecycle(values, ctx)), file, values.json);
}

async function commandRerun(file: string, values: Opts<'rerun'>, ctx: Context): Promise<number> {
  const job = await loadJob(file);
  const time = logicalTime(required(values['logical-time'], 'rerun', 'logical-time'));
  return report(await rerunJob(job, { logicalTime: time, vars: parseVarArgs(values.var ?? []) }, lifecycle(values, ctx)), file, values.json);
}

async function commandBackfill(file: string, values: Opts<'backfill'>, ctx: Context): Promise<number> {
  const job = await loadJob(file);
  const request = {
    from: parseDate(required(values.from, 'backfill', 'from'), '--from'),
    to: parseDate(required(values.to, 'backfill', 'to'), '--to'),
    parallel: positiveInt(values.parallel, 'parallel') ?? 1,
    downstream: values.downstream ? downstreamOf(job.name, await jobsBeside(file)) : [],
    vars: parseVarArgs(values.var ?? []),
  };
  const line = (l: BackfillLine) => {
    if (!values.json) out(`${l.bizdate}  ${l.job}  ${l.status}  ${l.outcome}${l.runId ? `  run ${l.runId}` : ''}${l.error ? `  ${l.error}` : ''}`);
  };
  const lines = await backfill(job, request, lifecycle(values, ctx), line);
  if (values.json) out(JSON.stringify(lines));
  if (lines.some((l) => l.outcome === 'interrupted')) return 130;
  return lines.every((l) => l.status === 'succeeded') ? 0 : 1;
}

/** The other job files of the directory a job file is in (for --downstream); files that are not job files are no part of it. */
async function jobsBeside(file: string): Promise<JobSpec[]> {
  const dir = dirname(file);
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && resolve(dir, n) !== resolve(file));
  const jobs = await Promise.all(names.map((n) => loadJob(join(dir, n)).catch(() => null)));
  return jobs.filter((j) => j !== null);
}

async function commandCancel(given: string, values: Opts<'cancel'>, ctx: Context): Promise<number> {
  const file = required(values.job, 'cancel', 'job');
  const job = await loadJob(file);
  const runId = await resolveRunId(await ctx.opener.openLedger(resolveRun(job, new Date(), {}).target), given);
  const run = await cancelJob(runId, job, lifecycle({}, ctx));
  if (values.json) out(JSON.stringify(runSummary(run)));
  else out(`${formatRun(run)}\n  its consumers stop before their next chunk; finish it with: batchsync resume ${run.runId} --job ${file}`);
  return 0;
}

async function commandValidate(file: string, values: Opts<'validate'>): Promise<number> {
  let problems: string[] = [];
  try {
    await loadJob(file);
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
    problems = error instanceof JobFileError ? error.problems : [error.message.replace(`${file}: `, '')];
  }
  if (values.json) out(JSON.stringify({ file, valid: problems.length === 0, problems }));
  else if (problems.length === 0) out(`${file}: ok`);
  else for (const problem of problems) err(`${file}: ${problem}`);
  return problems.length ? 2 : 0;
}

async function commandPlan(file: string, values: Opts<'plan'>, ctx: Context): Promise<number> {
  const spec = await loadJob(file);
  const identity = await runIdentity(spec, values);
  const time = identity.logicalTime ?? new Date();
  const job = resolveRun(spec, time, identity.vars);
  const { source, target } = await ctx.opener.open(job);
  const checked = await checkSchemas(job, source, target);
  const ranges = await source.plan(job.channel.maxConcurrency * RANGES_PER_CONSUMER);
  const where = job.source.type === 'files' ? undefined : job.source.where;
  if (values.json) {
    const extra = { ...(checked.createDdl !== null && { createDdl: checked.createDdl }), ...(checked.unmatchedKeys.length && { unmatchedKeys: checked.unmatchedKeys }) };
    out(JSON.stringify({ job: job.name, logicalTime: time.toISOString(), where, ranges: ranges.length, rangeList: ranges.map((r, id) => ({ id, description: r.description })), ...extra }));
  } else {
    for (const warning of checked.warnings) err(`batchsync: warning: ${warning}`);
    if (checked.createDdl !== null) out(`target: ${job.target.table} does not exist; the run creates it first:\n${checked.createDdl}`);
    out(`job ${job.name}: ${ranges.length} ranges${where ? ` where ${where}` : ''}`);
    ranges.forEach((r, id) => out(`  ${id}  ${r.description}`));
  }
  return 0;
}

async function commandCheck(file: string, values: Opts<'check'>, ctx: Context): Promise<number> {
  const spec = await loadJob(file);
  // The where, query and constant columns run as a run would: with the scheduling variables of the logical time (default now).
  const job = resolveRun(spec, values['logical-time'] ? logicalTime(values['logical-time']) : new Date(), parseVarArgs(values.var ?? []));
  const { source, target, ledger, health } = await ctx.opener.open(job);
  const columns = await source.columns();
  await source.checkRead?.();
  // Planning reads the source (its key bounds, a sample, the files): it needs what a run needs.
  const ranges = await source.plan(1);
  if (!values.json) out(`source: ok, ${columns.length} columns (${columns.map((c) => c.name).join(', ')}), readable (${ranges.length} range${ranges.length === 1 ? '' : 's'})`);
  const checked = await checkSchemas(job, source, target);
  const mapped = checked.columns;
  if (!values.json) for (const warning of checked.warnings) out(`warning: ${warning}`);
  if (checked.createDdl !== null) {
    if (!values.json) out(`target: ${job.target.table} does not exist; a run creates it first (target.create):\n${checked.createDdl}`);
  } else {
    await ctx.opener.checkWrite(job, mapped.map((c) => c.name));
    if (!values.json) out(`target: ok, ${job.target.table} (${mapped.map((c) => `${c.name} ${c.columnType}`).join(', ')}), insertable`);
  }
  await ledger.listRuns({ job: job.name, limit: 1 });
  const healthLines = await checkHealth(job, health);
  if (values.json) {
    out(
      JSON.stringify({
        job: job.name,
        ok: true,
        source: { columns: columns.map((c) => ({ name: c.name, type: c.type })), ranges: ranges.length },
        target: {
          table: job.target.table,
          columns: mapped.map((c) => ({ name: c.name, type: c.columnType })),
          insertable: checked.createDdl === null,
          ...(checked.createDdl !== null && { createDdl: checked.createDdl }),
        },
        warnings: checked.warnings,
        ledger: { ok: true },
        health: healthLines,
      }),
    );
  } else {
    out('ledger: ok');
    for (const line of healthLines) out(`health: ${line}`);
  }
  return 0;
}

/** The health store beside the ledger `status` reads (runs' paused time). */
async function healthStoreFor(values: { job?: string; ledger?: string }, opener: JobOpener): Promise<HealthStore> {
  if (values.job && existsSync(values.job)) return opener.openHealthStore((await loadJob(values.job)).target);
  const url = values.ledger ?? process.env.BATCHSYNC_MYSQL_URL ?? DEFAULT_MYSQL_URL;
  return opener.openHealthStore({ connection: { url }, ledger: { prefix: 'batchsync_' } });
}

async function commandStatus(given: string | undefined, values: Opts<'status'>, ctx: Context): Promise<number> {
  const ledger = await ledgerFor(values, ctx.opener);
  const healthStore = await healthStoreFor(values, ctx.opener);
  if (given) {
    const runId = await resolveRunId(ledger, given);
    const run = await ledger.getRun(runId);
    if (!run) throw new BatchsyncError(`no run ${runId} in the ledger`);
    const pauses = await healthStore.pauses(runId);
    const ranges = await ledger.listRanges(runId);
    const peak = peakConcurrency(await ledger.listAttempts(runId), run.finishedAt ?? new Date());
    if (values.json) out(JSON.stringify({ ...runSummary(run, undefined, pauses), peakConcurrency: peak, rangeList: ranges.map(rangeSummary) }));
    else {
      out(formatRun(run, undefined, pauses));
      out(`  at most ${peak} consumers at once`);
      for (const r of ranges) out(`  range ${r.rangeId}  ${r.status}  read ${r.rowsRead}  written ${r.rowsWritten}  dirty ${r.dirtyRecords}  ${r.spec.description}${r.error ? `  error: ${r.error}` : ''}`);
    }
    return 0;
  }
  const jobName = values.job && existsSync(values.job) ? (await loadJob(values.job)).name : values.job;
  const runs = await ledger.listRuns({ job: jobName, limit: positiveInt(values.limit, 'limit') ?? 20 });
  if (values.json) out(JSON.stringify(await Promise.all(runs.map(async (run) => runSummary(run, undefined, await healthStore.pauses(run.runId))))));
  else if (runs.length === 0) out(jobName ? `no runs of job ${jobName}` : 'no runs');
  else out(formatRunTable(runs));
  return 0;
}

async function commandDirty(given: string, values: Opts<'dirty'>, ctx: Context): Promise<number> {
  const ledger = await ledgerFor(values, ctx.opener);
  const runId = await resolveRunId(ledger, given);
  const records = ledger.streamDirty(runId);
  if (values.json) await writeDirtyJson(process.stdout, records);
  else if ((await writeDirtyText(process.stdout, records)) === 0) out(`run ${runId}: no dirty records`);
  return 0;
}

async function commandInit(values: Opts<'init'>, ctx: Context): Promise<number> {
  const { job, notes } = await starterJob(
    {
      source: required(values.source, 'init', 'source'),
      table: required(values.table, 'init', 'table'),
      target: required(values.target, 'init', 'target'),
      targetTable: values['target-table'],
      name: values.name,
    },
    ctx.opener,
  );
  await writeAll(process.stdout, `${JSON.stringify(job, null, 2)}\n`);
  for (const note of notes) err(`batchsync init: ${note}`);
  return 0;
}

/** A consumer instance of `run` in distributed mode: a child process, told its queue by the run over IPC. */
async function commandWorker(ctx: Context): Promise<number> {
  if (!process.send) throw new UsageError('worker is started by batchsync run');
  // SIGTERM from the run, or Ctrl-C's SIGINT to the whole process group: finish the chunk in flight, hand the range back, exit.
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  // The run going away (killed, say) disconnects the channel: a worker does not outlive it.
  process.once('disconnect', () => process.exit(0));
  // The SQS client loads while the run creates the queue.
  const sqs = import('../adapters/sqs.ts');
  const config = WorkerConfig.parse(await new Promise((resolve) => process.once('message', resolve)));
  if (stop.signal.aborted) return 0;
  const { SqsPoller, SqsQueue } = await sqs;
  const client = await sqsClient(config.endpoint);
  await runWorker({
    poller: new SqsPoller(client, config.queueUrl),
    queueArn: config.queueArn,
    handler: localConsumerHandler(ctx.opener, new SqsQueue(client, config.queueUrl), config.jobs, stop.signal),
    visibilitySeconds: config.visibilitySeconds,
    retryDelaySeconds: 1,
    invocationMs: config.invocationMs,
    signal: stop.signal,
  });
  return 0;
}

function dispatch(name: Name, parsed: { values: Record<string, unknown>; positionals: string[] }, ctx: Context): Promise<number> {
  const [arg] = parsed.positionals;
  const v = parsed.values as never;
  switch (name) {
    case 'run':
      return commandRun(arg, v, ctx);
    case 'resume':
      return commandResume(arg, v, ctx);
    case 'rerun':
      return commandRerun(arg, v, ctx);
    case 'backfill':
      return commandBackfill(arg, v, ctx);
    case 'cancel':
      return commandCancel(arg, v, ctx);
    case 'validate':
      return commandValidate(arg, v);
    case 'plan':
      return commandPlan(arg, v, ctx);
    case 'check':
      return commandCheck(arg, v, ctx);
    case 'status':
      return commandStatus(arg, v, ctx);
    case 'dirty':
      return commandDirty(arg, v, ctx);
    case 'init':
      return commandInit(v, ctx);
    case 'schema':
      out(JSON.stringify(jobJsonSchema(), null, 2));
      return Promise.resolve(0);
    case 'help':
      return Promise.resolve(help(arg));
  }
}

function isCommand(name: string): name is Name {
  return Object.hasOwn(COMMANDS, name);
}

function help(name: string | undefined): number {
  if (name === undefined) {
    out(usage());
    return 0;
  }
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}" (batchsync --help lists the commands)`);
  out(commandHelp(name, COMMANDS[name] as CommandSpec));
  return 0;
}

/** Resolves when what was written to the stream has been handed to the OS: a pipe's reader gets all of it before the exit. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** A reader that went away (`batchsync dirty RUN | head`) is not an error: stop quietly. */
function stopOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

async function execute(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    err(usage());
    return 2;
  }
  if (first === '--help' || first === '-h') return help(undefined);
  if (first === '--version' || first === '-V') {
    out(version());
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${first} (options go after the command: batchsync COMMAND --help)`);
  const spec: CommandSpec | undefined = first === 'worker' ? WORKER : isCommand(first) ? COMMANDS[first] : undefined;
  if (!spec) {
    const near = closest(first, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${first}"${near ? `; did you mean ${near}?` : ''} (batchsync --help lists the commands)`);
  }
  const parsed = parseCommand(first, spec as CommandSpec<OptionTable>, rest);
  if (parsed.help) {
    out(commandHelp(first, spec));
    return 0;
  }
  const file = (parsed.values.connections as string | undefined) ?? process.env.BATCHSYNC_CONNECTIONS;
  // Worker processes inherit the environment: they find the same connections file.
  if (file) process.env.BATCHSYNC_CONNECTIONS = resolve(file);
  const opener = localOpener(process.env, 8, await localSecrets(file, process.env));
  try {
    return first === 'worker' ? await commandWorker({ opener }) : await dispatch(first as Name, parsed, { opener });
  } finally {
    await opener.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  stopOnClosedPipe(process.stdout);
  let code: number;
  try {
    code = await execute(argv);
  } catch (error) {
    err(`batchsync: ${redact(describeError(error))}`);
    if (process.env.BATCHSYNC_DEBUG && error instanceof Error) err(redact(error.stack ?? ''));
    code = error instanceof BatchsyncError ? error.exitCode : 1;
  }
  await drained(process.stdout);
  await drained(process.stderr);
  return code;
}
