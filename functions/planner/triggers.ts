import { z } from 'zod';
import { JobError } from '../core/errors.ts';
import type { JobSpec } from '../core/job-spec.ts';

/** A request to plan one job at one logical time. */
export interface Trigger {
  job: string;
  logicalTime: Date;
  vars: Record<string, string>;
  /** Jobs whose runs of this logical time must have succeeded first. */
  waitFor: string[];
}

const Time = z.iso.datetime({ offset: true }).transform((t) => new Date(t));

/** A manual invoke, and the input of the EventBridge Scheduler schedules the stack creates. */
const Direct = z.object({
  job: z.string(),
  logicalTime: Time.optional(),
  vars: z.record(z.string(), z.string()).default({}),
});

/** An EventBridge event: batchsync's own run outcomes, or S3's Object Created. */
const BusEvent = z.object({
  source: z.string(),
  'detail-type': z.string(),
  time: Time,
  detail: z.record(z.string(), z.unknown()),
});

const RunSucceeded = z.object({ job: z.string(), runId: z.string(), logicalTime: Time });
const ObjectCreated = z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) });

/**
 * The jobs an event starts, and at which logical time. A schedule or manual
 * invoke names its job; a "Run Succeeded" event starts the jobs that depend
 * on that job, at the same logical time; an S3 "Object Created" event starts
 * the jobs with a trigger on that bucket and prefix, at the event's time.
 */
export function triggersOf(event: unknown, jobs: ReadonlyMap<string, JobSpec>, now: Date): Trigger[] {
  const direct = Direct.safeParse(event);
  if (direct.success) {
    const job = jobs.get(direct.data.job);
    if (!job) throw new JobError(`unknown job "${direct.data.job}" (deployed: ${[...jobs.keys()].join(', ')})`);
    return [{ job: job.name, logicalTime: direct.data.logicalTime ?? now, vars: direct.data.vars, waitFor: job.dependsOn }];
  }
  const bus = BusEvent.safeParse(event);
  if (!bus.success) throw new JobError('the planner takes { job, logicalTime?, vars? } or an EventBridge event');
  const { source, 'detail-type': type, detail, time } = bus.data;
  if (source === 'batchsync' && type === 'Run Succeeded') {
    const upstream = RunSucceeded.parse(detail);
    return [...jobs.values()]
      .filter((j) => j.dependsOn.includes(upstream.job))
      .map((j) => ({ job: j.name, logicalTime: upstream.logicalTime, vars: {}, waitFor: j.dependsOn }));
  }
  if (source === 'aws.s3' && type === 'Object Created') {
    const { bucket, object } = ObjectCreated.parse(detail);
    return [...jobs.values()]
      .filter((j) => j.triggers.some((t) => t.bucket === bucket.name && object.key.startsWith(t.prefix)))
      .map((j) => ({ job: j.name, logicalTime: time, vars: { bucket: bucket.name, key: object.key }, waitFor: j.dependsOn }));
  }
  return [];
}
