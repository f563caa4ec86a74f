import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { job, synth } from './synth.ts';

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

const glueSucceeded = { source: ['aws.glue'], 'detail-type': ['Glue Job State Change'], detail: { jobName: ['insert_data'], state: ['SUCCEEDED'] } };
const custom = { source: ['my.pipeline'], 'detail-type': ['Export Ready'], detail: { table: [{ prefix: 'result_' }], rows: [{ numeric: ['>', 0] }] } };

describe('event triggers', () => {
  const { template } = synth([
    job('write_result', { triggers: [{ type: 'event', pattern: glueSucceeded, vars: { upstream: '$.detail.jobRunId' } }] }),
    job('from_pipeline', { triggers: [{ type: 'event', pattern: custom, bus: 'pipeline-events' }] }),
  ]);
  const planner = template.getResourceId('AWS::Lambda::Function', { Properties: { Description: 'batchsync: plans runs of the deployed jobs' } });
  const failures = template.getResourceId('AWS::SQS::Queue', { Properties: { MessageRetentionPeriod: 14 * 86400, QueueName: Match.absent() } });
  // The trigger rules (the stack's own rule on batchsync's Run Failed events aside).
  const triggerRules = Object.entries(template.findResources('AWS::Events::Rule')).filter(([, r]) => r.Properties.EventPattern.source[0] !== 'batchsync');
  const rules = triggerRules.map(([, r]) => r.Properties);

  it('one rule per event trigger, with the pattern as written, on the default bus, the event itself as the planner input', () => {
    expect(rules).toHaveLength(2);
    const glue = rules.find((r) => r.EventPattern.source[0] === 'aws.glue');
    expect(glue.EventPattern).toEqual(glueSucceeded);
    expect(glue.EventBusName).toBeUndefined();
    expect(glue.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: arnOf(planner),
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: arnOf(failures) },
      },
    ]);
  });

  it('a named bus is the rule’s bus; matchers (prefix, numeric) pass through unchanged', () => {
    const rule = rules.find((r) => r.EventPattern.source[0] === 'my.pipeline');
    expect(rule.EventPattern).toEqual(custom);
    expect(rule.EventBusName).toBe('pipeline-events');
    expect(rule.Targets[0]).toMatchObject({ Arn: arnOf(planner), DeadLetterConfig: { Arn: arnOf(failures) } });
  });

  it('each rule may invoke the planner, and only from that rule', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'events.amazonaws.com' } })).map((p) => p.Properties);
    expect(permissions).toHaveLength(2);
    const ruleIds = triggerRules.map(([id]) => id).sort();
    expect(permissions.map((p) => p.SourceArn).sort((a, b) => (a['Fn::GetAtt'][0] < b['Fn::GetAtt'][0] ? -1 : 1))).toEqual(ruleIds.map(arnOf));
    for (const p of permissions) expect(p).toMatchObject({ Action: 'lambda:InvokeFunction', FunctionName: arnOf(planner) });
  });

  it('the trigger-failures queue accepts the rules’ dead letters from those rules only', () => {
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).map((p) => p.Properties.PolicyDocument.Statement).flat();
    const fromRules = policy.filter((s: any) => s.Principal?.Service === 'events.amazonaws.com');
    expect(fromRules.length).toBeGreaterThan(0);
    for (const s of fromRules) {
      expect(s.Resource).toEqual(arnOf(failures));
      expect(JSON.stringify(s.Condition)).toContain('aws:SourceArn');
    }
  });

  it('an event trigger with a bad pattern or path is refused when the job is read', () => {
    expect(() => synth([job('bad', { triggers: [{ type: 'event', pattern: { source: 'aws.glue' } }] })])).toThrow(/source: expected a list of values/);
    expect(() => synth([job('bad', { triggers: [{ type: 'event', pattern: glueSucceeded, logicalTime: 'detail.time' }] })])).toThrow(/must be a path into the event/);
  });
});

describe('the example jobs of examples/events', () => {
  it('deploy: one rule each, on the default bus, with the pattern of the job file', async () => {
    const { loadDeployJobs } = await import('../../infra/jobs.ts');
    const { fileURLToPath } = await import('node:url');
    const jobs = await loadDeployJobs(fileURLToPath(new URL('../../examples/events/', import.meta.url)), 'batchsync-');
    expect(jobs.length).toBe(5);
    const { template } = synth(jobs.map((j) => j.spec as unknown as Record<string, unknown>));
    const patterns = Object.values(template.findResources('AWS::Events::Rule'))
      .map((r) => r.Properties.EventPattern)
      .filter((p) => p.source[0] !== 'batchsync');
    expect(patterns).toHaveLength(5);
    for (const j of jobs) expect(patterns).toContainEqual((j.spec.triggers[0] as { pattern: unknown }).pattern);
  });
});

describe('files sources on another S3-compatible store, deployed', () => {
  const oss = (connection: object) =>
    job('from_oss', { source: { type: 'files', url: 's3://export/result_table/', format: 'parquet', endpoint: 'https://oss-cn-shanghai.aliyuncs.com', connection } });

  it("the functions may read the keys' secret; keys from an environment variable are refused", async () => {
    const { template } = synth([oss({ secretId: 'tutorial/oss-keys' })]);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const read = statements.filter((s: any) => s.Sid === 'ReadJobSecrets');
    expect(read).toHaveLength(2);
    expect(JSON.stringify(read[0].Resource)).toContain('secret:tutorial/oss-keys-??????');
    const { deployProblems } = await import('../../infra/jobs.ts');
    const { deployJobs } = await import('./synth.ts');
    expect(deployProblems(deployJobs([oss({ urlFromEnv: 'OSS_KEYS' })]), 'batchsync-')).toEqual([
      expect.stringMatching(/^from_oss\.json: source\.connection\.urlFromEnv: .*use secretId/),
    ]);
  });
});
