import { describeError } from './errors.ts';
import type { JobSpec } from './job-spec.ts';
import type { Events, Ledger, RunRecord, Target } from './ports.ts';

export interface FinalizeDeps {
  ledger: Ledger;
  target: Target;
  events: Events;
}

/** Announces a run's end to whoever waits on it (dependent jobs, alarms). */
export async function publishRunEnd(run: RunRecord, events: Events): Promise<void> {
  await events.publish({
    type: run.status === 'succeeded' ? 'Run Succeeded' : 'Run Failed',
    job: run.job,
    runId: run.runId,
    logicalTime: run.logicalTime.toISOString(),
    error: run.error,
  });
}

/**
 * Ends a run whose ranges are all done. Exactly one caller wins the claim;
 * it marks the run succeeded (or failed, with the reason) and publishes the
 * outcome. A finalizer that died is replaced once its claim goes stale.
 */
export async function finalizeRun(runId: string, job: JobSpec, deps: FinalizeDeps): Promise<void> {
  const { ledger, events } = deps;
  if (!(await ledger.claimFinalize(runId))) return;
  try {
    await ledger.setRunStatus(runId, 'succeeded');
  } catch (error) {
    await ledger.setRunStatus(runId, 'failed', `finalizing job ${job.name}: ${describeError(error)}`);
    throw error;
  }
  const run = await ledger.getRun(runId);
  if (run) await publishRunEnd(run, events);
}
