/**
 * MERGE SEAM, NOT A FEATURE: the run lifecycle commands (resume, rerun,
 * backfill, cancel, `run --new`, `--event`) are being written by the lead on
 * another branch. The command line (main.ts) already parses their options
 * and calls these functions; until the lead's file replaces this one, each
 * refuses with a usage error (exit 2) saying it is not built yet.
 */
import type { JobOpener } from '../adapters/open-job.ts';
import type { JobSpec } from '../core/job-spec.ts';
import type { RunRecord } from '../core/ports.ts';
import { UsageError } from './args.ts';
import type { Outcome } from './output.ts';
import type { RunOptions } from './run.ts';

export interface LifecycleReport {
  run: RunRecord;
  outcome: Outcome;
}

/** Everything `run` takes except what names the run: the run id, or the logical times, comes separately. */
export type RunSettings = Omit<RunOptions, 'logicalTime'>;

const notBuilt = (what: string) => new UsageError(`${what} is not built yet`);

/** `resume RUN_ID --job FILE`: finishes a failed, cancelled or interrupted run from its checkpoints (outcome `resumed`). */
export async function resumeRun(_options: RunSettings & { runId: string }): Promise<LifecycleReport> {
  throw notBuilt('resume');
}

/** `rerun JOB --logical-time ISO`: the logical time again from scratch, where that cannot duplicate rows. */
export async function rerunRun(_options: RunOptions): Promise<LifecycleReport> {
  throw notBuilt('rerun');
}

/** `backfill JOB --from --to`: one run per business date, in order. */
export async function backfillRuns(
  _options: RunSettings & { from: string; to: string; parallel: number; downstream: boolean },
): Promise<LifecycleReport[]> {
  throw notBuilt('backfill');
}

/** `cancel RUN_ID --job FILE`: stops a run before its consumers' next chunk; the run as it is then. */
export async function cancelRun(_options: { job: JobSpec; runId: string; opener: JobOpener }): Promise<RunRecord> {
  throw notBuilt('cancel');
}

/** `run JOB --new`: a new run even when the job has an unfinished one. */
export async function runNew(_options: RunOptions): Promise<LifecycleReport> {
  throw notBuilt('run --new');
}

/** `run/plan JOB --event FILE`: the logical time and variables an EventBridge event gives the job's trigger. */
export async function eventTrigger(_job: JobSpec, _event: unknown, _file: string): Promise<{ logicalTime: Date; vars: Record<string, string> }> {
  throw notBuilt('--event');
}
