import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { JobOpener } from '../adapters/open-job.ts';
import { SqsPoller, SqsQueue } from '../adapters/sqs.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { planRun } from '../core/plan.ts';
import { describeError } from '../core/errors.ts';
import { dirtyWarning } from '../core/policy.ts';
import { OUTAGE, retrying } from '../core/retry.ts';
import { type Ledger, noEvents, type RangeMessage, type RunRecord } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { z } from 'zod';
import { type LocalQueue, localConsumerHandler, startLocalQueue } from './local.ts';
import { Progress } from './output.ts';
import { runWorker } from './worker.ts';

/** The command that starts worker processes: bin/batchsync.js tells where it is (this module may be bundled elsewhere). */
const BIN = process.env.BATCHSYNC_BIN ?? fileURLToPath(new URL('../../bin/batchsync.js', import.meta.url));
/** How often the runner looks at the ledger and the dead-letter queue. */
const POLL_MS = 250;
/** Heap limits of a worker process, in MB: old space, and new space (large enough that short-lived rows die young). */
const WORKER_HEAP_MB = 128;
const WORKER_SEMI_SPACE_MB = 32;
/** Replacements for workers that died, per worker, before the run is given up. */
const RESTARTS_PER_WORKER = 10;

export interface RunOptions {
  job: JobSpec;
  vars: Record<string, string>;
  logicalTime: Date;
  workers: number | undefined;
  visibilitySeconds: number;
  /** A consumer's time limit per delivery (like a Lambda timeout). */
  invocationMs: number;
  endpoint: string | undefined;
  opener: JobOpener;
  progress: Progress;
}

export interface RunReport {
  run: RunRecord;
  /** This command created the run, or joined one that was unfinished, or found it ended. */
  outcome: 'created' | 'joined' | 'skipped';
}

/** What a worker process needs to play the event source; sent once the queue exists. */
export const WorkerConfig = z.object({
  endpoint: z.string(),
  queueUrl: z.string(),
  queueArn: z.string(),
  visibilitySeconds: z.number().int().positive(),
  invocationMs: z.number().int().positive(),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;

interface Workers {
  /** Points the workers at the queue: they start receiving. */
  connect(queue: LocalQueue): void;
  /** Replaces workers that died; false when too many have. */
  heal(): boolean;
  stop(): Promise<void>;
}

/**
 * Worker processes, each one consumer instance receiving one range at a
 * time (distributed). They are started first and told the queue when it
 * exists (over IPC), so their start-up overlaps the emulator's and the
 * planner's.
 */
function startProcesses(count: number, options: RunOptions): Workers {
  const children = new Set<ChildProcess>();
  let config: WorkerConfig | null = null;
  let restarts = 0;
  let dead = 0;
  // A consumer's batches are bounded; the caps make V8 collect garbage instead of growing the heap.
  const args = [`--max-old-space-size=${WORKER_HEAP_MB}`, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`, BIN, 'worker'];
  const start = () => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: process.env });
    children.add(child);
    child.on('exit', () => {
      children.delete(child);
      dead++;
    });
    if (config) child.send(config);
  };
  for (let i = 0; i < count; i++) start();
  return {
    connect(queue) {
      const { endpoint, queueUrl, queueArn } = queue;
      config = { endpoint, queueUrl, queueArn, visibilitySeconds: options.visibilitySeconds, invocationMs: options.invocationMs };
      for (const child of children) child.send(config);
    },
    heal() {
      while (dead > 0) {
        dead--;
        if (++restarts > RESTARTS_PER_WORKER * count) return false;
        start();
      }
      return true;
    },
    async stop() {
      const exits = [...children].map((c) => new Promise((resolve) => c.once('exit', resolve)));
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(exits);
    },
  };
}

/** One consumer instance in this process, working up to `count` ranges at once (not distributed). */
function startInProcess(count: number, options: RunOptions): Workers {
  const controller = new AbortController();
  let loop: Promise<void> = Promise.resolve();
  let failed: unknown = null;
  return {
    connect(queue) {
      loop = runWorker({
        poller: new SqsPoller(queue.client, queue.queueUrl),
        queueArn: queue.queueArn,
        handler: localConsumerHandler(options.opener, new SqsQueue(queue.client, queue.queueUrl)),
        batchSize: count,
        visibilitySeconds: options.visibilitySeconds,
        retryDelaySeconds: 1,
        invocationMs: options.invocationMs,
        signal: controller.signal,
      }).catch((error) => {
        failed = error;
      });
    },
    heal: () => failed === null,
    async stop() {
      controller.abort();
      await loop;
    },
  };
}

/**
 * Fails the run for ranges that went to the dead-letter queue without the
 * consumer recording why (a worker killed on every delivery, say).
 */
async function failDeadLetters(queue: LocalQueue, ledger: Ledger, runId: string, maxReceiveCount: number): Promise<void> {
  const dlq = new SqsPoller(queue.client, queue.dlqUrl);
  for (const message of await dlq.receive(10, 30, 0)) {
    const { rangeId } = JSON.parse(message.body) as RangeMessage;
    await ledger.failRange(runId, rangeId, `delivered ${maxReceiveCount} times without finishing; moved to the dead-letter queue`);
  }
}

/**
 * `batchsync run`: plans the job, puts its ranges on a local queue and runs
 * consumer workers against it exactly as the Lambda event source would,
 * until the run has succeeded or failed. Rerunning after a crash joins the
 * unfinished run of the same logical time and finishes it.
 */
export async function runLocally(options: RunOptions): Promise<RunReport> {
  const { job, opener } = options;
  const maxConcurrency = job.channel.maxConcurrency;
  // Consumers start before the queue and the plan exist, as Lambda's would be ready: their start-up is not on the run's clock.
  const count = Math.max(1, Math.min(options.workers ?? maxConcurrency, maxConcurrency));
  const workers = job.channel.distributed ? startProcesses(count, options) : startInProcess(count, options);
  let queue: LocalQueue | null = null;
  try {
    queue = await startLocalQueue(`batchsync-${job.name}`, {
      endpoint: options.endpoint,
      maxReceiveCount: job.channel.maxReceiveCount,
      visibilitySeconds: options.visibilitySeconds,
    });
    workers.connect(queue);
    const planned = await planRun(
      { job, logicalTime: options.logicalTime, vars: options.vars, resume: true },
      { open: opener.open, queue: new SqsQueue(queue.client, queue.queueUrl), events: noEvents, newRunId: randomUUID },
    );
    // The ledger restarting costs waits; past the retry budget the run is given up, and the summary still says so.
    const outage = <T>(fn: () => Promise<T>) => retrying(fn, { now: Date.now, sleep }, OUTAGE);
    const { ledger } = await outage(() => opener.open(planned.job));
    let run = (await outage(() => ledger.getRun(planned.runId))) as RunRecord;
    try {
      while (!isFinal(run) && planned.outcome !== 'skipped') {
        options.progress.update(run);
        await outage(() => failDeadLetters(queue as LocalQueue, ledger, run.runId, job.channel.maxReceiveCount));
        if (!workers.heal()) await outage(() => ledger.setRunStatus(run.runId, 'failed', 'consumer workers kept dying; see the messages above'));
        await sleep(POLL_MS);
        run = (await outage(() => ledger.getRun(planned.runId))) as RunRecord;
      }
    } catch (error) {
      const reason = `gave up waiting for the run: ${describeError(error)}`;
      await ledger.setRunStatus(run.runId, 'failed', reason).catch(() => {});
      run = { ...run, status: 'failed', error: reason, finishedAt: new Date() };
    }
    options.progress.done(run);
    await warnIfMostlyDirty(run, job, ledger);
    return { run, outcome: planned.outcome };
  } finally {
    await workers.stop();
    await queue?.stop();
  }
}

/** The warning line of a run where most rows read were dirty, naming the likely cause. */
async function warnIfMostlyDirty(run: RunRecord, job: JobSpec, ledger: Ledger): Promise<void> {
  if (run.dirtyRecords * 2 <= run.rowsRead) return;
  const reasons = (await ledger.listDirty(run.runId).catch(() => [])).map((d) => d.reason);
  const warning = dirtyWarning(run, reasons, job.target.writeMode);
  if (warning) process.stderr.write(`batchsync: warning: ${warning}\n`);
}

function isFinal(run: RunRecord): boolean {
  return run.status === 'succeeded' || run.status === 'failed';
}
