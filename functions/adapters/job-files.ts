import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JobError } from '../core/errors.ts';
import { type JobSpec, parseJob } from '../core/job-spec.ts';

/** Every `*.json` job file of a directory, parsed and checked; names must be unique. */
export async function loadJobDir(dir: string): Promise<Map<string, JobSpec>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    throw new JobError(`jobs directory ${dir} cannot be read`);
  }
  const jobs = new Map<string, JobSpec>();
  for (const name of names) {
    const job = parseJob(await readFile(join(dir, name), 'utf8'), name);
    if (jobs.has(job.name)) throw new JobError(`${name}: job name "${job.name}" is used by another job file`);
    jobs.set(job.name, job);
  }
  return jobs;
}
