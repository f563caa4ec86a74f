import { describeError, isRetryable } from './errors.ts';
import type { JobSpec } from './job-spec.ts';
import { FINALIZE_STALE_MS, HEARTBEAT_MS, isEnded, runMovesTo } from './lifecycle.ts';
import type { Events, Ledger, RunRecord, Target } from './ports.ts';

export interface FinalizeDeps {
  ledger: Ledger;
  target: Target;
  events: Events;
}

/**
 * Announces a run's end, as the ledger has it, to whoever waits on it
 * (dependent jobs, alarms), and records that the bus took it. The ended run
 * is the event's outbox entry: an announcement that fails is retried by the
 * lifecycle sweep (`repeat`), never lost, and never fails the run.
 */
export async function publishRunEnd(runId: string, ledger: Ledger, events: Events, repeat = false): Promise<boolean> {
  const run = await ledger.getRun(runId);
  if (!run || !isEnded(run.status) || run.eventPublished) return false;
  try {
    await events.publish({
      type: run.status === 'succeeded' ? 'Run Succeeded' : 'Run Failed',
      job: run.job,
      runId: run.runId,
      logicalTime: run.logicalTime.toISOString(),
      error: run.error,
    }, { repeat });
  } catch {
    return false;
  }
  return ledger.updateRun(runId, { from: [run.status], eventPublished: true });
}

/**
 * What follows a run's failure or cancellation, whoever moved it there (a
 * consumer over the dirty limit moves it inside its chunk's transaction):
 * the staging table of a swap run is dropped, and the end is announced.
 */
export async function afterRunEnded(runId: string, deps: FinalizeDeps): Promise<void> {
  await deps.target.discard(runId);
  await publishRunEnd(runId, deps.ledger, deps.events);
}

/** Fails or cancels a run with the reason, if it has not ended yet; true when this call ended it. */
export async function endRun(runId: string, to: 'failed' | 'cancelled', reason: string, deps: FinalizeDeps): Promise<boolean> {
  if (!(await deps.ledger.updateRun(runId, { from: runMovesTo(to), to, error: reason }))) return false;
  await afterRunEnded(runId, deps);
  return true;
}

/** Takes the finalize step of a run whose ranges are all done: from `running`, or over a claim whose finalizer went silent. */
async function claimFinalize(ledger: Ledger, runId: string): Promise<boolean> {
  return (
    (await ledger.updateRun(runId, { from: ['running'], to: 'finalizing', allRangesDone: true })) ||
    (await ledger.updateRun(runId, { from: ['finalizing'], to: 'finalizing', allRangesDone: true, idleMs: FINALIZE_STALE_MS }))
  );
}

/** Why a swap run must not swap: a later logical time of the job succeeded since it started. */
async function newerSnapshot(run: RunRecord, ledger: Ledger): Promise<string | null> {
  const runs = await ledger.listRuns({ job: run.job, limit: 1000 });
  const newer = runs.find(
    (r) => r.status === 'succeeded' && !r.supersededBy && r.logicalTime > run.logicalTime && (r.finishedAt ?? r.createdAt) > run.createdAt,
  );
  return newer
    ? `run ${newer.runId} of a later logical time (${newer.logicalTime.toISOString()}) succeeded since this run started: ` +
        `swapping this run's older snapshot in would replace newer data`
    : null;
}

/**
 * Ends a run whose ranges are all done. Exactly one caller wins the claim
 * and keeps it alive while it works; it publishes the target (swaps the
 * staging table in, runs post-SQL), marks the run succeeded, or failed with
 * the reason, and announces the outcome. A finalizer that died is replaced
 * once its claim has been silent for FINALIZE_STALE_MS.
 */
export async function finalizeRun(runId: string, job: JobSpec, deps: FinalizeDeps): Promise<void> {
  const { ledger, target, events } = deps;
  if (!(await claimFinalize(ledger, runId))) return;
  const heartbeat = setInterval(() => void ledger.updateRun(runId, { from: ['finalizing'] }).catch(() => {}), HEARTBEAT_MS);
  try {
    const run = (await ledger.getRun(runId)) as RunRecord;
    const stale = job.target.loadMode === 'swap' ? await newerSnapshot(run, ledger) : null;
    if (stale) {
      await endRun(runId, 'failed', `finalizing job ${job.name}: ${stale}`, deps);
      return;
    }
    try {
      await target.publish(runId);
    } catch (error) {
      if (isRetryable(error)) {
        // Give the claim back: the redelivered message (or the next look) finalizes again.
        await ledger.updateRun(runId, { from: ['finalizing'], to: 'running' });
        throw error;
      }
      await endRun(runId, 'failed', `finalizing job ${job.name}: ${describeError(error)}`, deps);
      return;
    }
  } finally {
    clearInterval(heartbeat);
  }
  if (await ledger.updateRun(runId, { from: ['finalizing'], to: 'succeeded', error: null })) await publishRunEnd(runId, ledger, events);
}
