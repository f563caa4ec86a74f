import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { JobOpener } from '../adapters/open-job.ts';
import { describeError } from '../core/errors.ts';
import { endRun, type FinalizeDeps, finalizeRun } from '../core/finalize.ts';
import type { PauseTotals } from '../core/health.ts';
import { JobSpec } from '../core/job-spec.ts';
import { isEnded } from '../core/lifecycle.ts';
import type { PlannerDeps, PlanOutcome, PlanResult } from '../core/plan.ts';
import { dirtyWarning } from '../core/policy.ts';
import { type Ledger, noEvents, type Queue, RangeMessage, type RunRecord } from '../core/ports.ts';
import { OUTAGE, retrying } from '../core/retry.ts';
import { sleep } from '../core/stream.ts';
import { z } from 'zod';
import { type LocalQueue, localConsumerHandler, startLocalQueue } from './local.ts';
import { Progress } from './output.ts';
import { MemoryQueue } from './memory-queue.ts';
import { type Poller, runWorker } from './worker.ts';

/** The command that starts worker processes: bin/batchsync.js tells where it is (this module may be bundled elsewhere). */
const BIN = process.env.BATCHSYNC_BIN ?? fileURLToPath(new URL('../../bin/batchsync.js', import.meta.url));
/** How often the runner looks at the ledger and the dead-letter queue. */
const POLL_MS = 250;
const FIRST_POLL_MS = 20;
/** Polls between reads of the ranges for the progress line's estimate. */
const PROGRESS_RANGES_EVERY = 8;
/** Heap limits of a worker process, in MB: old space, and new space (large enough that short-lived rows die young). */
const WORKER_HEAP_MB = 128;
const WORKER_SEMI_SPACE_MB = 32;
/** How long a stopping worker may take to commit its chunk in flight. */
const WORKER_STOP_MS = 30_000;
/** Replacements for workers that died, per worker, before the run is given up. */
const RESTARTS_PER_WORKER = 10;
/**
 * A distributed run moves to SQS and worker processes when, at least
 * SPREAD_AFTER_MS after planning began, SPREAD_WAITING ranges still wait for
 * a consumer and, at the pace so far, the rest would take longer than
 * SPREAD_PAYS_MS: long enough for the processes' start-up to pay off. And
 * only when more processes can make it faster: this one keeps SPREAD_BUSY
 * of a core busy (its consumers wait on their CPU, not on the databases) and
 * the machine has a core idle for another.
 */
const SPREAD_AFTER_MS = 1000;
const SPREAD_WAITING = 2;
const SPREAD_PAYS_MS = 3000;
const SPREAD_BUSY = 0.8;

function worthSpreading(run: RunRecord, waiting: number, elapsedMs: number, cpuUse: () => CpuUse): boolean {
  if (waiting < SPREAD_WAITING || elapsedMs < SPREAD_AFTER_MS) return false;
  if (run.rangesDone > 0 && (elapsedMs * (run.ranges - run.rangesDone)) / run.rangesDone <= SPREAD_PAYS_MS) return false;
  const cpu = cpuUse();
  return cpu.busy >= SPREAD_BUSY && cpu.idle >= 1;
}

/** Cores' worth of CPU this process used, and the machine left idle, since a point in time. */
interface CpuUse {
  busy: number;
  idle: number;
}

function cpuSinceNow(): () => CpuUse {
  const idleMs = () => cpus().reduce((sum, c) => sum + c.times.idle, 0);
  const at = performance.now();
  const own = process.cpuUsage();
  const idle = idleMs();
  return () => {
    const wallMs = Math.max(1, performance.now() - at);
    const used = process.cpuUsage(own);
    return { busy: (used.user + used.system) / 1000 / wallMs, idle: (idleMs() - idle) / wallMs };
  };
}

export interface RunOptions {
  /** The job as its file says (unresolved): what the consumers load. */
  job: JobSpec;
  workers: number | undefined;
  visibilitySeconds: number;
  /** A consumer's time limit per delivery (like a Lambda timeout). */
  invocationMs: number;
  endpoint: string | undefined;
  opener: JobOpener;
  progress: Progress;
}

/** How the run starts: plans it (or finds it) and puts its ranges on the queue it is given. */
export type Starter = (deps: PlannerDeps) => Promise<PlanResult>;

export interface RunReport {
  run: RunRecord;
  /** What this command did with the run; `interrupted`: Ctrl-C, the run is left resumable. */
  outcome: PlanOutcome | 'interrupted';
  /** Keys of the files that no column takes (not loaded), and a sentence on each. */
  unmatchedKeys: string[];
  warnings: string[];
  /** Time the run's writes waited for the target's health. */
  pauses: PauseTotals;
}

/** What a worker process needs to play the event source; sent once the queue exists. */
export const WorkerConfig = z.object({
  /** The job files of the run, as the consumers on AWS have theirs (never on the queue). */
  jobs: z.array(JobSpec),
  endpoint: z.string(),
  queueUrl: z.string(),
  queueArn: z.string(),
  visibilitySeconds: z.number().int().positive(),
  invocationMs: z.number().int().positive(),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;

interface Workers {
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
function startProcesses(count: number, options: RunOptions): Workers & { connect(queue: LocalQueue): void } {
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
      config = { jobs: [options.job], endpoint, queueUrl, queueArn, visibilitySeconds: options.visibilitySeconds, invocationMs: options.invocationMs };
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
      // SIGTERM: a worker finishes the chunk in flight, hands its range back and exits; one that hangs is killed.
      const exits = [...children].map((c) => new Promise((resolve) => c.once('exit', resolve)));
      for (const c of children) c.kill('SIGTERM');
      const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), WORKER_STOP_MS);
      await Promise.all(exits);
      clearTimeout(timer);
    },
  };
}

/**
 * One consumer instance in this process, working up to `count` ranges at
 * once from `poller`, each taken as the one before it ends (not in batches
 * that wait for their slowest range); requeued ranges go to `requeue`.
 */
function startInProcess(count: number, options: RunOptions, poller: Poller, queueArn: string, requeue: Queue, onBatch: () => void): Workers {
  const controller = new AbortController();
  const handler = localConsumerHandler(options.opener, requeue, [options.job], controller.signal);
  let failed: unknown = null;
  const loops = Array.from({ length: count }, () =>
    runWorker({
      poller,
      queueArn,
      handler,
      visibilitySeconds: options.visibilitySeconds,
      retryDelaySeconds: 1,
      invocationMs: options.invocationMs,
      signal: controller.signal,
      onBatch,
    }).catch((error) => {
      failed = error;
    }),
  );
  return {
    heal: () => failed === null,
    async stop() {
      controller.abort();
      await Promise.all(loops);
    },
  };
}

/** The run on SQS (the embedded emulator, or the endpoint given) and the consumers receiving from it. */
interface Spread {
  queue: LocalQueue;
  /** Sends to the queue. */
  sender: Queue;
  workers: Workers;
  /** Takes the bodies of the messages on the dead-letter queue. */
  deadLetters(): Promise<string[]>;
}

/** Starts the SQS queue and its consumers: worker processes for a distributed job, else one in this process. */
async function spread(count: number, options: RunOptions, onBatch: () => void): Promise<Spread> {
  const { job } = options;
  // Processes start before the queue exists, so their start-up overlaps the emulator's.
  const processes = job.channel.distributed ? startProcesses(count, options) : null;
  try {
    const queue = await startLocalQueue(`batchsync-${job.name}`, {
      endpoint: options.endpoint,
      maxReceiveCount: job.channel.maxReceiveCount,
      visibilitySeconds: options.visibilitySeconds,
    });
    // Loaded only here: a run worked on the in-memory queue never loads the SQS client.
    const { SqsPoller, SqsQueue } = await import('../adapters/sqs.ts');
    const sender = new SqsQueue(queue.client, queue.queueUrl);
    processes?.connect(queue);
    const workers = processes ?? startInProcess(count, options, new SqsPoller(queue.client, queue.queueUrl), queue.queueArn, sender, onBatch);
    const dlq = new SqsPoller(queue.client, queue.dlqUrl);
    return { queue, sender, workers, deadLetters: async () => (await dlq.receive(10, 30, 0)).map((m) => m.body) };
  } catch (error) {
    await processes?.stop();
    throw error;
  }
}

/**
 * Fails the run for ranges that went to the dead-letter queue without the
 * consumer recording why (a worker killed on every delivery, say).
 */
async function failDeadLetters(bodies: string[], deps: FinalizeDeps, runId: string, maxReceiveCount: number): Promise<void> {
  for (const body of bodies) {
    const { rangeId } = RangeMessage.parse(JSON.parse(body));
    const reason = `delivered ${maxReceiveCount} times without finishing; moved to the dead-letter queue`;
    await deps.ledger.failRange(runId, rangeId, reason);
    await endRun(runId, 'failed', `range ${rangeId}: ${reason}`, deps);
  }
}

/** The queue the planner and the consumers send to: the in-memory one until the run moves to SQS. */
class Relay implements Queue {
  constructor(public to: Queue) {}
  send(messages: RangeMessage[]): Promise<void> {
    return this.to.send(messages);
  }
}

/**
 * `batchsync run`, `resume`, `rerun`: puts the run's ranges on a queue
 * through `start` and lets consumers work them exactly as the Lambda event
 * source would, until the run has ended. A run starts in this process on an
 * in-memory queue: a small job never pays for the SQS emulator or worker
 * processes. A distributed job that proves larger (worthSpreading) moves its
 * waiting ranges to SQS and worker processes (at once when `--workers` or
 * an SQS endpoint is given). The runner also finalizes a run
 * whose finalizer died (once its claim is stale). Ctrl-C (SIGINT) or SIGTERM
 * stops the consumers after their chunks in flight commit and leaves the
 * run resumable.
 */
export async function runLocally(options: RunOptions, start: Starter): Promise<RunReport> {
  const { job, opener } = options;
  const maxConcurrency = job.channel.maxConcurrency;
  const count = Math.max(1, Math.min(options.workers ?? maxConcurrency, maxConcurrency));
  const memory = new MemoryQueue(job.channel.maxReceiveCount);
  const relay = new Relay(memory);
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let sqs = null as Spread | null;
  let local: Workers | null = null;
  // The runner sleeps between looks at the ledger; a consumer in this process that settles a batch wakes it.
  let wake = () => {};
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const onBatch = () => wake();
  const moveToSqs = async () => {
    sqs = await spread(count, options, onBatch);
    relay.to = sqs.sender;
    await relay.to.send(memory.takeWaiting());
  };
  const stopAll = async () => {
    memory.close();
    await Promise.all([local?.stop(), sqs?.workers.stop()]);
  };
  try {
    const atOnce = options.endpoint !== undefined || (job.channel.distributed && options.workers !== undefined);
    if (atOnce) await moveToSqs();
    else local = startInProcess(count, options, memory, 'arn:aws:sqs:local:000000000000:batchsync-memory', relay, onBatch);
    const startedAt = Date.now();
    const planned = await start({ open: opener.open, queue: relay, events: noEvents, newRunId: randomUUID });
    const cpuUse = cpuSinceNow();
    // The ledger restarting costs waits; past the retry budget the run is given up, and the summary still says so.
    const outage = <T>(fn: () => Promise<T>) => retrying(fn, { now: Date.now, sleep }, OUTAGE);
    const resources = await outage(() => opener.open(planned.job));
    const { ledger, health } = resources;
    const deps = { ...resources, events: noEvents };
    const pauses = async () => (await health?.store.pauses(planned.runId).catch(() => null)) ?? { pausedMs: 0, reasons: [], pausedNow: false };
    let run = (await outage(() => ledger.getRun(planned.runId))) as RunRecord;
    try {
      for (let polls = 0; !isEnded(run.status) && planned.outcome !== 'skipped'; polls++) {
        if (interrupt.signal.aborted) {
          await stopAll();
          return { ...planned, run: (await outage(() => ledger.getRun(planned.runId))) as RunRecord, outcome: 'interrupted', pauses: await pauses() };
        }
        if (!sqs && job.channel.distributed && worthSpreading(run, memory.waiting(), Date.now() - startedAt, cpuUse)) await moveToSqs();
        // The ranges (for the estimate of rows left) every few polls: they are one row each in the ledger.
        const ranges = polls % PROGRESS_RANGES_EVERY === 0 ? await outage(() => ledger.listRanges(run.runId)) : undefined;
        options.progress.update(run, ranges, health && (await pauses()));
        // Taken once, outside the retries: a taken dead letter is not on a queue any more.
        const dead = [...memory.takeDead(), ...(await outage(async () => (await sqs?.deadLetters()) ?? []))];
        await outage(() => failDeadLetters(dead, deps, run.runId, job.channel.maxReceiveCount));
        const healthy = (local?.heal() ?? true) && (sqs?.workers.heal() ?? true);
        if (!healthy) await outage(() => endRun(run.runId, 'failed', 'consumer workers kept dying; see the messages above', deps));
        // A finalizer that died (its claim gone stale) is replaced from here.
        if (run.rangesDone >= run.ranges && (run.status === 'running' || run.status === 'finalizing')) await outage(() => finalizeRun(run.runId, planned.job, deps));
        // Quick looks at first, so a short run's command ends soon after the run does.
        await nap(Math.min(POLL_MS, FIRST_POLL_MS * 2 ** polls));
        run = (await outage(() => ledger.getRun(planned.runId))) as RunRecord;
      }
    } catch (error) {
      const reason = `gave up waiting for the run: ${describeError(error)}`;
      await endRun(run.runId, 'failed', reason, deps).catch(() => {});
      run = { ...run, status: 'failed', error: reason, finishedAt: new Date() };
    }
    options.progress.done(run);
    const warnings = [...planned.warnings, ...(await mostlyDirty(run, job, ledger))];
    return { run, outcome: planned.outcome, unmatchedKeys: planned.unmatchedKeys, warnings, pauses: await pauses() };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
    await sqs?.queue.stop();
  }
}

/** The warning of a run where most rows read were dirty, naming the likely cause. */
async function mostlyDirty(run: RunRecord, job: JobSpec, ledger: Ledger): Promise<string[]> {
  if (run.dirtyRecords * 2 <= run.rowsRead) return [];
  const reasons = (await ledger.listDirty(run.runId).catch(() => [])).map((d) => d.reason);
  const warning = dirtyWarning(run, reasons, job.target.writeMode);
  return warning ? [warning] : [];
}
