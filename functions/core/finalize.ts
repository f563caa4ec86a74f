import { describeError, isRetryable } from './errors.ts';
import type { JobSpec } from './job-spec.ts';
import type { Events, Ledger, Target } from './ports.ts';

export interface FinalizeDeps {
  ledger: Ledger;
  target: Target;
  events: Events;
}

/** Announces a run's end, as the ledger has it, to whoever waits on it (dependent jobs, alarms). */
export async function publishRunEnd(runId: string, ledger: Ledger, events: Events): Promise<void> {
  const run = await ledger.getRun(runId);
  if (!run) return;
  await events.publish({
    type: run.status === 'succeeded' ? 'Run Succeeded' : 'Run Failed',
    job: run.job,
    runId: run.runId,
    logicalTime: run.logicalTime.toISOString(),
    error: run.error,
  });
}

/** Marks a run failed with the reason and announces it. */
export async function failRun(runId: string, reason: string, ledger: Ledger, events: Events): Promise<void> {
  await ledger.setRunStatus(runId, 'failed', reason);
  await publishRunEnd(runId, ledger, events);
}

/**
 * Ends a run whose ranges are all done. Exactly one caller wins the claim;
 * it publishes the target (swaps the staging table in, runs post-SQL), marks
 * the run succeeded, or failed with the reason, and announces the outcome.
 * A finalizer that died is replaced once its claim goes stale.
 */
export async function finalizeRun(runId: string, job: JobSpec, deps: FinalizeDeps): Promise<void> {
  const { ledger, target, events } = deps;
  if (!(await ledger.claimFinalize(runId))) return;
  try {
    await target.publish(runId);
  } catch (error) {
    if (isRetryable(error)) {
      // Give the claim back: the redelivered message finalizes again.
      await ledger.setRunStatus(runId, 'running');
      throw error;
    }
    await failRun(runId, `finalizing job ${job.name}: ${describeError(error)}`, ledger, events);
    return;
  }
  await ledger.setRunStatus(runId, 'succeeded');
  await publishRunEnd(runId, ledger, events);
}
