import { z } from 'zod';
import { JobError } from '../core/errors.ts';
import { explainMismatch, valueAtPath } from '../core/event-pattern.ts';
import type { EventTrigger, JobSpec } from '../core/job-spec.ts';

/** A request to plan one job at one logical time. */
export interface Trigger {
  job: string;
  logicalTime: Date;
  vars: Record<string, string>;
  /** Jobs whose runs of this logical time must have succeeded first. */
  waitFor: string[];
  /** One run per S3 object: objects created in the same second are runs of the same logical time with other variables. */
  distinctVars?: boolean;
}

const Time = z.iso.datetime({ offset: true }).transform((t) => new Date(t));

/** A manual invoke, and the input of the EventBridge Scheduler schedules the stack creates. */
const Direct = z.object({
  job: z.string(),
  logicalTime: Time.optional(),
  vars: z.record(z.string(), z.string()).default({}),
  /** Set by the stack's S3 rules: each object is its own run, even when two share a second. */
  distinctVars: z.boolean().optional(),
});

/** An EventBridge event: batchsync's own run outcomes, or S3's Object Created. */
const BusEvent = z.object({
  source: z.string(),
  'detail-type': z.string(),
  time: Time,
  detail: z.record(z.string(), z.unknown()),
});

const RunSucceeded = z.object({ job: z.string(), runId: z.string(), logicalTime: Time });
const ObjectCreated = z.object({
  bucket: z.object({ name: z.string() }),
  object: z.object({ key: z.string(), etag: z.string().optional() }),
});

/**
 * The variables naming one S3 object: bucket, key and ETag, the same three
 * the stack's S3 rule passes (infra/event-triggers.ts). They are part of the
 * run's identity, so each object gets its own run even when two arrive in
 * the same second, an overwritten object a new one, and a redelivery of the
 * same event joins the run it started. (The version id is left out: the
 * rule cannot pass a field that unversioned buckets' events lack.)
 */
export function objectVars(detail: z.infer<typeof ObjectCreated>): Record<string, string> {
  const { bucket, object } = detail;
  return { bucket: bucket.name, key: object.key, ...(object.etag !== undefined && { etag: object.etag }) };
}

/**
 * The logical time and variables an event gives a run of an event trigger:
 * the time at `trigger.logicalTime` (default the event's `time`), each
 * variable at its path. The same event always gives the same values, so a
 * second delivery joins the run of the first. A path the event lacks is a
 * JobError naming it.
 */
export function eventRun(trigger: EventTrigger, event: unknown, where: string): { logicalTime: Date; vars: Record<string, string> } {
  const timeValue = valueAtPath(event, trigger.logicalTime);
  const logicalTime = typeof timeValue === 'string' || typeof timeValue === 'number' ? new Date(timeValue) : new Date(Number.NaN);
  if (Number.isNaN(logicalTime.getTime())) {
    throw new JobError(`${where}.logicalTime: ${trigger.logicalTime} in the event is ${timeValue === undefined ? 'absent' : JSON.stringify(timeValue)}, not a date and time`);
  }
  const vars: Record<string, string> = {};
  for (const [name, path] of Object.entries(trigger.vars)) {
    const value = valueAtPath(event, path);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new JobError(`${where}.vars.${name}: ${path} in the event is ${value === undefined ? 'absent' : 'not a string, number or boolean'}`);
    }
    vars[name] = String(value);
  }
  return { logicalTime, vars };
}

/** The job's event triggers the event matches, with their index; and why each other one does not. */
export function matchingEventTriggers(job: JobSpec, event: unknown): { matched: Array<{ trigger: EventTrigger; index: number }>; reasons: string[] } {
  const matched: Array<{ trigger: EventTrigger; index: number }> = [];
  const reasons: string[] = [];
  job.triggers.forEach((trigger, index) => {
    if (trigger.type !== 'event') return;
    const reason = explainMismatch(trigger.pattern, event);
    if (reason === null) matched.push({ trigger, index });
    else reasons.push(`triggers[${index}]: ${reason}`);
  });
  return { matched, reasons };
}

/**
 * The jobs an event starts, and at which logical time. A schedule or manual
 * invoke names its job; a "Run Succeeded" event starts the jobs that depend
 * on that job, at the same logical time; an S3 "Object Created" event starts
 * the jobs with a trigger on that bucket and prefix, at the event's time,
 * with the object as variables; any event starts the jobs with an event
 * trigger whose pattern it matches (the first such trigger of a job gives the
 * run's logical time and variables).
 */
export function triggersOf(event: unknown, jobs: ReadonlyMap<string, JobSpec>, now: Date): Trigger[] {
  const direct = Direct.safeParse(event);
  if (direct.success) {
    const job = jobs.get(direct.data.job);
    if (!job) throw new JobError(`unknown job "${direct.data.job}" (deployed: ${[...jobs.keys()].join(', ')})`);
    const { logicalTime, vars, distinctVars } = direct.data;
    return [{ job: job.name, logicalTime: logicalTime ?? now, vars, waitFor: job.dependsOn, distinctVars }];
  }
  const bus = BusEvent.safeParse(event);
  if (!bus.success) throw new JobError('the planner takes { job, logicalTime?, vars? } or an EventBridge event');
  const { source, 'detail-type': type, detail, time } = bus.data;
  const out: Trigger[] = [];
  if (source === 'batchsync' && type === 'Run Succeeded') {
    const upstream = RunSucceeded.parse(detail);
    for (const j of jobs.values()) {
      if (j.dependsOn.includes(upstream.job)) out.push({ job: j.name, logicalTime: upstream.logicalTime, vars: {}, waitFor: j.dependsOn });
    }
  }
  if (source === 'aws.s3' && type === 'Object Created') {
    const object = ObjectCreated.parse(detail);
    for (const j of jobs.values()) {
      const hit = j.triggers.some((t) => t.type === 's3' && t.bucket === object.bucket.name && object.object.key.startsWith(t.prefix));
      if (hit) out.push({ job: j.name, logicalTime: time, vars: objectVars(object), waitFor: j.dependsOn, distinctVars: true });
    }
  }
  for (const j of jobs.values()) {
    if (out.some((t) => t.job === j.name)) continue;
    const [first] = matchingEventTriggers(j, event).matched;
    if (first) out.push({ job: j.name, ...eventRun(first.trigger, event, `${j.name}: triggers[${first.index}]`), waitFor: j.dependsOn });
  }
  return out;
}
