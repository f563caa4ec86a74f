import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { readConfig } from '../../infra/config.ts';
import type { DeployJob } from '../../infra/jobs.ts';
import { BatchsyncStack } from '../../infra/stack.ts';

/** A deployable job: secrets everywhere, nothing else set. */
export function job(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    source: { type: 'postgres', connection: { secretId: 'warehouse' }, table: `public.${name}` },
    target: { type: 'mysql', connection: { secretId: 'reporting' }, table: name },
    ...extra,
  };
}

/** Job files in a fresh directory, as a user keeps them. */
export function jobsDir(jobs: Array<Record<string, unknown>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'batchsync-infra-'));
  for (const j of jobs) writeFileSync(join(dir, `${j.name}.json`), JSON.stringify(j, null, 2));
  return dir;
}

/** The jobs as the stack takes them (checked by the job file schema; the deployment's own checks are loadDeployJobs'). */
export function deployJobs(jobs: Array<Record<string, unknown>>): DeployJob[] {
  return jobs.map((j) => ({ file: `${j.name}.json`, spec: JobSpec.parse(j) }));
}

export interface SynthOptions {
  /** Deployment settings, as context keys. */
  settings?: Record<string, unknown>;
  /** Bundle the functions with esbuild for real (slow: one test does it). */
  bundle?: boolean;
  dir?: string;
  /** The app to put the stack in (e.g. one with cdk-nag's checks); by default a new one. */
  app?: App;
}

/** The stack for these jobs, synthesized in memory; bundling is skipped unless asked for. */
export function synth(jobs: Array<Record<string, unknown>>, options: SynthOptions = {}): { stack: BatchsyncStack; template: Template; app: App } {
  const app =
    options.app ??
    new App({
      context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
      builtinCloudFormationValidation: false,
    });
  const settings = options.settings ?? {};
  const config = readConfig((key) => settings[key], {});
  const stack = new BatchsyncStack(app, config.name, {
    config,
    jobsDir: options.dir ?? '/nonexistent',
    jobs: deployJobs(jobs),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return { stack, template: Template.fromStack(stack), app };
}

/** A template value with the partition filled in, so ARNs compare as text. */
export function resolveArn(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'Fn::Join' in value) {
    const [sep, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return parts.map((p) => (typeof p === 'object' && p !== null && (p as { Ref?: string }).Ref === 'AWS::Partition' ? 'aws' : p)).join(sep);
  }
  return value;
}
