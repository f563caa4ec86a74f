import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { JobOpener } from '../adapters/open-job.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { type PlanResult, planRun } from '../core/plan.ts';
import { type Ledger, noEvents, type RangeMessage, type RunRecord } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { z } from 'zod';
import { consumeInProcess, MemoryQueue } from './in-process.ts';
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
/** Source bytes per range when the command sizes the run itself (no --workers): a small source makes one or two ranges. */
const RANGE_BYTES = 32 << 20;
/** A plan of at most this many ranges is worked in the command's process: starting a queue and workers would cost more than they save. */
const IN_PROCESS_RANGES = 2;

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
function startInProcess(count: number, options: RunOptions, sqs: typeof import('../adapters/sqs.ts')): Workers {
  const { SqsPoller, SqsQueue } = sqs;
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
  const { SqsPoller } = await import('../adapters/sqs.ts');
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
 * unfinished run of the same logical time and finishes it. Without
 * --workers or --endpoint the plan comes first and decides: ranges are sized
 * by the source's bytes, and a plan of one or two ranges (or a job that is
 * not distributed) is worked in this process, without queue or workers.
 */
export async function runLocally(options: RunOptions): Promise<RunReport> {
  if (options.workers !== undefined || options.endpoint !== undefined) return runOnQueue(options, null);
  const { job, opener } = options;
  const memory = new MemoryQueue();
  const planned = await planRun(
    { job, logicalTime: options.logicalTime, vars: options.vars, resume: true, rangeBytes: RANGE_BYTES },
    { open: opener.open, queue: memory, events: noEvents, newRunId: randomUUID },
  );
  if (job.channel.distributed && memory.pending.length > IN_PROCESS_RANGES) {
    return runOnQueue(options, { planned, messages: memory.pending.map((p) => p.message) });
  }
  const { ledger } = await opener.open(planned.job);
  let finished = false;
  const work = consumeInProcess({
    queue: memory,
    handler: localConsumerHandler(opener, memory),
    ledger,
    concurrency: Math.max(1, Math.min(options.workers ?? job.channel.maxConcurrency, job.channel.maxConcurrency)),
    maxReceiveCount: job.channel.maxReceiveCount,
    invocationMs: options.invocationMs,
    retryDelayMs: 1000,
  }).finally(() => {
    finished = true;
  });
  let run = (await ledger.getRun(planned.runId)) as RunRecord;
  while (!finished && !isFinal(run)) {
    options.progress.update(run);
    await Promise.race([work, sleep(POLL_MS)]);
    run = (await ledger.getRun(planned.runId)) as RunRecord;
  }
  await work;
  return watchRun(options, planned, ledger, null);
}

/** The run on an SQS queue (the embedded emulator, or --endpoint) with worker processes; `preplanned`: the plan is made and its messages held. */
async function runOnQueue(options: RunOptions, preplanned: { planned: PlanResult; messages: RangeMessage[] } | null): Promise<RunReport> {
  const { job, opener } = options;
  const maxConcurrency = job.channel.maxConcurrency;
  // Consumers start before the queue and the plan exist, as Lambda's would be ready: their start-up is not on the run's clock.
  const count = Math.max(1, Math.min(options.workers ?? maxConcurrency, maxConcurrency));
  const sqs = await import('../adapters/sqs.ts');
  const workers = job.channel.distributed ? startProcesses(count, options) : startInProcess(count, options, sqs);
  let queue: LocalQueue | null = null;
  try {
    queue = await startLocalQueue(`batchsync-${job.name}`, {
      endpoint: options.endpoint,
      maxReceiveCount: job.channel.maxReceiveCount,
      visibilitySeconds: options.visibilitySeconds,
    });
    workers.connect(queue);
    const rangeQueue = new sqs.SqsQueue(queue.client, queue.queueUrl);
    let planned: PlanResult;
    if (preplanned) {
      planned = preplanned.planned;
      await rangeQueue.send(preplanned.messages);
    } else {
      planned = await planRun(
        { job, logicalTime: options.logicalTime, vars: options.vars, resume: true },
        { open: opener.open, queue: rangeQueue, events: noEvents, newRunId: randomUUID },
      );
    }
    const { ledger } = await opener.open(planned.job);
    return await watchRun(options, planned, ledger, { queue, workers });
  } finally {
    await workers.stop();
    await queue?.stop();
  }
}

/** Follows the run in the ledger until it has ended, showing progress; on a queue, also fails dead letters and replaces dead workers. */
async function watchRun(options: RunOptions, planned: PlanResult, ledger: Ledger, onQueue: { queue: LocalQueue; workers: Workers } | null): Promise<RunReport> {
  const { job } = options;
  let run = (await ledger.getRun(planned.runId)) as RunRecord;
  while (!isFinal(run) && planned.outcome !== 'skipped') {
    options.progress.update(run);
    if (onQueue) {
      await failDeadLetters(onQueue.queue, ledger, run.runId, job.channel.maxReceiveCount);
      if (!onQueue.workers.heal()) await ledger.setRunStatus(run.runId, 'failed', 'consumer workers kept dying; see the messages above');
    }
    await sleep(POLL_MS);
    run = (await ledger.getRun(planned.runId)) as RunRecord;
  }
  options.progress.done(run);
  return { run, outcome: planned.outcome };
}

function isFinal(run: RunRecord): boolean {
  return run.status === 'succeeded' || run.status === 'failed';
}
