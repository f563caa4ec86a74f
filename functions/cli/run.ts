import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { JobOpener } from '../adapters/open-job.ts';
import { SqsPoller, SqsQueue } from '../adapters/sqs.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { planRun } from '../core/plan.ts';
import { type Ledger, noEvents, type RangeMessage, type RunRecord } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { type LocalQueue, localConsumerHandler, startLocalQueue } from './local.ts';
import { Progress } from './output.ts';
import { runWorker } from './worker.ts';

/** The command that starts worker processes: bin/batchsync.js tells where it is (this module may be bundled elsewhere). */
const BIN = process.env.BATCHSYNC_BIN ?? fileURLToPath(new URL('../../bin/batchsync.js', import.meta.url));
/** How often the runner looks at the ledger and the dead-letter queue. */
const POLL_MS = 250;
/** Old-space limit of a worker process, in MB. */
const WORKER_HEAP_MB = 128;
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

interface Workers {
  stop(): Promise<void>;
  /** Replaces workers that died; false when too many have. */
  heal(): boolean;
}

/** Worker processes, each one consumer instance receiving one range at a time (distributed). */
function startProcesses(queue: LocalQueue, count: number, options: RunOptions): Workers {
  const children = new Set<ChildProcess>();
  let restarts = 0;
  let dead = 0;
  const args = [
    // A consumer's batches are bounded; the cap makes V8 collect garbage instead of growing the heap.
    `--max-old-space-size=${WORKER_HEAP_MB}`,
    BIN,
    'worker',
    '--endpoint', queue.endpoint,
    '--queue-url', queue.queueUrl,
    '--queue-arn', queue.queueArn,
    '--batch-size', '1',
    '--visibility-timeout', String(options.visibilitySeconds),
    '--invocation-ms', String(options.invocationMs),
  ];
  const start = () => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
    children.add(child);
    child.on('exit', () => {
      children.delete(child);
      dead++;
    });
  };
  for (let i = 0; i < count; i++) start();
  return {
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
function startInProcess(queue: LocalQueue, count: number, options: RunOptions): Workers {
  const controller = new AbortController();
  let failed: unknown = null;
  const loop = runWorker({
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
  return {
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
  const queue = await startLocalQueue(`batchsync-${job.name}`, {
    endpoint: options.endpoint,
    maxReceiveCount: job.channel.maxReceiveCount,
    visibilitySeconds: options.visibilitySeconds,
  });
  // Consumers start while the planner plans, as Lambda's would be ready: their start-up is not on the run's clock.
  const count = Math.max(1, Math.min(options.workers ?? maxConcurrency, maxConcurrency));
  const workers = job.channel.distributed ? startProcesses(queue, count, options) : startInProcess(queue, count, options);
  try {
    const planned = await planRun(
      { job, logicalTime: options.logicalTime, vars: options.vars, resume: true },
      { open: opener.open, queue: new SqsQueue(queue.client, queue.queueUrl), events: noEvents, newRunId: randomUUID },
    );
    const { ledger } = await opener.open(planned.job);
    let run = (await ledger.getRun(planned.runId)) as RunRecord;
    while (!isFinal(run) && planned.outcome !== 'skipped') {
      options.progress.update(run);
      await failDeadLetters(queue, ledger, run.runId, job.channel.maxReceiveCount);
      if (!workers.heal()) await ledger.setRunStatus(run.runId, 'failed', 'consumer workers kept dying; see the messages above');
      await sleep(POLL_MS);
      run = (await ledger.getRun(planned.runId)) as RunRecord;
    }
    options.progress.done(run);
    return { run, outcome: planned.outcome };
  } finally {
    await workers.stop();
    await queue.stop();
  }
}

function isFinal(run: RunRecord): boolean {
  return run.status === 'succeeded' || run.status === 'failed';
}
