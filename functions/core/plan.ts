import type { JobSpec } from './job-spec.ts';
import { mapColumns } from './mapping.ts';
import type { Events, Ledger, Queue, RangeMessage, Source, Target } from './ports.ts';
import { describeError, isRetryable } from './errors.ts';
import { failRun, finalizeRun } from './finalize.ts';
import { resolveJob, schedulingVars } from './vars.ts';

/** The adapters of one (resolved) job. */
export interface JobResources {
  source: Source;
  target: Target;
  ledger: Ledger;
}

export interface PlannerDeps {
  open(job: JobSpec): Promise<JobResources>;
  queue: Queue;
  events: Events;
  newRunId(): string;
}

export interface PlanRequest {
  job: JobSpec;
  logicalTime: Date;
  /** `--var` values; they override the built-in ones. */
  vars: Record<string, string>;
  /**
   * For an unfinished run of the same logical time: true puts its unfinished
   * ranges on the queue again (a local rerun after a crash); false leaves it
   * to the messages already queued (a duplicate trigger).
   */
  resume: boolean;
  /**
   * Bytes of source per range: a small source makes one or two ranges
   * instead of RANGES_PER_CONSUMER per consumer. Absent, or a source that
   * cannot estimate its size: RANGES_PER_CONSUMER per consumer.
   */
  rangeBytes?: number;
}

export interface PlanResult {
  runId: string;
  /** created: a new run; joined: an unfinished run of the same logical time; skipped: that run has ended. */
  outcome: 'created' | 'joined' | 'skipped';
  ranges: number;
  job: JobSpec;
}

/** Ranges to aim for: enough that consumers finishing at different times stay busy. */
export const RANGES_PER_CONSUMER = 4;

/** Ranges to cut: RANGES_PER_CONSUMER per consumer, fewer when the source is small for `rangeBytes` a range. */
export async function rangeCount(source: Source, maxConcurrency: number, rangeBytes: number | undefined): Promise<number> {
  const most = maxConcurrency * RANGES_PER_CONSUMER;
  const bytes = rangeBytes === undefined ? null : ((await source.estimateBytes?.()) ?? null);
  if (bytes === null || rangeBytes === undefined) return most;
  return Math.max(1, Math.min(most, Math.ceil(bytes / rangeBytes)));
}

/**
 * Plans a run: resolves the scheduling variables, checks the column mapping
 * against the live schemas (a JobError, before anything is written), then,
 * under the job's lock for this logical time, creates the run, cuts the
 * source into ranges, records them and queues one message per range. A
 * second trigger for the same job and logical time joins or skips the run;
 * a planner that died midway is completed by the next trigger.
 */
export async function planRun(request: PlanRequest, deps: PlannerDeps): Promise<PlanResult> {
  const vars = { ...schedulingVars(request.logicalTime, request.job.schedule?.timezone ?? request.job.timezone), ...request.vars };
  const job = resolveJob(request.job, vars);
  const { source, target, ledger } = await deps.open(job);
  mapColumns(await source.columns(), job.target.columns, job.target.table, await target.describe());

  return ledger.withPlanLock(job.name, request.logicalTime, async () => {
    const existing = await ledger.findRun(job.name, request.logicalTime);
    if (existing && existing.status !== 'planning') {
      const unfinished = existing.status === 'running' || existing.status === 'finalizing';
      if (unfinished && request.resume && (await enqueue(existing.runId, job, ledger, deps.queue)) === 0) {
        await finalizeRun(existing.runId, job, { ledger, target, events: deps.events });
      }
      return { runId: existing.runId, outcome: unfinished ? 'joined' : 'skipped', ranges: existing.ranges, job };
    }
    const runId = existing?.runId ?? deps.newRunId();
    if (!existing) await ledger.createRun(job.name, request.logicalTime, runId);
    // Preparing (pre-SQL, emptying or staging the table) happens once: a planner that died after it must not repeat it.
    if (!existing?.prepared) {
      try {
        await target.prepare(runId);
      } catch (error) {
        if (!isRetryable(error)) await failRun(runId, describeError(error), ledger, deps.events);
        throw error;
      }
      await ledger.markPrepared(runId);
    }
    // A planner that died after recording the ranges left them as they were: keep them.
    if ((await ledger.listRanges(runId)).length === 0) {
      await ledger.addRanges(runId, await source.plan(await rangeCount(source, job.channel.maxConcurrency, request.rangeBytes)));
    }
    const queued = await enqueue(runId, job, ledger, deps.queue);
    await ledger.setRunStatus(runId, 'running');
    if (queued === 0) await finalizeRun(runId, job, { ledger, target, events: deps.events });
    return { runId, outcome: 'created', ranges: queued, job };
  });
}

/** Queues a message for every range of the run that is not done; returns how many. */
async function enqueue(runId: string, job: JobSpec, ledger: Ledger, queue: Queue): Promise<number> {
  const ranges = await ledger.listRanges(runId);
  const messages: RangeMessage[] = ranges.filter((r) => r.status !== 'done').map((r) => ({ v: 1, runId, rangeId: r.rangeId, job }));
  await queue.send(messages);
  return messages.length;
}
