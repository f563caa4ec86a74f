import type { JobOpener } from '../adapters/open-job.ts';
import { JobError } from '../core/errors.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { varsHash } from '../core/lifecycle.ts';
import { cancelRun, planRun, resumeRun, rerunRefusal } from '../core/plan.ts';
import { noEvents, type RunRecord } from '../core/ports.ts';
import { bizdateOf, type CalendarDate, datesBetween, logicalTimeForBizdate } from '../core/schedule.ts';
import { resolveRun } from '../core/vars.ts';
import { type RunOptions, type RunReport, runLocally } from './run.ts';

/**
 * The run lifecycle as the command line offers it: `run` (continuing the
 * job's unfinished run by default), `resume`, `rerun`, `backfill` and
 * `cancel`, each on top of the core's planner and the local runner.
 */

/** What every lifecycle command needs besides its own arguments. */
export interface LifecycleContext {
  opener: JobOpener;
  /** The local runner's options for a job (workers, queue, progress). */
  runOptions(job: JobSpec): RunOptions;
  /** A line for the person at the terminal (stderr). */
  note(text: string): void;
}

/** The ledger of a job (its target server), found with the job resolved at some logical time. */
async function ledgerOf(spec: JobSpec, ctx: LifecycleContext, logicalTime = new Date(), vars: Record<string, string> = {}) {
  return ctx.opener.openLedger(resolveRun(spec, logicalTime, vars).target);
}

/** Ranges not done yet, in words. */
const left = (run: RunRecord) => `${run.ranges - run.rangesDone} of ${run.ranges} ranges left`;

/**
 * `run JOB`: with a logical time, that time's run (created, or continued
 * if it exists and has not succeeded); without one, the job's unfinished
 * run with the same variables if there is one (said on stderr), else a new
 * run at the current time. `fresh` (--new) always starts a new logical time.
 */
export async function runJob(
  spec: JobSpec,
  request: { vars: Record<string, string>; logicalTime: Date | null; fresh: boolean },
  ctx: LifecycleContext,
): Promise<RunReport> {
  const { vars } = request;
  if (request.logicalTime === null && !request.fresh) {
    const ledger = await ledgerOf(spec, ctx, new Date(), vars);
    const unfinished = (await ledger.listRuns({ job: spec.name, unfinished: true, limit: 20 })).find((r) => varsHash(r.vars) === varsHash(vars));
    if (unfinished) {
      ctx.note(`batchsync: continuing run ${unfinished.runId} of job ${spec.name} (logical time ${unfinished.logicalTime.toISOString()}, ${left(unfinished)}); --new starts another`);
      return runLocally(ctx.runOptions(spec), (deps) => resumeRun(unfinished.runId, spec, deps));
    }
  }
  const logicalTime = request.logicalTime ?? new Date();
  return runLocally(ctx.runOptions(spec), (deps) => planRun({ job: spec, logicalTime, vars, mode: 'continue' }, deps));
}

/** `resume RUN_ID`: finishes a failed, cancelled or interrupted run from its checkpoints. */
export async function resumeJob(runId: string, spec: JobSpec, ctx: LifecycleContext): Promise<RunReport> {
  const run = await (await ledgerOf(spec, ctx)).getRun(runId);
  if (!run) throw new JobError(`no run ${runId} in the ledger of job ${spec.name}`);
  if (run.status === 'succeeded') throw new JobError(`run ${runId} has already succeeded: nothing to resume`);
  ctx.note(`batchsync: resuming run ${runId} of job ${spec.name} (logical time ${run.logicalTime.toISOString()}, ${run.status}, ${left(run)})`);
  return runLocally(ctx.runOptions(spec), (deps) => resumeRun(runId, spec, deps));
}

/** `rerun JOB --logical-time T`: that logical time again from scratch, refused where it could write a row twice. */
export async function rerunJob(spec: JobSpec, request: { vars: Record<string, string>; logicalTime: Date }, ctx: LifecycleContext): Promise<RunReport> {
  const { target } = await ctx.opener.open(resolveRun(spec, request.logicalTime, request.vars));
  const refusal = await rerunRefusal(spec, target);
  if (refusal) throw new JobError(refusal);
  return runLocally(ctx.runOptions(spec), (deps) => planRun({ job: spec, ...request, mode: 'rerun' }, deps));
}

/** `cancel RUN_ID`. */
export async function cancelJob(runId: string, spec: JobSpec, ctx: LifecycleContext): Promise<RunRecord> {
  const run = await (await ledgerOf(spec, ctx)).getRun(runId);
  if (!run) throw new JobError(`no run ${runId} in the ledger of job ${spec.name}`);
  const resources = await ctx.opener.open(resolveRun(spec, run.logicalTime, run.vars));
  return cancelRun(runId, resources, noEvents);
}

export interface BackfillLine {
  bizdate: string;
  job: string;
  runId: string | null;
  status: string;
  outcome: RunReport['outcome'] | 'waiting';
  error: string | null;
}

/**
 * The jobs of `all` that depend on `root`, directly or through others, each
 * after the ones it depends on. Dependencies outside that set (jobs the
 * backfill does not run) are not waited for.
 */
export function downstreamOf(root: string, all: readonly JobSpec[]): JobSpec[] {
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const job of all) {
      if (!below.has(job.name) && job.dependsOn.some((d) => below.has(d))) grew = Boolean(below.add(job.name));
    }
  }
  const pending = all.filter((j) => j.name !== root && below.has(j.name));
  const placed = new Set([root]);
  const order: JobSpec[] = [];
  while (pending.length) {
    const next = pending.findIndex((j) => j.dependsOn.every((d) => placed.has(d) || !below.has(d)));
    if (next < 0) throw new JobError(`dependsOn makes a cycle among ${pending.map((j) => j.name).join(', ')}`);
    const [job] = pending.splice(next, 1);
    placed.add(job.name);
    order.push(job);
  }
  return order;
}

/**
 * `backfill`: one run per business date from `from` to `to`, at the logical
 * time the job's schedule would have had; succeeded dates are skipped,
 * failed or interrupted ones continued. With `downstream`, the jobs that
 * depend on it follow each date, at the same logical time, once the runs
 * they wait for have succeeded. `parallel` dates run at once (each job's
 * maxConcurrency still holds across them). Calls `line` as each ends.
 */
export async function backfill(
  spec: JobSpec,
  request: { from: CalendarDate; to: CalendarDate; parallel: number; downstream: readonly JobSpec[]; vars: Record<string, string> },
  ctx: LifecycleContext,
  line: (l: BackfillLine) => void,
): Promise<BackfillLine[]> {
  const dates = datesBetween(request.from, request.to);
  const results: BackfillLine[] = [];
  const oneDate = async (date: CalendarDate) => {
    const logicalTime = logicalTimeForBizdate(spec, date);
    const succeeded = new Set<string>();
    for (const job of [spec, ...request.downstream]) {
      const waitingFor = job === spec ? [] : job.dependsOn.filter((d) => !succeeded.has(d) && (d === spec.name || request.downstream.some((j) => j.name === d)));
      let result: BackfillLine;
      if (waitingFor.length) {
        result = { bizdate: bizdateOf(date), job: job.name, runId: null, status: 'waiting', outcome: 'waiting', error: `waits for ${waitingFor.join(', ')}` };
      } else {
        const { run, outcome } = await runJob(job, { vars: request.vars, logicalTime, fresh: false }, ctx);
        if (run.status === 'succeeded') succeeded.add(job.name);
        result = { bizdate: bizdateOf(date), job: job.name, runId: run.runId, status: run.status, outcome, error: run.error };
      }
      results.push(result);
      line(result);
      if (result.outcome === 'interrupted') throw new Interrupted();
    }
  };
  const queue = [...dates];
  const lanes = Array.from({ length: Math.min(request.parallel, dates.length) }, async () => {
    for (let date = queue.shift(); date; date = queue.shift()) await oneDate(date);
  });
  try {
    await Promise.all(lanes);
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    queue.length = 0;
  }
  return results;
}

/** A backfill stopped by Ctrl-C: the dates done so far stand. */
class Interrupted extends Error {}
