/**
 * The AWS-side guarantees of issue 11, on synthesized templates: linked jobs
 * share a timezone, the hand-back loop is allowed, alarms and alerts, 150
 * jobs in one deploy, cdk-nag's AwsSolutions pack, and the construct in a
 * user's own CDK app.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { BatchsyncJobs } from '../../infra/construct.ts';
import { readConfig } from '../../infra/config.ts';
import { deployProblems, readDeployJobs } from '../../infra/jobs.ts';
import { BatchsyncStack } from '../../infra/stack.ts';
import { deployJobs, job, jobsDir, synth } from './synth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'infra/example-jobs');
type Resources = Record<string, Record<string, any>>;
const ref = (id: string) => ({ Ref: id });

const CONSUMER = 'batchsync: writes ranges into MySQL';
const PLANNER = 'batchsync: plans runs of the deployed jobs';

describe('jobs linked by dependsOn share a timezone', () => {
  it('a link between jobs of different timezones is refused, naming both jobs and both timezones', () => {
    const problems = deployProblems(
      deployJobs([
        job('write_result', { schedule: { cron: '0 2 * * ? *', timezone: 'Asia/Shanghai' } }),
        job('education_totals', { dependsOn: ['write_result'] }),
        job('same_zone', { timezone: 'Asia/Shanghai', dependsOn: ['write_result'] }),
        job('paris', { timezone: 'Europe/Paris' }),
        job('after_paris', { timezone: 'Europe/Paris', schedule: { cron: '0 3 * * ? *', timezone: 'UTC' }, dependsOn: ['paris'] }),
      ]),
      'batchsync-',
    );
    expect(problems).toEqual([
      'education_totals.json: dependsOn[0]: job "education_totals" (timezone UTC) depends on job "write_result" (timezone Asia/Shanghai): linked jobs must share a timezone, or ${bizdate} names different days for the same run',
      // The zone ${bizdate} is computed in is the schedule's when it names one.
      'after_paris.json: dependsOn[0]: job "after_paris" (timezone UTC) depends on job "paris" (timezone Europe/Paris): linked jobs must share a timezone, or ${bizdate} names different days for the same run',
    ]);
  });

  it('the example jobs deploy (their chain shares Asia/Shanghai), and a job schedule fires in the job timezone', () => {
    const jobs = readDeployJobs(EXAMPLES, 'batchsync-');
    expect(jobs.map((j) => j.spec.name)).toContain('education_totals');
    const { template } = synth([job('paris', { timezone: 'Europe/Paris', schedule: { cron: '5 * * * ? *' } })]);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(5 * * * ? *)', ScheduleExpressionTimezone: 'Europe/Paris' });
  });
});

describe('the hand-back loop', () => {
  it("the consumer's recursive-loop detection is Allow (a long range hands itself back more than 16 times); the planner's is left as is", () => {
    const { template } = synth([job('orders')]);
    template.hasResourceProperties('AWS::Lambda::Function', { Description: CONSUMER, RecursiveLoop: 'Allow' });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: PLANNER, RecursiveLoop: Match.absent() });
  });
});

describe('alarms and alerts', () => {
  const { template } = synth([job('orders'), job('customers', { channel: { maxConcurrency: 1 } })], { settings: { alertEmail: 'ops@example.com', stuckRunHours: '3' } });
  const topic = template.getResourceId('AWS::SNS::Topic', {});
  const fnId = (description: string) => template.getResourceId('AWS::Lambda::Function', { Properties: { Description: description } });
  /** Any alarm here: one period, at least 1, missing data OK: the next failure in a later minute alarms again. */
  const renotifying = { EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching', AlarmActions: [ref(topic)] };

  it("each function's Errors and Throttles alarm, per minute", () => {
    for (const description of [PLANNER, CONSUMER]) {
      for (const metric of ['Errors', 'Throttles']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          ...renotifying,
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: ref(fnId(description)) }],
          Period: 60,
          Statistic: 'Sum',
          Threshold: 1,
        });
      }
    }
  });

  it("each range queue's oldest message alarms after an hour; failed runs alarm per minute", () => {
    for (const name of ['orders', 'customers']) {
      const queue = template.getResourceId('AWS::SQS::Queue', { Properties: { QueueName: `batchsync-${name}.fifo` } });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...renotifying,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
        Threshold: 3600,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...renotifying, MetricName: 'RunsFailed', Period: 60, Statistic: 'Sum' });
    }
  });

  it('a stuck run alarms on StuckRuns (service, job); the age is the stuckRunHours setting, given to the planner', () => {
    for (const name of ['orders', 'customers']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...renotifying,
        Namespace: 'batchsync',
        MetricName: 'StuckRuns',
        Dimensions: Match.arrayEquals([
          { Name: 'job', Value: name },
          { Name: 'service', Value: 'batchsync' },
        ]),
        AlarmDescription: Match.stringLikeRegexp(`${name} has not ended after 3 hours`),
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', { Description: PLANNER, Environment: { Variables: Match.objectLike({ BATCHSYNC_STUCK_RUN_HOURS: '3' }) } });
    synth([job('orders')]).template.hasResourceProperties('AWS::Lambda::Function', {
      Description: PLANNER,
      Environment: { Variables: Match.objectLike({ BATCHSYNC_STUCK_RUN_HOURS: '6' }) },
    });
  });

  it('the planner is invoked every 15 minutes with {"action":"sweep"}', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      Target: { Arn: { 'Fn::GetAtt': [fnId(PLANNER), 'Arn'] }, Input: Match.serializedJson({ action: 'sweep' }) },
    });
  });

  it('-c alertEmail subscribes the address to the alerts topic; without it there is no subscription', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: ref(topic) });
    synth([job('orders')]).template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('each Run Failed on the bus sends a readable alert: job, run id, logical time, error and the status command', () => {
    const bus = template.getResourceId('AWS::Events::EventBus', {});
    const rules = Object.values(template.findResources('AWS::Events::Rule', { Properties: { EventBusName: ref(bus), EventPattern: { 'detail-type': ['Run Failed'] } } }));
    expect(rules).toHaveLength(1);
    const [target] = rules[0].Properties.Targets;
    expect(target.Arn).toEqual(ref(topic));
    expect(rules[0].Properties.EventPattern).toEqual({ source: ['batchsync'], 'detail-type': ['Run Failed'] });
    const { InputPathsMap, InputTemplate } = target.InputTransformer;
    // What SNS receives for a real-shaped event: the transformer applied.
    const event = { detail: { job: 'orders', runId: 'r-123', logicalTime: '2026-11-24T18:00:00Z', error: 'range 3: cannot log in to mysql://app@db:3306/reporting' } };
    let text = InputTemplate as string;
    for (const [name, path] of Object.entries(InputPathsMap as Record<string, string>)) {
      text = text.replaceAll(`<${name}>`, path.slice(2).split('.').reduce<any>((v, k) => v[k], event));
    }
    expect(JSON.parse(text)).toBe(
      [
        'batchsync batchsync: a run of job orders failed.',
        'Run: r-123',
        'Logical time: 2026-11-24T18:00:00Z',
        'Error: range 3: cannot log in to mysql://app@db:3306/reporting',
        'See its ranges: npx batchsync status r-123',
      ].join('\n'),
    );
  });

  it('the schedule group is deleted with the stack, so destroy-then-deploy makes it again', () => {
    template.hasResource('AWS::Scheduler::ScheduleGroup', { Properties: { Name: 'batchsync' }, DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
  });
});

/** Jobs of every kind: schedules, a dependsOn chain per timezone, S3 triggers and sources, one-at-a-time jobs. */
function manyJobs(count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => {
    const name = `job_${String(i).padStart(3, '0')}`;
    if (i % 5 === 0) return job(name, { schedule: { cron: `${i % 60} 2 * * ? *` } });
    if (i % 5 === 1) return job(name, { dependsOn: [`job_${String(i - 1).padStart(3, '0')}`], channel: { maxConcurrency: 1 } });
    if (i % 5 === 2) return job(name, { source: { type: 'files', url: `s3://landing/${name}/\${key}`, format: 'csv' }, triggers: [{ type: 's3', bucket: 'landing', prefix: `${name}/` }] });
    return job(name, { schedule: { cron: '0 * * * ? *' }, channel: { maxConcurrency: 8 } });
  });
}

describe('150 jobs in one deploy', () => {
  const jobs = manyJobs(150);
  const { stack, template, app } = synth(jobs);
  const assembly = app.synth();
  const templates = [stack, ...stack.batchsync.jobStacks.filter((s) => s !== stack.batchsync)].map((s) => Template.fromStack(s as Stack));

  it('the jobs spread over nested stacks, each under CloudFormation’s 500 resources; the description is short', () => {
    expect(stack.batchsync.jobStacks.length).toBeGreaterThan(1);
    for (const t of templates) expect(Object.keys(t.toJSON().Resources).length).toBeLessThan(500);
    template.resourceCountIs('AWS::CloudFormation::Stack', stack.batchsync.jobStacks.length);
    expect(assembly.getStackByName('batchsync').template.Description).toBe('batchsync batchsync: 150 jobs');
    const queues = templates.flatMap((t) => Object.values(t.findResources('AWS::SQS::Queue') as Resources).map((q) => q.Properties.QueueName).filter(Boolean));
    expect(queues).toHaveLength(300);
    expect(new Set(queues).size).toBe(300);
  });

  it("every job's queue has the consumer's event source, and the roles' policies stay small (one statement for every queue)", () => {
    const mappings = templates.flatMap((t) => Object.values(t.findResources('AWS::Lambda::EventSourceMapping')));
    expect(mappings).toHaveLength(150);
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy') as Resources)) {
      expect(JSON.stringify(policy.Properties.PolicyDocument).length).toBeLessThan(10_240);
    }
  });

  it('the CDK app synthesizes a directory of 150 job files (npm run synth, without bundling)', () => {
    const out = mkdtempSync(join(tmpdir(), 'batchsync-cdk-150-'));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, BATCHSYNC_JOBS_DIR: jobsDir(jobs), CDK_OUTDIR: out, CDK_VALIDATION: 'false', CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }) },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const nested = readdirSync(out).filter((f) => f.endsWith('.nested.template.json'));
    expect(nested.length).toBe(stack.batchsync.jobStacks.length);
    for (const f of [...nested, 'batchsync.template.json']) {
      expect(Object.keys(JSON.parse(readFileSync(join(out, f), 'utf8')).Resources).length).toBeLessThan(500);
    }
  }, 120_000);
});

describe("cdk-nag's AwsSolutions pack", () => {
  /** An app with the pack, the stack for these jobs and settings in it; synth throws on any finding not acknowledged in code. */
  function nagged(jobs: Array<Record<string, unknown>>, settings: Record<string, unknown> = {}, extra?: (stack: Stack) => void) {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const config = readConfig((key) => settings[key], {});
    const stack = new BatchsyncStack(app, config.name, { config, jobsDir: '/nonexistent', jobs: deployJobs(jobs), env: { account: '123456789012', region: 'eu-west-1' } });
    extra?.(stack);
    return () => app.synth();
  }

  it('the example jobs and a deployment using every feature (VPC, S3 sources and triggers, schedules, dependsOn, e-mail) pass', () => {
    expect(nagged(readDeployJobs(EXAMPLES, 'batchsync-').map((j) => JSON.parse(readFileSync(join(EXAMPLES, j.file), 'utf8'))))).not.toThrow();
    const settings = { vpcId: 'vpc-0abc', subnetIds: 'subnet-01,subnet-02', securityGroupIds: 'sg-0db', alertEmail: 'ops@example.com' };
    expect(nagged(manyJobs(10), settings)).not.toThrow();
  });

  it('150 jobs in nested stacks pass too', () => {
    expect(nagged(manyJobs(150))).not.toThrow();
  }, 120_000);

  it('a finding that is not acknowledged fails the synth (the check is live)', () => {
    expect(nagged([job('orders')], {}, (stack) => new sqs.Queue(stack, 'Unencrypted', { enforceSSL: false }))).toThrow(/AwsSolutions-SQS4/);
  });
});

describe('BatchsyncJobs in your own CDK app', () => {
  it('takes your VPC, security groups, alerts topic and secrets (typed), and wires the functions and alarms to them', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Mine', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-1'] });
    const sg = new ec2.SecurityGroup(stack, 'Db', { vpc });
    const topic = new sns.Topic(stack, 'Pager', { enforceSSL: true });
    const reporting = new secretsmanager.Secret(stack, 'Reporting');
    const jobs = deployJobs([job('orders'), job('nightly', { schedule: { cron: '0 2 * * ? *' } })]);
    const sync = new BatchsyncJobs(stack, 'Sync', { jobsDir: '/nonexistent', jobs, name: 'mine', vpc, securityGroups: [sg], alertsTopic: topic, secrets: { reporting } });
    const t = Template.fromStack(stack);
    const sgId = t.getResourceId('AWS::EC2::SecurityGroup', {});
    t.resourcePropertiesCountIs('AWS::Lambda::Function', { VpcConfig: { SubnetIds: ['subnet-1'], SecurityGroupIds: [{ 'Fn::GetAtt': [sgId, 'GroupId'] }] } }, 2);
    t.resourceCountIs('AWS::SNS::Topic', 1); // yours: no topic of its own
    t.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [ref(t.getResourceId('AWS::SNS::Topic', {}))] });
    const statements = Object.values(t.findResources('AWS::IAM::Policy') as Resources).flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    // Your secret by grantRead (its own ARN); the one given by name, by its name pattern.
    expect(statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(ref(t.getResourceId('AWS::SecretsManager::Secret', {}))))).toHaveLength(2);
    expect(JSON.stringify(statements)).toContain('secret:warehouse-??????');
    expect(JSON.stringify(statements)).not.toContain('secret:reporting-??????');
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'mine-orders.fifo' });
    expect(sync.planner.runtime.name).toBe('nodejs24.x');
  });

  it('is exported by the package as batchsync/cdk', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./cdk']).toBe('./infra/construct.ts');
  });
});

describe('synth loads no function runtime', () => {
  it('the infra modules import no database driver and no AWS SDK client (the shared names are in functions/names.ts)', async () => {
    const result = await build({
      entryPoints: [join(ROOT, 'infra/app.ts'), join(ROOT, 'infra/construct.ts')],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      outdir: join(tmpdir(), 'batchsync-infra-meta'),
    });
    const imported = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    const inputs = Object.keys(result.metafile.inputs);
    expect(imported).toEqual(expect.arrayContaining(['aws-cdk-lib', 'zod']));
    expect(imported.filter((p) => /^(mysql2|pg|pg-copy-streams|@aws-sdk\/|@aws-lambda-powertools\/|@middy\/|cdk-nag)/.test(p))).toEqual([]);
    expect(inputs.filter((p) => /lambda-env|adapters\//.test(p))).toEqual([]);
  });
});
