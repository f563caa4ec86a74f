import middy from '@middy/core';
import type { JobSpec } from '../core/job-spec.ts';
import { type JobResources, type PlanOutcome, planRun } from '../core/plan.ts';
import type { SweepResult } from '../core/sweep.ts';
import { type ActionDeps, type ActionResult, PlannerAction, runAction } from './actions.ts';
import type { Events, Ledger, Queue } from '../core/ports.ts';
import type { Log } from '../consumer/consumer.ts';
import { type Trigger, triggersOf } from './triggers.ts';

export interface PlannerHandlerDeps extends ActionDeps {
  jobs: ReadonlyMap<string, JobSpec>;
  open(job: JobSpec): Promise<JobResources>;
  /** The ledger a job's runs are recorded in (its target server). */
  ledgerOf(job: JobSpec): Promise<Ledger>;
  queueFor(job: JobSpec): Queue;
  events: Events;
  newRunId(): string;
  now(): Date;
  log: Log;
}

export interface PlannedJob {
  job: string;
  logicalTime: string;
  outcome: PlanOutcome | 'waiting';
  runId: string | null;
  ranges: number;
}

/** True when every job the trigger waits for has a succeeded run of the same logical time. */
async function upstreamsDone(trigger: Trigger, deps: PlannerHandlerDeps): Promise<boolean> {
  for (const name of trigger.waitFor) {
    const upstream = deps.jobs.get(name);
    const runs = upstream ? await (await deps.ledgerOf(upstream)).listRuns({ job: name, logicalTime: trigger.logicalTime, limit: 10 }) : [];
    if (!runs.some((r) => r.status === 'succeeded' && !r.supersededBy)) return false;
  }
  return true;
}

/**
 * The planner as a Lambda handler: the event names the jobs to start (a
 * schedule, a manual invoke, an upstream job's success, a new S3 object);
 * each is planned by the core, at most one run per job and logical time.
 */
export function createPlannerHandler(deps: PlannerHandlerDeps) {
  return middy<unknown, PlannedJob[] | ActionResult[] | SweepResult[]>().handler(async (event) => {
    const action = PlannerAction.safeParse(event);
    if (action.success) {
      const done = await runAction(action.data, deps);
      deps.log.info(action.data.action, { results: done });
      return done;
    }
    const planned: PlannedJob[] = [];
    for (const trigger of triggersOf(event, deps.jobs, deps.now())) {
      const job = deps.jobs.get(trigger.job) as JobSpec;
      const logicalTime = trigger.logicalTime.toISOString();
      if (!(await upstreamsDone(trigger, deps))) {
        planned.push({ job: job.name, logicalTime, outcome: 'waiting', runId: null, ranges: 0 });
        continue;
      }
      const result = await planRun(
        { job, logicalTime: trigger.logicalTime, vars: trigger.vars, mode: 'trigger', distinctVars: trigger.distinctVars },
        { open: deps.open, queue: deps.queueFor(job), events: deps.events, newRunId: deps.newRunId },
      );
      planned.push({ job: job.name, logicalTime, outcome: result.outcome, runId: result.runId, ranges: result.ranges });
    }
    for (const p of planned) deps.log.info('planned', { ...p });
    return planned;
  });
}
