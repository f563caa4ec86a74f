import { BatchsyncError, describeError, isRetryable } from './errors.ts';
import { endRun, publishRunEnd } from './finalize.ts';
import type { JobSpec } from './job-spec.ts';
import { displayStatus } from './lifecycle.ts';
import { type PlannerDeps, resumeRun } from './plan.ts';
import type { Ledger, Queue } from './ports.ts';
import { resolveRun } from './vars.ts';

export interface SweepDeps extends Omit<PlannerDeps, 'queue'> {
  /** The queue of a job's ranges. */
  queueFor(job: JobSpec): Queue;
  ledgerOf(job: JobSpec): Promise<Ledger>;
  now(): Date;
  /** An unfinished run older than this is counted as stuck (the stuck-run alarm). */
  stuckAfterMs: number;
}

export interface SweepResult {
  job: string;
  /** Stalled runs queued again, and runs that could not go on (failed, with the reason). */
  resumed: string[];
  failed: Array<{ runId: string; reason: string }>;
  /** End events that had not reached the bus, sent again. */
  announced: string[];
  /** Unfinished runs older than stuckAfterMs. */
  stuck: number;
}

/**
 * The lifecycle sweep (every 15 minutes on AWS): for each job, a stalled
 * run (unfinished, no live attempt, no progress) is resumed from its
 * checkpoints, or failed with the reason when it cannot go on; end events
 * the bus did not take are sent again; and the runs older than
 * `stuckAfterMs` are counted. Nothing is ever left stuck without a word.
 */
export async function sweep(jobs: readonly JobSpec[], deps: SweepDeps): Promise<SweepResult[]> {
  const results: SweepResult[] = [];
  for (const spec of jobs) {
    const ledger = await deps.ledgerOf(spec);
    const result: SweepResult = { job: spec.name, resumed: [], failed: [], announced: [], stuck: 0 };
    const now = deps.now();
    for (const run of await ledger.listRuns({ job: spec.name, unfinished: true, limit: 100 })) {
      if (now.getTime() - run.createdAt.getTime() > deps.stuckAfterMs) result.stuck++;
      if (displayStatus(run, now) !== 'stalled') continue;
      try {
        await resumeRun(run.runId, spec, { ...deps, queue: deps.queueFor(spec) });
        result.resumed.push(run.runId);
        await deps.events.publish({ type: 'Run Resumed', job: run.job, runId: run.runId, logicalTime: run.logicalTime.toISOString(), error: null });
      } catch (error) {
        // A passing failure (a database away) is for the next sweep; anything else ends the run with its reason.
        if (isRetryable(error) || !(error instanceof BatchsyncError)) continue;
        const reason = `the lifecycle sweep could not resume this stalled run: ${describeError(error)}`;
        const resources = await deps.open(resolveRun(spec, run.logicalTime, run.vars));
        await endRun(run.runId, 'failed', reason, { ...resources, events: deps.events });
        result.failed.push({ runId: run.runId, reason });
      }
    }
    for (const run of await ledger.listRuns({ job: spec.name, unannounced: true, limit: 100 })) {
      if (await publishRunEnd(run.runId, ledger, deps.events, true)) result.announced.push(run.runId);
    }
    results.push(result);
  }
  return results;
}
