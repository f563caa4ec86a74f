import { JobError } from '../core/errors.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { matchingEventTriggers, triggersOf } from '../planner/triggers.ts';
import { readJsonFile } from './args.ts';

/** What `--event FILE` gives `run` and `plan`: the run the deployed planner would start for that event. */
export interface EventStart {
  logicalTime: Date;
  vars: Record<string, string>;
}

/**
 * The logical time and variables the deployed planner would give this job
 * for the event in `file` (a captured EventBridge event, or a planner input
 * such as `{ "job": …, "logicalTime": … }`). An event the job's triggers do
 * not match is a JobError (exit 2) saying why.
 */
export async function eventStart(job: JobSpec, file: string, logicalTimeGiven: boolean): Promise<EventStart> {
  if (logicalTimeGiven) throw new JobError('--event gives the logical time: --logical-time cannot be used with it');
  const event = await readJsonFile('--event', file);
  // The planner's own routing, over this one job: what a deployed rule would start, and nothing else.
  let started;
  try {
    started = triggersOf(event, new Map([[job.name, job]]), new Date());
  } catch (error) {
    if (error instanceof JobError) throw new JobError(`--event ${file}: ${error.message}`, { cause: error });
    throw error;
  }
  const mine = started.find((t) => t.job === job.name);
  if (!mine) {
    const { reasons } = matchingEventTriggers(job, event);
    const why = reasons.length ? reasons.join('; ') : job.triggers.length ? 'no trigger of the job takes this event' : 'the job has no triggers';
    throw new JobError(`--event ${file}: the event does not start job ${job.name}: ${why}`);
  }
  return { logicalTime: mine.logicalTime, vars: mine.vars };
}
