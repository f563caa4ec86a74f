import { describeError, isRetryable, JobError } from './errors.ts';
import { endRun, finalizeRun } from './finalize.ts';
import type { HealthResources } from './health.ts';
import type { JobSpec } from './job-spec.ts';
import { canonicalVars, dataHash, isEnded, isUnfinished, runMovesTo, specHash, varsHash } from './lifecycle.ts';
import { checkSchemas } from './mapping.ts';
import type { Events, Ledger, Queue, RangeMessage, RunRecord, Source, Target } from './ports.ts';
import { resolveRun } from './vars.ts';

/** The adapters of one (resolved) job. */
export interface JobResources {
  source: Source;
  target: Target;
  ledger: Ledger;
  /** The target's health check (core/health.ts), when the job configures target.health. */
  health?: HealthResources;
}

export interface PlannerDeps {
  open(job: JobSpec): Promise<JobResources>;
  queue: Queue;
  events: Events;
  newRunId(): string;
}

/**
 * What to do with the run of the request's identity when there is one:
 * - `trigger` (a schedule, an event, a dependency; maybe delivered twice):
 *   an unfinished run is joined as it is, an ended one skipped;
 * - `continue` (the local `run`): an unfinished, failed or cancelled run
 *   is resumed, a succeeded one skipped;
 * - `rerun`: a new attempt from scratch beside the ended ones.
 */
export type PlanMode = 'trigger' | 'continue' | 'rerun';

export interface PlanRequest {
  /** The job as its file says, unresolved. */
  job: JobSpec;
  logicalTime: Date;
  /** `--var` values and a trigger's; they override the built-in ones and are part of the run's identity. */
  vars: Record<string, string>;
  mode: PlanMode;
  /**
   * Runs of the same logical time with other variables are expected (one
   * run per S3 object); otherwise they are refused, never skipped.
   */
  distinctVars?: boolean;
}

/** created: a new run; joined: an unfinished run; resumed: a failed or cancelled one; skipped: it has succeeded (or, for a trigger, ended). */
export type PlanOutcome = 'created' | 'joined' | 'resumed' | 'skipped';

export interface PlanResult {
  runId: string;
  outcome: PlanOutcome;
  /** The run's ranges. */
  ranges: number;
  /** Ranges this call put on the queue (those not done). */
  queued: number;
  /** The job resolved for the run. */
  job: JobSpec;
  /** Keys of the files that no column takes (not loaded), and a sentence on each. */
  unmatchedKeys: string[];
  warnings: string[];
}

/** Ranges to aim for: enough that consumers finishing at different times stay busy. */
export const RANGES_PER_CONSUMER = 4;

const describeVars = (vars: Record<string, string>) => (Object.keys(vars).length ? canonicalVars(vars) : 'no variables');

/**
 * Plans a run: resolves the scheduling variables, checks the column mapping
 * against the live schemas (a JobError, before anything is written), then,
 * under the job's lock for this logical time, finds the run of this
 * identity (job, logical time, variables) and joins, resumes or skips it as
 * `mode` says, or creates it: prepares the target once, records the ranges,
 * marks the run running, then queues one message per range. A planner that
 * died midway is completed by the next one.
 */
export async function planRun(request: PlanRequest, deps: PlannerDeps): Promise<PlanResult> {
  const { logicalTime, vars, mode } = request;
  const job = resolveRun(request.job, logicalTime, vars);
  const resources = await deps.open(job);
  const { source, target, ledger } = resources;
  const { createDdl, unmatchedKeys, warnings } = await checkSchemas(job, source, target);
  const checked = { job, unmatchedKeys, warnings };
  // An unreadable source fails here, before pre-SQL, truncate or swap touch the target.
  await source.check?.();

  return ledger.withPlanLock(job.name, logicalTime, async () => {
    const runs = await ledger.listRuns({ job: job.name, logicalTime, limit: 1000 });
    const hash = varsHash(vars);
    const other = request.distinctVars ? undefined : runs.find((r) => varsHash(r.vars) !== hash);
    if (other) {
      throw new JobError(
        `job ${job.name} already has run ${other.runId} at logical time ${logicalTime.toISOString()} with ${describeVars(other.vars)}; ` +
          `this request has ${describeVars(vars)}: give it its own --logical-time`,
      );
    }
    // Newest attempt first.
    const latest = runs.find((r) => varsHash(r.vars) === hash);
    if (latest && mode !== 'rerun') {
      if (latest.status === 'succeeded' || (mode === 'trigger' && isEnded(latest.status))) return { runId: latest.runId, outcome: 'skipped', ranges: latest.ranges, queued: 0, ...checked };
      if (mode === 'trigger' && latest.status !== 'pending') return { runId: latest.runId, outcome: 'joined', ranges: latest.ranges, queued: 0, ...checked };
      return { runId: latest.runId, outcome: continuing(latest), ...(await continueRun(latest, job, resources, deps, createDdl)), ...checked };
    }
    if (latest && isUnfinished(latest.status)) {
      throw new JobError(`run ${latest.runId} of job ${job.name} at this logical time is still ${latest.status}: cancel it first (batchsync cancel ${latest.runId}) or resume it`);
    }
    const runId = deps.newRunId();
    await ledger.createRun({ runId, job: job.name, logicalTime, vars, attempt: (latest?.attempt ?? 0) + 1, dataHash: dataHash(job) });
    for (const earlier of runs) if (!earlier.supersededBy) await ledger.updateRun(earlier.runId, { from: [earlier.status], supersededBy: runId });
    const run = (await ledger.getRun(runId)) as RunRecord;
    return { runId, outcome: 'created', ...(await continueRun(run, job, resources, deps, createDdl)), ...checked };
  });
}

/** Joined: somebody is working the run; resumed: nobody was (interrupted, failed, cancelled). */
const continuing = (run: RunRecord): PlanOutcome => (isUnfinished(run.status) && run.liveAttempts > 0 ? 'joined' : 'resumed');

/**
 * Moves a run on from wherever it stopped: prepares the target if that has
 * not happened (once per run), records the ranges if the planner died
 * before, marks the run running (from pending, failed or cancelled), queues
 * every range that is not done, and finalizes when none is left. Returns
 * the run's ranges and how many were queued.
 */
async function continueRun(
  run: RunRecord,
  job: JobSpec,
  resources: JobResources,
  deps: PlannerDeps,
  createDdl: string | null = null,
): Promise<{ ranges: number; queued: number }> {
  const { source, target, ledger } = resources;
  const events = deps.events;
  if (isEnded(run.status)) {
    // A failed or cancelled swap run's staging table was dropped with its rows: it starts again from scratch.
    const restart = job.target.loadMode === 'swap';
    if (restart) {
      await target.discard(run.runId);
      await ledger.updateRun(run.runId, { from: [run.status], prepared: false });
    }
    await ledger.reopenRanges(run.runId, restart ? ['done', 'failed', 'running', 'pending'] : ['failed'], restart);
  }
  if (!run.prepared || (isEnded(run.status) && job.target.loadMode === 'swap')) {
    try {
      // target.create: the table is made before the first range (and before a swap's staging table, made like it).
      if (createDdl !== null) await target.create?.(createDdl);
      await target.prepare(run.runId);
    } catch (error) {
      if (!isRetryable(error)) await endRun(run.runId, 'failed', describeError(error), { ledger, target, events });
      throw error;
    }
    await ledger.updateRun(run.runId, { from: [run.status], prepared: true });
  }
  // A planner that died after recording the ranges left them as they were: keep them.
  let ranges = (await ledger.listRanges(run.runId)).length;
  if (ranges === 0) {
    const planned = await source.plan(job.channel.maxConcurrency * RANGES_PER_CONSUMER);
    await ledger.addRanges(run.runId, planned);
    ranges = planned.length;
  }
  const hash = specHash(job);
  // Running before the first message is queued, so no consumer finds it pending; an earlier attempt's error is cleared.
  // The messages name this version of the job: ones queued before it are dropped when received.
  if (run.status === 'running') await ledger.updateRun(run.runId, { from: ['running'], specHash: hash });
  else if (run.status !== 'finalizing') await ledger.updateRun(run.runId, { from: runMovesTo('running'), to: 'running', error: null, specHash: hash });
  const queued = await enqueue(run, hash, ledger, deps.queue);
  if (queued === 0) await finalizeRun(run.runId, job, { ledger, target, events });
  return { ranges, queued };
}

/** Queues a message for every range of the run that is not done; returns how many. */
async function enqueue(run: RunRecord, hash: string, ledger: Ledger, queue: Queue): Promise<number> {
  const ranges = await ledger.listRanges(run.runId);
  const messages: RangeMessage[] = ranges
    .filter((r) => r.status !== 'done')
    .map((r) => ({ v: 2, job: run.job, runId: run.runId, rangeId: r.rangeId, logicalTime: run.logicalTime.toISOString(), vars: run.vars, specHash: hash }));
  await queue.send(messages);
  return messages.length;
}

/**
 * `resume`: finishes a failed, cancelled or interrupted run from its
 * checkpoints, with the job file as it is now. Done ranges stay done, the
 * others go on after their last committed chunk, a failed finalize runs
 * again. A job file that changed what the rows depend on (source, target
 * table, columns, write or load mode) is refused: that is a new run.
 */
export async function resumeRun(runId: string, spec: JobSpec, deps: PlannerDeps): Promise<PlanResult> {
  const first = await (await deps.open(resolveRun(spec, new Date(0), {}))).ledger.getRun(runId);
  if (!first) throw new JobError(`no run ${runId} in the ledger of job ${spec.name}`);
  if (first.job !== spec.name) throw new JobError(`run ${runId} belongs to job ${first.job}, not ${spec.name}`);
  const job = resolveRun(spec, first.logicalTime, first.vars);
  const resources = await deps.open(job);
  if (first.dataHash && dataHash(job) !== first.dataHash) {
    throw new JobError(
      `the job file changed what run ${runId} reads or writes (source, target table, columns, write or load mode) since it started: ` +
        `resume refuses; restore the file, or start a new run (batchsync rerun or run --new)`,
    );
  }
  return resources.ledger.withPlanLock(job.name, first.logicalTime, async () => {
    const run = (await resources.ledger.getRun(runId)) as RunRecord;
    if (run.status === 'succeeded') return { runId, outcome: 'skipped', ranges: run.ranges, queued: 0, job, unmatchedKeys: [], warnings: [] };
    if (run.supersededBy) throw new JobError(`run ${runId} was replaced by run ${run.supersededBy}: resume that one`);
    return { runId, outcome: continuing(run), ...(await continueRun(run, job, resources, deps)), job, unmatchedKeys: [], warnings: [] };
  });
}

/**
 * Why starting a logical time again from scratch could write a row twice,
 * or null when it cannot: the table is emptied (truncate) or replaced
 * (swap), rows replace their keys (replace/upsert into a keyed table), or
 * the job's own pre-SQL cleans up.
 */
export async function rerunRefusal(job: JobSpec, target: Target): Promise<string | null> {
  const { loadMode, writeMode, preSql } = job.target;
  if (loadMode !== 'append' || preSql.length > 0) return null;
  if ((writeMode === 'replace' || writeMode === 'upsert') && ((await target.uniqueKeys?.()) ?? []).length > 0) return null;
  const why =
    writeMode === 'replace' || writeMode === 'upsert'
      ? `${writeMode} into ${job.target.table}, which has no primary or unique key`
      : `${writeMode} in append mode`;
  return (
    `rerun of job ${job.name} could write rows twice (${why}); it needs loadMode truncate or swap, replace/upsert into a keyed table, ` +
    `or a preSql that removes this logical time's rows. To finish an earlier run, use batchsync resume RUN_ID`
  );
}

/**
 * `cancel`: marks the run cancelled; consumers stop before their next
 * chunk and drop its queued messages when they receive them. A swap run's
 * staging table is dropped. `resume` can still finish it.
 */
export async function cancelRun(runId: string, resources: JobResources, events: Events): Promise<RunRecord> {
  const run = await resources.ledger.getRun(runId);
  if (!run) throw new JobError(`no run ${runId} in the ledger`);
  if (run.status === 'finalizing') throw new JobError(`run ${runId} is finalizing (post-SQL or the swap): it can no longer be cancelled`);
  if (isEnded(run.status)) throw new JobError(`run ${runId} has already ${run.status === 'cancelled' ? 'been cancelled' : run.status}`);
  await endRun(runId, 'cancelled', 'cancelled by the user', { ...resources, events });
  return (await resources.ledger.getRun(runId)) as RunRecord;
}
