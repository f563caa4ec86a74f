import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DeployJobsError, deployProblems, loadDeployJobs } from '../../infra/jobs.ts';
import { deployJobs, job, jobsDir } from './synth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('jobs that cannot be deployed', () => {
  it('every connection must be a secretId: a url (with or without a password) and urlFromEnv are refused, with their paths', () => {
    const problems = deployProblems(
      deployJobs([
        job('a', { target: { type: 'mysql', connection: { url: 'mysql://admin:hunter2@db/reporting' }, table: 'a' } }),
        job('b', { source: { type: 'postgres', connection: { urlFromEnv: 'WAREHOUSE_URL' }, table: 'b' } }),
        job('c', { source: { type: 'postgres', connection: { url: 'postgres://reader@warehouse/dw' }, table: 'c' } }),
      ]),
      'batchsync-',
    );
    expect(problems).toEqual([
      expect.stringMatching(/^a\.json: target\.connection\.url: a deployed job reads its credentials from Secrets Manager: use secretId/),
      expect.stringMatching(/^b\.json: source\.connection\.urlFromEnv: .*use secretId \(the functions have no variable WAREHOUSE_URL\)$/),
      expect.stringMatching(/^c\.json: source\.connection\.url: /),
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('local files, unknown or circular dependencies, a cron that is not six fields and names too long for SQS are refused', () => {
    const problems = deployProblems(
      deployJobs([
        job('files', {
          source: { type: 'files', url: 'file:///data/', format: 'csv' },
          schedule: { cron: '0 2 * * *' },
        }),
        job('x', { dependsOn: ['y', 'nowhere'] }),
        job('y', { dependsOn: ['x'] }),
        job('self', { dependsOn: ['self'] }),
        job('anybucket', { source: { type: 'files', url: 's3://${bucket}/${key}', format: 'csv' } }),
        job('a'.repeat(64), { channel: { maxConcurrency: 1 } }),
      ]),
      'batchsync-',
    );
    expect(problems).toEqual([
      'files.json: source.url: a deployed function has no local files to read (file://): put them in S3 (s3://bucket/prefix/)',
      expect.stringMatching(/^files\.json: schedule\.cron: EventBridge Scheduler takes six fields/),
      'x.json: dependsOn[1]: no job "nowhere" is deployed',
      'self.json: dependsOn[0]: a job cannot depend on itself',
      'anybucket.json: source.url: the bucket is a variable but the job has no S3 trigger to take it from: name the bucket, so it can be granted',
      expect.stringMatching(new RegExp(`^a{64}\\.json: name: its queue batchsync-a{64}-dlq\\.fifo would be longer than SQS allows \\(80\\)`)),
      'dependsOn: the jobs depend on each other in a cycle: x -> y -> x',
    ]);
  });

  it('a directory of job files: each problem is named with its file and path, the schema checks included', async () => {
    const dir = jobsDir([job('good'), { ...job('bad'), target: { type: 'mysql', connection: { secretId: 's' }, table: 't', colums: ['x'] } }]);
    writeFileSync(join(dir, 'broken.json'), '{ "name": ');
    writeFileSync(join(dir, 'copy.json'), JSON.stringify(job('good')));
    writeFileSync(join(dir, 'notes.txt'), 'not a job');
    const error = await loadDeployJobs(dir, 'batchsync-').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeployJobsError);
    expect((error as DeployJobsError).problems).toEqual([
      'bad.json: target.colums: unknown key; did you mean columns?',
      expect.stringMatching(/^broken\.json: invalid JSON/),
      'good.json: name: job "good" is also the name of copy.json',
    ]);
  });

  it('an empty or missing directory is an error, not an empty deployment', async () => {
    await expect(loadDeployJobs(jobsDir([]), 'batchsync-')).rejects.toThrow(/no job files \(\*\.json\) to deploy/);
    await expect(loadDeployJobs('/nonexistent/jobs', 'batchsync-')).rejects.toThrow(/cannot read the jobs directory \(give another with -c jobsDir=path or BATCHSYNC_JOBS_DIR\)/);
  });
});

describe('the CDK app', () => {
  const app = (env: Record<string, string>) => {
    const out = mkdtempSync(join(tmpdir(), 'batchsync-cdk-out-'));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      // As `cdk synth` runs the app, without bundling or CloudFormation's schema validation (15 s).
      env: { ...process.env, CDK_OUTDIR: out, CDK_VALIDATION: 'false', CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }), ...env },
    });
    return { ...result, out };
  };

  it('a bad job file stops the synth with its file name and the path of the problem', () => {
    const dir = jobsDir([job('fine'), job('wrong', { channel: { maxConcurrency: 0 } })]);
    const { status, stderr } = app({ BATCHSYNC_JOBS_DIR: dir });
    expect(status).toBe(1);
    expect(stderr).toContain('batchsync: cannot deploy these jobs:\n  wrong.json: channel.maxConcurrency: Too small');
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('deploys the directory given by BATCHSYNC_JOBS_DIR, named by BATCHSYNC_NAME', () => {
    const { status, stderr, out } = app({ BATCHSYNC_JOBS_DIR: jobsDir([job('one'), job('two')]), BATCHSYNC_NAME: 'reporting' });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const template = JSON.parse(readFileSync(join(out, 'reporting.template.json'), 'utf8'));
    const queues = Object.values(template.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.QueueName)
      .map((r) => r.Properties.QueueName);
    expect(queues.sort()).toEqual(['reporting-one-dlq.fifo', 'reporting-one.fifo', 'reporting-two-dlq.fifo', 'reporting-two.fifo']);
  });
});
