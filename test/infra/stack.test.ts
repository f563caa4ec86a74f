import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../infra/config.ts';
import { s3SourcesOf } from '../../infra/stack.ts';
import { deployJobs, job, resolveArn, synth } from './synth.ts';

type Resources = Record<string, Record<string, any>>;

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** Logical ids by resource type and a property match: exactly one is expected. */
function only(resources: Resources): [string, Record<string, any>] {
  const entries = Object.entries(resources);
  expect(entries).toHaveLength(1);
  return [entries[0][0], entries[0][1].Properties];
}

describe('the functions', () => {
  const { template } = synth([job('orders')]);

  it('planner and consumer run Node.js 24 (the latest runtime CDK knows) on arm64, with the event bus, queue prefix and metrics namespace', () => {
    template.resourceCountIs('AWS::Lambda::Function', 2);
    for (const description of ['batchsync: plans runs of the deployed jobs', 'batchsync: writes ranges into MySQL']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: description,
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: {
          Variables: Match.objectLike({
            BATCHSYNC_QUEUE_PREFIX: 'batchsync-',
            BATCHSYNC_METRICS_NAMESPACE: 'batchsync',
            BATCHSYNC_EVENT_BUS: ref(template.getResourceId('AWS::Events::EventBus', { Properties: { Name: 'batchsync' } })),
          }),
        },
      });
    }
  });

  it("the planner's failed asynchronous invocations land in the trigger-failures queue", () => {
    const failures = template.getResourceId('AWS::SQS::Queue', { Properties: { MessageRetentionPeriod: 14 * 86400, QueueName: Match.absent() } });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: arnOf(failures) } },
    });
  });

  it("the consumer's timeout and memory and the logs' retention come from the settings; the queues' visibility follows the timeout", () => {
    const { template: t } = synth([job('orders')], { settings: { consumerTimeoutSeconds: '300', consumerMemoryMb: '2048', logRetentionDays: '90' } });
    t.hasResourceProperties('AWS::Lambda::Function', { Description: 'batchsync: writes ranges into MySQL', Timeout: 300, MemorySize: 2048 });
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'batchsync-orders.fifo', VisibilityTimeout: 360 });
    t.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    expect(() => synth([job('orders')], { settings: { logRetentionDays: '45' } })).toThrow(/logRetentionDays: must be one of CloudWatch Logs' retention periods/);
    expect(() => synth([job('orders')], { settings: { consumerTimeoutSeconds: '1800' } })).toThrow(/consumerTimeoutSeconds/);
  });

  it('channel.distributed false is a synth warning: on AWS every range is its own invocation', () => {
    const { stack } = synth([job('orders', { channel: { distributed: false } })]);
    Annotations.fromStack(stack).hasWarning('/batchsync/Jobs/Job-orders', Match.stringLikeRegexp('channel.distributed false has no effect on AWS'));
  });

  it('the deployment name renames the bus, the queues and the metrics namespace', () => {
    const { template: t } = synth([job('orders')], { settings: { name: 'nightly' } });
    t.hasResourceProperties('AWS::Events::EventBus', { Name: 'nightly' });
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'nightly-orders.fifo' });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ BATCHSYNC_QUEUE_PREFIX: 'nightly-', BATCHSYNC_METRICS_NAMESPACE: 'nightly' }) },
    });
  });
});

describe('per job: queue, dead-letter queue and the consumer event source', () => {
  const { template } = synth([
    job('orders', { channel: { maxConcurrency: 6, maxReceiveCount: 3 } }),
    job('customers'),
    job('ledger_close', { channel: { maxConcurrency: 1 } }),
  ]);
  const consumerTimeout = (only(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'batchsync: writes ranges into MySQL' } }))[1]
    .Timeout) as number;

  it('each job has a queue redriving to its own dead-letter queue after channel.maxReceiveCount deliveries (default 5)', () => {
    for (const [name, maxReceiveCount] of [
      ['orders', 3],
      ['customers', 5],
    ] as const) {
      const dlq = template.getResourceId('AWS::SQS::Queue', { Properties: { QueueName: `batchsync-${name}-dlq.fifo` } });
      template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `batchsync-${name}.fifo`,
        RedrivePolicy: { deadLetterTargetArn: arnOf(dlq), maxReceiveCount },
      });
    }
  });

  it("the visibility timeout is longer than the consumer's timeout", () => {
    expect(consumerTimeout).toBe(900);
    const [, queue] = only(template.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'batchsync-orders.fifo' } }));
    expect(queue.VisibilityTimeout).toBeGreaterThan(consumerTimeout);
  });

  it('the event source takes one range at a time, reports partial batch failures, and runs at most maxConcurrency consumers', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    for (const [queueName, max] of [
      ['batchsync-orders.fifo', 6],
      ['batchsync-customers.fifo', 2],
    ] as const) {
      const queue = template.getResourceId('AWS::SQS::Queue', { Properties: { QueueName: queueName } });
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: arnOf(queue),
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: max },
      });
    }
  });

  it('every range queue is FIFO, so changing maxConcurrency to or from 1 keeps the queue; 1 runs at the lowest concurrency AWS allows, 2', () => {
    const dlq = template.getResourceId('AWS::SQS::Queue', { Properties: { QueueName: 'batchsync-ledger_close-dlq.fifo', FifoQueue: true } });
    const queue = template.getResourceId('AWS::SQS::Queue', {
      Properties: { QueueName: 'batchsync-ledger_close.fifo', FifoQueue: true, RedrivePolicy: { deadLetterTargetArn: arnOf(dlq), maxReceiveCount: 5 } },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: arnOf(queue), ScalingConfig: { MaximumConcurrency: 2 } });
    const [, other] = only(template.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'batchsync-orders.fifo' } }));
    expect(other.FifoQueue).toBe(true);
    // The same job at maxConcurrency 1 and 6: the same queue, under the same logical id (no replacement).
    const at = (maxConcurrency: number) => synth([job('orders', { channel: { maxConcurrency } })]).template.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'batchsync-orders.fifo' } });
    expect(Object.keys(at(1))).toEqual(Object.keys(at(6)));
    expect(Object.values(at(1))).toEqual(Object.values(at(6)));
  });

  it('the planner may send to every range queue of the deployment, and the consumer may receive and hand ranges back, by the queue prefix', () => {
    const statements = (role: RegExp) =>
      Object.values(template.findResources('AWS::IAM::Policy') as Resources)
        .filter((p) => role.test(p.Properties.Roles[0].Ref))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    const queues = 'arn:aws:sqs:eu-west-1:123456789012:batchsync-*';
    expect(statements(/Planner/).filter((s) => s.Sid === 'SendRanges').map((s) => resolveArn(s.Resource))).toEqual([queues]);
    const consume = statements(/Consumer/).find((s) => s.Sid === 'ConsumeRanges');
    expect(resolveArn(consume.Resource)).toBe(queues);
    expect(consume.Action).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage']));
  });
});

describe('triggers', () => {
  const { template } = synth([
    job('nightly', { schedule: { cron: '0 2 * * ? *', timezone: 'Asia/Shanghai' } }),
    job('hourly', { timezone: 'Europe/Paris', schedule: { cron: '5 * * * ? *' } }),
    job('upstream_a'),
    job('upstream_b'),
    job('summary', { dependsOn: ['upstream_a', 'upstream_b'] }),
    job('landing', { triggers: [{ type: 's3', bucket: 'exports', prefix: 'orders/' }, { type: 's3', bucket: 'whole-bucket' }] }),
  ]);
  const planner = template.getResourceId('AWS::Lambda::Function', { Properties: { Description: 'batchsync: plans runs of the deployed jobs' } });
  const bus = template.getResourceId('AWS::Events::EventBus', { Properties: { Name: 'batchsync' } });
  const failures = template.getResourceId('AWS::SQS::Queue', { Properties: { MessageRetentionPeriod: 14 * 86400, QueueName: Match.absent() } });

  it('a schedule is an EventBridge Scheduler schedule with the cron expression, its time zone, a retry policy and input naming the job', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 3); // and the sweep
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Asia/Shanghai',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: arnOf(planner),
        Input: Match.serializedJson({ job: 'nightly', logicalTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: arnOf(failures) },
      },
    });
  });

  it("a schedule without its own time zone takes the job's", () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(5 * * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      Target: { Input: Match.serializedJson({ job: 'hourly', logicalTime: '<aws.scheduler.scheduled-time>' }) },
    });
  });

  it("dependsOn is a rule on the project's bus for its upstreams' Run Succeeded, starting the job at the upstream's logical time", () => {
    const rules = template.findResources('AWS::Events::Rule', { Properties: { EventBusName: ref(bus), EventPattern: { 'detail-type': ['Run Succeeded'] } } });
    const [, rule] = only(rules);
    expect(rule.EventPattern).toEqual({ source: ['batchsync'], 'detail-type': ['Run Succeeded'], detail: { job: ['upstream_a', 'upstream_b'] } });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: arnOf(planner),
        InputTransformer: { InputPathsMap: { 'detail-logicalTime': '$.detail.logicalTime' }, InputTemplate: '{"job":"summary","logicalTime":<detail-logicalTime>}' },
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: arnOf(failures) },
      }),
    ]);
  });

  it('an S3 trigger is a rule on Object Created for its bucket and key prefix', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.absent(),
      EventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['exports'] }, object: { key: [{ prefix: 'orders/' }] } } },
      Targets: [
        Match.objectLike({
          Arn: arnOf(planner),
          InputTransformer: {
            InputPathsMap: { time: '$.time', 'detail-bucket-name': '$.detail.bucket.name', 'detail-object-key': '$.detail.object.key', 'detail-object-etag': '$.detail.object.etag' },
            InputTemplate: '{"job":"landing","logicalTime":<time>,"vars":{"bucket":<detail-bucket-name>,"key":<detail-object-key>,"etag":<detail-object-etag>},"distinctVars":true}',
          },
        }),
      ],
    });
    // No prefix: every object of the bucket.
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['whole-bucket'] } } } });
  });

  it('EventBridge may invoke the planner for each rule, and the Scheduler through its role only', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', FunctionName: arnOf(planner) }, 3);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' } })] },
    });
  });
});

describe('Secrets Manager access', () => {
  it("the functions may read exactly the secrets the jobs name (a name gets Secrets Manager's suffix, an ARN stays as it is)", () => {
    const complete = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/reporting-AbC123';
    const partial = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/replica';
    const { template } = synth([
      job('a'),
      job('b', { target: { type: 'mysql', connection: { secretId: complete }, table: 'b' } }),
      job('c', { source: { type: 'postgres', connection: { secretId: partial }, table: 'c' } }),
    ]);
    const policies = Object.values(template.findResources('AWS::IAM::Policy') as Resources);
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    const secretStatements = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('secretsmanager:')));
    expect(secretStatements).toHaveLength(2); // planner and consumer
    for (const s of secretStatements) {
      expect(s.Action).toBe('secretsmanager:GetSecretValue');
      expect([s.Resource].flat().map(resolveArn).sort()).toEqual(
        [
          complete,
          `${partial}-??????`,
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reporting-??????',
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-??????',
        ].sort(),
      );
    }
    expect(JSON.stringify(statements)).not.toMatch(/"Resource":"\*"/);
  });
});

describe('S3 sources', () => {
  it('a files source on S3 may be listed and read under its prefix only, by both functions', () => {
    const { template } = synth([
      job('exports', { source: { type: 'files', url: 's3://warehouse-exports/orders/2026/', format: 'csv' } }),
      job('whole', { source: { type: 'files', url: 's3://another-bucket', format: 'jsonl' } }),
    ]);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    const s3 = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('s3:')));
    expect(s3).toHaveLength(8); // 2 sources x (list + read) x 2 functions
    expect(s3.map((s) => ({ ...s, Resource: resolveArn(s.Resource) }))).toEqual(
      expect.arrayContaining([
        { Sid: 'ListSource0', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::warehouse-exports', Condition: { StringLike: { 's3:prefix': ['orders/2026/*'] } } },
        { Sid: 'ReadSource0', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::warehouse-exports/orders/2026/*' },
        { Sid: 'ListSource1', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::another-bucket' },
        { Sid: 'ReadSource1', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::another-bucket/*' },
      ]),
    );
  });

  it('a source URL with variables is granted as far as it is known; a bucket from an S3 trigger, per trigger bucket', () => {
    const sources = (url: string, extra: Record<string, unknown> = {}) =>
      s3SourcesOf(deployJobs([job('j', { source: { type: 'files', url, format: 'csv' }, ...extra })])[0].spec);
    expect(sources('s3://exports/orders/${bizdate}/')).toEqual([{ bucket: 'exports', prefix: 'orders/' }]);
    expect(sources('s3://exports/${key}')).toEqual([{ bucket: 'exports', prefix: '' }]);
    expect(sources('s3://exports')).toEqual([{ bucket: 'exports', prefix: '' }]);
    expect(sources('s3://${bucket}/${key}', { triggers: [{ type: 's3', bucket: 'landing-a', prefix: 'in/' }, { type: 's3', bucket: 'landing-b' }] })).toEqual([
      { bucket: 'landing-a', prefix: '' },
      { bucket: 'landing-b', prefix: '' },
    ]);
    expect(sources('file:///data/')).toEqual([]);
  });
});

describe('VPC placement', () => {
  const settings = { vpcId: 'vpc-0abc', subnetIds: 'subnet-01,subnet-02', securityGroupIds: 'sg-0db' };

  it('with vpcId, subnetIds and securityGroupIds set, both functions run in those subnets with those security groups', () => {
    const { template } = synth([job('orders')], { settings });
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { VpcConfig: { SubnetIds: ['subnet-01', 'subnet-02'], SecurityGroupIds: ['sg-0db'] } },
      2,
    );
    // Their own roles, no AWS-managed policy: the network interfaces Lambda makes in the VPC.
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    expect(statements.filter((s) => s.Sid === 'VpcNetworkInterfaces')).toHaveLength(2);
  });

  it('without them the functions are not in a VPC', () => {
    synth([job('orders')]).template.allResourcesProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });

  it('the settings also come from the environment, and half a placement is refused', async () => {
    const { readConfig } = await import('../../infra/config.ts');
    expect(readConfig(() => undefined, { BATCHSYNC_VPC_ID: 'vpc-1', BATCHSYNC_SUBNET_IDS: 'subnet-1, subnet-2', BATCHSYNC_SECURITY_GROUP_IDS: 'sg-1' })).toMatchObject({
      vpcId: 'vpc-1',
      subnetIds: ['subnet-1', 'subnet-2'],
      securityGroupIds: ['sg-1'],
    });
    expect(() => synth([job('orders')], { settings: { subnetIds: 'subnet-01' } })).toThrow(ConfigError);
    expect(() => synth([job('orders')], { settings: { subnetIds: 'subnet-01' } })).toThrow(/vpcId: give vpcId, subnetIds and securityGroupIds together/);
  });
});

describe('alarms', () => {
  const { template } = synth([job('orders'), job('customers', { channel: { maxConcurrency: 1 } })]);
  const topic = template.getResourceId('AWS::SNS::Topic', {});

  it("each job's dead-letter queue alarms on its first visible message", () => {
    for (const dlqName of ['batchsync-orders-dlq.fifo', 'batchsync-customers-dlq.fifo']) {
      const dlq = template.getResourceId('AWS::SQS::Queue', { Properties: { QueueName: dlqName } });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [ref(topic)],
      });
    }
  });

  it("each job's failed runs alarm, on the RunsFailed metric the functions emit per job", () => {
    for (const name of ['orders', 'customers']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'batchsync',
        MetricName: 'RunsFailed',
        Dimensions: Match.arrayEquals([
          { Name: 'job', Value: name },
          { Name: 'service', Value: 'batchsync' },
        ]),
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [ref(topic)],
      });
    }
  });

  it('triggers that failed for good alarm too', () => {
    const failures = template.getResourceId('AWS::SQS::Queue', { Properties: { MessageRetentionPeriod: 14 * 86400, QueueName: Match.absent() } });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failures, 'QueueName'] } }],
    });
    // Per job: DLQ, failed runs, oldest range, stuck runs; per function: errors, throttles; and this one.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 * 4 + 2 * 2 + 1);
  });
});
