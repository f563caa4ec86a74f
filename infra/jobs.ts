import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobError } from '../functions/core/errors.ts';
import { type Connection, JobFileError, type JobSpec, parseJob } from '../functions/core/job-spec.ts';
import { deadLetterQueueName, rangeQueueName } from '../functions/names.ts';

export { deadLetterQueueName };

/** A job to deploy, and the file it came from (copied into the planner's bundle). */
export interface DeployJob {
  file: string;
  spec: JobSpec;
}

/** The longest SQS queue name. */
const QUEUE_NAME_MAX = 80;

/** The time zone a job's `${bizdate}` and `${cyctime}` are computed in (core/plan.ts), and its schedule fires in. */
export function varsTimeZone(job: JobSpec): string {
  return job.schedule?.timezone ?? job.timezone;
}

/** A job's connections, each with its path in the job file. */
function connectionsOf(job: JobSpec): Array<[path: string, conn: Pick<Connection, 'url' | 'urlFromEnv'>]> {
  const out: Array<[string, Pick<Connection, 'url' | 'urlFromEnv'>]> = [['target.connection', job.target.connection]];
  if (job.source.type !== 'files') {
    out.push(['source.connection', job.source.connection]);
    if (job.source.replica) out.push(['source.replica', job.source.replica]);
  } else if (job.source.connection) out.push(['source.connection', job.source.connection]);
  return out;
}

/** A job file with problems that only matter once it is deployed. */
function problemsOf(job: JobSpec, jobs: ReadonlyMap<string, JobSpec>, queuePrefix: string): string[] {
  const out: string[] = [];
  for (const [path, conn] of connectionsOf(job)) {
    if (conn.url !== undefined) {
      out.push(`${path}.url: a deployed job reads its credentials from Secrets Manager: use secretId (a url would carry the password in the job file and the function's bundle)`);
    }
    if (conn.urlFromEnv !== undefined) {
      out.push(`${path}.urlFromEnv: a deployed job reads its credentials from Secrets Manager: use secretId (the functions have no variable ${conn.urlFromEnv})`);
    }
  }
  if (job.source.type === 'files' && job.source.url.startsWith('file://')) {
    out.push('source.url: a deployed function has no local files to read (file://): put them in S3 (s3://bucket/prefix/)');
  }
  if (job.source.type === 'files' && /^s3:\/\/[^/]*\$\{/.test(job.source.url) && !job.triggers.some((t) => t.type === 's3')) {
    out.push('source.url: the bucket is a variable but the job has no S3 trigger to take it from: name the bucket, so it can be granted');
  }
  if (job.schedule && job.schedule.cron.trim().split(/\s+/).length !== 6) {
    out.push('schedule.cron: EventBridge Scheduler takes six fields: minutes hours day-of-month month day-of-week year (e.g. "0 2 * * ? *")');
  }
  job.dependsOn.forEach((upstream, i) => {
    if (upstream === job.name) out.push(`dependsOn[${i}]: a job cannot depend on itself`);
    else if (!jobs.has(upstream)) out.push(`dependsOn[${i}]: no job "${upstream}" is deployed`);
    else {
      // A downstream run starts at its upstream's logical time: in another zone ${bizdate} would name another day.
      const up = varsTimeZone(jobs.get(upstream) as JobSpec);
      const own = varsTimeZone(job);
      if (up !== own) {
        out.push(`dependsOn[${i}]: job "${job.name}" (timezone ${own}) depends on job "${upstream}" (timezone ${up}): linked jobs must share a timezone, or \${bizdate} names different days for the same run`);
      }
    }
  });
  const dlq = deadLetterQueueName(rangeQueueName(queuePrefix, job));
  if (dlq.length > QUEUE_NAME_MAX) {
    out.push(`name: its queue ${dlq} would be longer than SQS allows (${QUEUE_NAME_MAX}); shorten the job name or the deployment name`);
  }
  return out;
}

/** The jobs on a dependency cycle, as `a -> b -> a`, or null. */
function findCycle(jobs: ReadonlyMap<string, JobSpec>): string | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string | null => {
    if (state.get(name) === 'done') return null;
    if (state.get(name) === 'visiting') return [...path.slice(path.indexOf(name)), name].join(' -> ');
    state.set(name, 'visiting');
    path.push(name);
    for (const upstream of jobs.get(name)?.dependsOn ?? []) {
      const cycle = jobs.has(upstream) ? visit(upstream) : null;
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };
  for (const name of jobs.keys()) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return null;
}

/**
 * Problems of a set of jobs as a deployment, each `file: path: message`:
 * connections that are not secretId, local files, dependencies on jobs that
 * are not deployed, in another timezone or that form a cycle, queue names
 * too long for SQS.
 */
export function deployProblems(jobs: readonly DeployJob[], queuePrefix: string): string[] {
  const byName = new Map(jobs.map((j) => [j.spec.name, j.spec]));
  const out = jobs.flatMap((j) => problemsOf(j.spec, byName, queuePrefix).map((p) => `${j.file}: ${p}`));
  const cycle = findCycle(byName);
  if (cycle) out.push(`dependsOn: the jobs depend on each other in a cycle: ${cycle}`);
  return out;
}

/** Jobs that cannot be deployed; the message lists every problem. */
export class DeployJobsError extends JobError {
  constructor(readonly problems: string[]) {
    super(`cannot deploy these jobs:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/**
 * Reads every `*.json` job file of a directory, checks each with the job
 * file schema and then as a deployment. Throws a DeployJobsError listing
 * every problem, each with its file and the path in it. Synchronous, as a
 * CDK construct's constructor is.
 */
export function readDeployJobs(dir: string, queuePrefix: string): DeployJob[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    throw new DeployJobsError([`${dir}: cannot read the jobs directory (give another with -c jobsDir=path or BATCHSYNC_JOBS_DIR)`]);
  }
  if (files.length === 0) throw new DeployJobsError([`${dir}: no job files (*.json) to deploy`]);

  const problems: string[] = [];
  const jobs: DeployJob[] = [];
  const fileOf = new Map<string, string>();
  for (const file of files) {
    try {
      const spec = parseJob(readFileSync(join(dir, file), 'utf8'), file);
      const other = fileOf.get(spec.name);
      if (other) problems.push(`${file}: name: job "${spec.name}" is also the name of ${other}`);
      fileOf.set(spec.name, file);
      jobs.push({ file, spec });
    } catch (error) {
      if (error instanceof JobFileError) problems.push(...error.problems.map((p) => `${file}: ${p}`));
      else if (error instanceof JobError) problems.push(error.message);
      else throw error;
    }
  }
  problems.push(...deployProblems(jobs, queuePrefix));
  if (problems.length) throw new DeployJobsError(problems);
  return jobs;
}

/** readDeployJobs, as a promise. */
export async function loadDeployJobs(dir: string, queuePrefix: string): Promise<DeployJob[]> {
  return readDeployJobs(dir, queuePrefix);
}
