import { z } from 'zod';
import { JobError } from '../core/errors.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { cancelRun, planRun, type PlannerDeps, type PlanResult, resumeRun, rerunRefusal } from '../core/plan.ts';
import { bizdateOf, datesBetween, logicalTimeForBizdate, parseDate } from '../core/schedule.ts';
import { sweep, type SweepDeps, type SweepResult } from '../core/sweep.ts';
import { resolveRun } from '../core/vars.ts';

const Time = z.iso.datetime({ offset: true }).transform((t) => new Date(t));
const Vars = z.record(z.string(), z.string()).default({});

/**
 * The lifecycle as invoke payloads of the planner function (`aws lambda
 * invoke --payload '{"action": "resume", ...}'`), and the sweep its
 * schedule sends every 15 minutes: the same actions as the command line's
 * `resume`, `rerun`, `backfill` and `cancel`.
 */
export const PlannerAction = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('resume'), job: z.string(), runId: z.string() }),
  z.strictObject({ action: z.literal('cancel'), job: z.string(), runId: z.string() }),
  z.strictObject({ action: z.literal('rerun'), job: z.string(), logicalTime: Time, vars: Vars }),
  z.strictObject({ action: z.literal('backfill'), job: z.string(), from: z.string(), to: z.string(), vars: Vars }),
  z.strictObject({ action: z.literal('sweep') }),
]);
export type PlannerAction = z.infer<typeof PlannerAction>;

export interface ActionDeps extends SweepDeps {
  jobs: ReadonlyMap<string, JobSpec>;
}

export interface ActionResult {
  job: string;
  runId: string;
  logicalTime: string;
  outcome: PlanResult['outcome'] | 'cancelled';
  ranges: number;
}

function jobOf(name: string, deps: ActionDeps): JobSpec {
  const job = deps.jobs.get(name);
  if (!job) throw new JobError(`unknown job "${name}" (deployed: ${[...deps.jobs.keys()].join(', ')})`);
  return job;
}

const reported = (r: PlanResult, logicalTime: Date): ActionResult => ({ job: r.job.name, runId: r.runId, logicalTime: logicalTime.toISOString(), outcome: r.outcome, ranges: r.ranges });

/**
 * Carries out one action. On AWS a backfill queues every date at once (they
 * share the job's maxConcurrency), and the jobs that depend on it follow
 * each date through their dependsOn rules, as they do for scheduled runs.
 */
export async function runAction(action: PlannerAction, deps: ActionDeps): Promise<ActionResult[] | SweepResult[]> {
  if (action.action === 'sweep') return sweep([...deps.jobs.values()], deps);
  const spec = jobOf(action.job, deps);
  const plannerDeps: PlannerDeps = { ...deps, queue: deps.queueFor(spec) };
  switch (action.action) {
    case 'resume': {
      const result = await resumeRun(action.runId, spec, plannerDeps);
      const run = await (await deps.ledgerOf(result.job)).getRun(action.runId);
      return [reported(result, run?.logicalTime ?? new Date(0))];
    }
    case 'cancel': {
      const found = await (await deps.ledgerOf(resolveRun(spec, deps.now(), {}))).getRun(action.runId);
      if (!found) throw new JobError(`no run ${action.runId} of job ${spec.name}`);
      const resources = await deps.open(resolveRun(spec, found.logicalTime, found.vars));
      const run = await cancelRun(action.runId, resources, deps.events);
      return [{ job: spec.name, runId: run.runId, logicalTime: run.logicalTime.toISOString(), outcome: 'cancelled', ranges: 0 }];
    }
    case 'rerun': {
      const { target } = await deps.open(resolveRun(spec, action.logicalTime, action.vars));
      const refusal = await rerunRefusal(spec, target);
      if (refusal) throw new JobError(refusal);
      return [reported(await planRun({ job: spec, logicalTime: action.logicalTime, vars: action.vars, mode: 'rerun' }, plannerDeps), action.logicalTime)];
    }
    case 'backfill': {
      const results: ActionResult[] = [];
      for (const date of datesBetween(parseDate(action.from, 'from'), parseDate(action.to, 'to'))) {
        const logicalTime = logicalTimeForBizdate(spec, date);
        const result = await planRun({ job: spec, logicalTime, vars: action.vars, mode: 'continue' }, plannerDeps);
        results.push({ ...reported(result, logicalTime), job: `${spec.name} ${bizdateOf(date)}` });
      }
      return results;
    }
  }
}
