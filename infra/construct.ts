import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, Arn, ArnFormat, Duration, NestedStack, RemovalPolicy, Stack, TimeZone, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { JobSpec } from '../functions/core/job-spec.ts';
import { deadLetterQueueName, ENV, EVENT_SOURCE, METRIC, METRICS_SERVICE, RUN_FAILED, RUN_SUCCEEDED, rangeQueueName, SWEEP_ACTION } from '../functions/names.ts';
import { triggerRules } from './event-triggers.ts';
import { type DeployJob, readDeployJobs } from './jobs.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The planner's budget: it checks the mapping, reads MIN/MAX and queues the ranges. */
const PLANNER_TIMEOUT = Duration.minutes(5);
/** How long a trigger (schedule, rule, async invoke) is retried before it lands in the trigger-failures queue. */
const TRIGGER_MAX_AGE = Duration.hours(2);
const TRIGGER_RETRIES = 4;
/** The event source's floor: AWS accepts no maximum concurrency below 2 (maxConcurrency 1 is the FIFO message group's, names.ts). */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;
/** How often the planner's lifecycle sweep runs (stuck runs, unpublished run events). */
const SWEEP_RATE = Duration.minutes(15);
/**
 * Resources a stack may hold before jobs go to nested stacks: CloudFormation
 * allows 500; what is left is margin for the shared resources and for
 * CDK's own (metadata, parameters are not resources).
 */
const STACK_RESOURCE_BUDGET = 400;

export interface BatchsyncJobsProps {
  /** The job files' directory: read at synth (unless `jobs` is given) and copied into both functions' bundles. */
  readonly jobsDir: string;
  /** The jobs, already read and checked (loadDeployJobs); by default every *.json of jobsDir. */
  readonly jobs?: readonly DeployJob[];
  /** Names the event bus, the metrics namespace, the schedule group and (as `name-`) every queue. Default `batchsync`. */
  readonly name?: string;
  /** Run both functions in this VPC (to reach private databases). */
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Where alarms and "Run Failed" alerts go; by default a new topic (output of the stack). */
  readonly alertsTopic?: sns.ITopic;
  /** An e-mail address subscribed to the alerts topic. */
  readonly alertEmail?: string;
  /**
   * Secrets of your app, by the secretId the job files name: granted with
   * grantRead (their KMS key included). Any other secretId is granted by
   * name (`name-??????`) or ARN.
   */
  readonly secrets?: Readonly<Record<string, secretsmanager.ISecret>>;
  /** The consumer's timeout (60 s to 15 min, default 15 min); a range not done by then is handed back. */
  readonly consumerTimeout?: Duration;
  readonly consumerMemoryMb?: number;
  readonly logRetention?: logs.RetentionDays;
  /** A run not ended after this many hours is counted in StuckRuns by the sweep, and alarmed. Default 6. */
  readonly stuckRunHours?: number;
  /** Alarm when a range waited longer than this in its queue. Default 1 hour. */
  readonly rangeAgeAlarm?: Duration;
}

/** What each job's resources are wired to. */
interface Shared {
  name: string;
  queuePrefix: string;
  planner: lambda.IFunction;
  consumer: lambda.IFunction;
  bus: events.IEventBus;
  alarmAction: SnsAction;
  triggerFailures: sqs.IQueue;
  schedulerRole: iam.IRole;
  scheduleGroup: scheduler.IScheduleGroup;
  consumerTimeout: Duration;
  rangeAgeAlarm: Duration;
  stuckRunHours: number;
}

/** Single-quotes a path for the shell of the bundling hooks. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The ARN an IAM policy names for a secret: a name gets the 6-character suffix Secrets Manager adds. */
export function secretResourceArn(stack: Stack, secretId: string): string {
  if (secretId.startsWith('arn:')) {
    // A complete ARN ends with the suffix; a partial one (without it) matches any suffix.
    const name = Arn.split(secretId, ArnFormat.COLON_RESOURCE_NAME).resourceName ?? '';
    return /-[A-Za-z0-9]{6}$/.test(name) ? secretId : `${secretId}-??????`;
  }
  return stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${secretId}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

/** Every secret a job names (target, source, replica, a files source's keys). */
export function secretIdsOf(job: JobSpec): string[] {
  const conns: Array<{ secretId?: string }> = [job.target.connection];
  if (job.source.type !== 'files') conns.push(job.source.connection, ...(job.source.replica ? [job.source.replica] : []));
  else if (job.source.connection) conns.push(job.source.connection);
  return conns.flatMap((c) => (c.secretId === undefined ? [] : [c.secretId]));
}

/**
 * The buckets and key prefixes a job reads files from (`s3://bucket/prefix`).
 * A URL with variables is known up to the first `${`; a bucket that is a
 * variable (`s3://${bucket}/…`, from an S3 trigger) is each trigger's bucket.
 */
export function s3SourcesOf(job: JobSpec): Array<{ bucket: string; prefix: string }> {
  if (job.source.type !== 'files' || !job.source.url.startsWith('s3://')) return [];
  const known = job.source.url.split('${')[0];
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(known);
  const bucketKnown = m !== null && (known === job.source.url || known.length > `s3://${m[1]}`.length);
  if (!bucketKnown) return job.triggers.flatMap((t) => (t.type === 's3' ? [{ bucket: t.bucket, prefix: '' }] : []));
  return [{ bucket: m[1], prefix: m[2] ?? '' }];
}

/** The CloudFormation resources one job adds (queues, their policies, event source, alarms, schedule, rules). */
export function resourcesOfJob(job: JobSpec): number {
  return 9 + (job.schedule ? 1 : 0) + (job.dependsOn.length ? 2 : 0) + job.triggers.length * 2;
}

/**
 * The jobs in groups, each small enough for one stack: one group (the
 * stack itself) when they all fit, else as many nested stacks as needed.
 */
export function packJobs(jobs: readonly JobSpec[], budget = STACK_RESOURCE_BUDGET): JobSpec[][] {
  const groups: JobSpec[][] = [[]];
  let used = 0;
  for (const job of jobs) {
    const size = resourcesOfJob(job);
    if (used + size > budget && groups[groups.length - 1].length) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1].push(job);
    used += size;
  }
  return groups;
}

/** An alarm as soon as the metric reaches the threshold in one period; missing data is OK, so the next failure alarms again. */
function alarmAtLeast(scope: Construct, id: string, shared: Pick<Shared, 'alarmAction'>, alarmDescription: string, metric: cloudwatch.IMetric, threshold = 1) {
  new cloudwatch.Alarm(scope, id, {
    alarmDescription,
    metric,
    threshold,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(shared.alarmAction);
}

/**
 * The Scheduler target that invokes the planner with the given input,
 * through one role that may invoke exactly the planner (not its versions:
 * the stack never publishes any), with the trigger retry policy.
 */
class PlannerInvoke implements scheduler.IScheduleTarget {
  constructor(
    private readonly shared: Shared,
    private readonly input: scheduler.ScheduleTargetInput,
  ) {}

  bind(): scheduler.ScheduleTargetConfig {
    return {
      arn: this.shared.planner.functionArn,
      role: this.shared.schedulerRole,
      input: this.input,
      retryPolicy: { maximumRetryAttempts: TRIGGER_RETRIES, maximumEventAgeInSeconds: TRIGGER_MAX_AGE.toSeconds() },
      deadLetterConfig: { arn: this.shared.triggerFailures.queueArn },
    };
  }
}

/** A role for one function: its own log group, and (in a VPC) the network interfaces Lambda makes. */
function functionRole(scope: Construct, id: string, logGroup: logs.ILogGroup, inVpc: boolean): iam.Role {
  const role = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  logGroup.grantWrite(role);
  if (inVpc) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'EC2 network-interface actions take no resource ARN: Lambda makes the interfaces of a VPC function' });
  }
  return role;
}

interface FunctionSpec {
  id: string;
  entry: string;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment: Record<string, string>;
  extra?: Partial<NodejsFunctionProps>;
}

/** One of the two functions: Node.js on arm64, ESM bundle with the job files beside it, its own log group and role. */
function makeFunction(scope: Construct, spec: FunctionSpec, props: BatchsyncJobsProps, jobs: readonly DeployJob[]): NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${spec.id}Logs`, { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
  const jobsOut = (out: string) => [
    `mkdir -p ${shellQuote(join(out, 'jobs'))}`,
    ...jobs.map((j) => `cp ${shellQuote(join(props.jobsDir, j.file))} ${shellQuote(join(out, 'jobs', j.file))}`),
  ];
  return new NodejsFunction(scope, spec.id, {
    entry: join(PROJECT_ROOT, spec.entry),
    handler: 'handler',
    description: spec.description,
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    timeout: spec.timeout,
    memorySize: spec.memorySize,
    logGroup,
    role: functionRole(scope, spec.id, logGroup, props.vpc !== undefined),
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      // The Amazon RDS certificate authorities, which Lambda ships but no longer loads by default since Node.js 20.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      ...spec.environment,
    },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      mainFields: ['module', 'main'],
      // Bundled CommonJS (mysql2, pg) calls require(); ESM output has none unless it is made.
      banner: "import { createRequire as __batchsyncRequire } from 'node:module'; const require = __batchsyncRequire(import.meta.url);",
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      // The SDK versions the tests ran with, not the runtime's.
      bundleAwsSDK: true,
      externalModules: ['pg-native'],
      forceDockerBundling: false,
      // Both functions read the job files from ./jobs/ next to their bundle (functions/lambda-env.ts).
      commandHooks: { beforeBundling: () => [], beforeInstall: () => [], afterBundling: (_in, out) => jobsOut(out) },
    },
    ...(props.vpc && { vpc: props.vpc, vpcSubnets: props.vpcSubnets, securityGroups: props.securityGroups }),
    ...spec.extra,
  });
}

/** Read access to the secrets the jobs name: your ISecrets by grantRead, the others by name or ARN. */
function grantSecrets(scope: Construct, jobs: readonly DeployJob[], props: BatchsyncJobsProps, fns: NodejsFunction[]): void {
  const ids = [...new Set(jobs.flatMap((j) => secretIdsOf(j.spec)))].sort();
  const given = props.secrets ?? {};
  for (const id of ids.filter((i) => given[i])) for (const f of fns) given[id].grantRead(f);
  const named = ids.filter((i) => !given[i]).map((i) => secretResourceArn(Stack.of(scope), i));
  if (!named.length) return;
  const readSecrets = new iam.PolicyStatement({ sid: 'ReadJobSecrets', actions: ['secretsmanager:GetSecretValue'], resources: named });
  for (const f of fns) f.addToRolePolicy(readSecrets);
}

/** Files sources on S3: list the prefix (planner) and read its objects' byte ranges (both), nothing else. */
function grantS3Sources(scope: Construct, jobs: readonly DeployJob[], fns: NodejsFunction[]): void {
  const stack = Stack.of(scope);
  for (const [i, { bucket, prefix }] of jobs.flatMap((j) => s3SourcesOf(j.spec)).entries()) {
    const bucketArn = stack.formatArn({ service: 's3', region: '', account: '', resource: bucket });
    const statements = [
      new iam.PolicyStatement({
        sid: `ListSource${i}`,
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        ...(prefix && { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } }),
      }),
      new iam.PolicyStatement({ sid: `ReadSource${i}`, actions: ['s3:GetObject'], resources: [`${bucketArn}/${prefix}*`] }),
    ];
    for (const f of fns) for (const st of statements) f.addToRolePolicy(st);
  }
  if (jobs.some((j) => s3SourcesOf(j.spec).length)) {
    for (const f of fns) {
      for (const { bucket, prefix } of jobs.flatMap((j) => s3SourcesOf(j.spec))) {
        Validations.of(f.role as iam.Role).acknowledge({ id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/${prefix}*]`, reason: "a files source reads the objects under its job's S3 prefix, whose keys are not known at deploy" });
      }
    }
  }
}

/**
 * The range queues, by the deployment's prefix: the planner sends ranges,
 * the consumer receives them and hands ranges back. One statement for any
 * number of jobs keeps the roles' policies under IAM's size limit and out
 * of the nested stacks' outputs.
 */
function grantQueues(scope: Construct, queuePrefix: string, planner: NodejsFunction, consumer: NodejsFunction): void {
  const queues = Stack.of(scope).formatArn({ service: 'sqs', resource: `${queuePrefix}*` });
  planner.addToRolePolicy(new iam.PolicyStatement({ sid: 'SendRanges', actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'], resources: [queues] }));
  consumer.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ConsumeRanges',
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
      resources: [queues],
    }),
  );
  const stack = Stack.of(scope);
  const [region, account] = [
    [stack.region, '<AWS::Region>'],
    [stack.account, '<AWS::AccountId>'],
  ].map(([value, token]) => (Token.isUnresolved(value) ? token : value));
  for (const f of [planner, consumer]) {
    Validations.of(f.role as iam.Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:${region}:${account}:${queuePrefix}*]`,
      reason: `the deployment's own range queues, all named ${queuePrefix}…`,
    });
  }
}

/** A job's range queue and dead-letter queue (always FIFO: names.ts rangeQueueName), and the consumer's event source on it. */
function addJobQueue(scope: Construct, shared: Shared, job: JobSpec): { queue: sqs.Queue; dlq: sqs.Queue } {
  const queueName = rangeQueueName(shared.queuePrefix, job);
  const dlq = new sqs.Queue(scope, 'DeadLetterQueue', { queueName: deadLetterQueueName(queueName), fifo: true, retentionPeriod: Duration.days(14), enforceSSL: true });
  const queue = new sqs.Queue(scope, 'Queue', {
    queueName,
    fifo: true,
    // Longer than the consumer may run, so a range is never delivered twice while it is being worked.
    visibilityTimeout: shared.consumerTimeout.plus(Duration.minutes(1)),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: dlq, maxReceiveCount: job.channel.maxReceiveCount },
    enforceSSL: true,
  });
  // In the job's own stack: the consumer's role may already read every queue of the prefix (grantQueues).
  new lambda.EventSourceMapping(scope, 'EventSource', {
    target: shared.consumer,
    eventSourceArn: queue.queueArn,
    batchSize: 1,
    reportBatchItemFailures: true,
    maxConcurrency: Math.max(MIN_EVENT_SOURCE_CONCURRENCY, job.channel.maxConcurrency),
  });
  return { queue, dlq };
}

/** The job's schedule: EventBridge Scheduler, in the job's time zone unless the schedule names its own. */
function addJobSchedule(scope: Construct, shared: Shared, job: JobSpec): void {
  if (!job.schedule) return;
  new scheduler.Schedule(scope, 'Schedule', {
    scheduleGroup: shared.scheduleGroup,
    description: `${shared.name}: plan ${job.name}`,
    schedule: scheduler.ScheduleExpression.expression(`cron(${job.schedule.cron.trim()})`, TimeZone.of(job.schedule.timezone ?? job.timezone)),
    target: new PlannerInvoke(shared, scheduler.ScheduleTargetInput.fromObject({ job: job.name, logicalTime: scheduler.ContextAttribute.scheduledTime })),
  });
}

/** The rules that start the job: its upstreams' success, and its S3 and event triggers. */
function addJobRules(scope: Construct, shared: Shared, job: JobSpec): void {
  const triggerOptions = { deadLetterQueue: shared.triggerFailures, retryAttempts: TRIGGER_RETRIES, maxEventAge: TRIGGER_MAX_AGE };
  if (job.dependsOn.length) {
    // Any upstream's success wakes the planner; it plans only when every upstream succeeded at that logical time.
    new events.Rule(scope, 'AfterUpstreams', {
      eventBus: shared.bus,
      description: `${shared.name}: plan ${job.name} after ${job.dependsOn.join(', ')} succeed`,
      eventPattern: { source: [EVENT_SOURCE], detailType: [RUN_SUCCEEDED], detail: { job: [...job.dependsOn] } },
      targets: [
        new targets.LambdaFunction(shared.planner, {
          event: events.RuleTargetInput.fromObject({ job: job.name, logicalTime: events.EventField.fromPath('$.detail.logicalTime') }),
          ...triggerOptions,
        }),
      ],
    });
  }
  triggerRules(scope, { name: shared.name, job, planner: shared.planner, delivery: triggerOptions });
}

/** A per-job metric the functions emit (names.ts METRIC). */
function jobMetric(shared: Shared, job: JobSpec, metricName: string, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: shared.name, metricName, dimensionsMap: { service: METRICS_SERVICE, job: job.name }, statistic, period });
}

/** The job's alarms: a range in its DLQ, a failed run, a range waiting too long, a run that does not end. */
function addJobAlarms(scope: Construct, shared: Shared, job: JobSpec, queue: sqs.Queue, dlq: sqs.Queue): void {
  const { name } = shared;
  alarmAtLeast(
    scope,
    'DeadLetterAlarm',
    shared,
    `${name}: a range of ${job.name} failed ${job.channel.maxReceiveCount} deliveries and is in ${dlq.queueName}; its run cannot finish until the message is redriven`,
    dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
  );
  alarmAtLeast(
    scope,
    'FailedRunsAlarm',
    shared,
    `${name}: a run of ${job.name} failed (its alert on the topic, and npx batchsync status RUN_ID, say why)`,
    jobMetric(shared, job, METRIC.runsFailed, cloudwatch.Stats.SUM, Duration.minutes(1)),
  );
  alarmAtLeast(
    scope,
    'OldestRangeAlarm',
    shared,
    `${name}: a range of ${job.name} has waited over ${shared.rangeAgeAlarm.toHumanString()} in its queue: consumers throttled, failing, or maxConcurrency too low`,
    queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
    shared.rangeAgeAlarm.toSeconds(),
  );
  alarmAtLeast(
    scope,
    'StuckRunsAlarm',
    shared,
    `${name}: a run of ${job.name} has not ended after ${shared.stuckRunHours} hours (counted by the planner's sweep)`,
    jobMetric(shared, job, METRIC.stuckRuns, cloudwatch.Stats.MAXIMUM, SWEEP_RATE),
  );
}

/** Everything of one job, in its own construct. */
function addJob(scope: Construct, shared: Shared, job: JobSpec): void {
  const jobScope = new Construct(scope, `Job-${job.name}`);
  const { queue, dlq } = addJobQueue(jobScope, shared, job);
  addJobSchedule(jobScope, shared, job);
  addJobRules(jobScope, shared, job);
  addJobAlarms(jobScope, shared, job, queue, dlq);
  if (!job.channel.distributed) {
    Annotations.of(jobScope).addWarningV2('batchsync:distributed', `${job.name}: channel.distributed false has no effect on AWS: every range is its own Lambda invocation`);
  }
}

/** Errors and throttles of each function: any in a minute alarms, and the next minute without any clears it. */
function addFunctionAlarms(scope: Construct, shared: Shared, fns: Array<[string, NodejsFunction]>): void {
  for (const [label, f] of fns) {
    alarmAtLeast(scope, `${label}ErrorsAlarm`, shared, `${shared.name}: the ${label.toLowerCase()} function failed (crash or timeout): see its log group`, f.metricErrors({ period: Duration.minutes(1) }));
    alarmAtLeast(
      scope,
      `${label}ThrottlesAlarm`,
      shared,
      `${shared.name}: the ${label.toLowerCase()} function was throttled: the account's Lambda concurrency is exhausted`,
      f.metricThrottles({ period: Duration.minutes(1) }),
    );
  }
}

/** Each "Run Failed" on the bus as a readable message on the alerts topic: one per failure, whatever the alarms' state. */
function addRunFailedAlert(scope: Construct, shared: Shared, topic: sns.ITopic): void {
  const field = (name: string) => events.EventField.fromPath(`$.detail.${name}`);
  new events.Rule(scope, 'RunFailedAlert', {
    eventBus: shared.bus,
    description: `${shared.name}: each failed run, as an alert`,
    eventPattern: { source: [EVENT_SOURCE], detailType: [RUN_FAILED] },
    targets: [
      new targets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromText(
          [
            `batchsync ${shared.name}: a run of job ${field('job')} failed.`,
            `Run: ${field('runId')}`,
            `Logical time: ${field('logicalTime')}`,
            `Error: ${field('error')}`,
            `See its ranges: npx batchsync status ${field('runId')}`,
          ].join('\n'),
        ),
      }),
    ],
  });
}

/** The planner and the consumer, with the environment both read (names.ts ENV). */
function makeFunctions(
  scope: Construct,
  props: BatchsyncJobsProps,
  jobs: readonly DeployJob[],
  d: { name: string; queuePrefix: string; bus: events.IEventBus; triggerFailures: sqs.IQueue; stuckRunHours: number; consumerTimeout: Duration },
): [NodejsFunction, NodejsFunction] {
  const environment = { [ENV.eventBus]: d.bus.eventBusName, [ENV.queuePrefix]: d.queuePrefix, [ENV.metricsNamespace]: d.name };
  const planner = makeFunction(
    scope,
    {
      id: 'Planner',
      entry: 'functions/planner/handler.ts',
      description: `${d.name}: plans runs of the deployed jobs`,
      timeout: PLANNER_TIMEOUT,
      memorySize: 512,
      environment: { ...environment, [ENV.stuckRunHours]: String(d.stuckRunHours) },
    },
    props,
    jobs,
  );
  planner.configureAsyncInvoke({ onFailure: new SqsDestination(d.triggerFailures), retryAttempts: 2, maxEventAge: TRIGGER_MAX_AGE });
  const consumer = makeFunction(
    scope,
    {
      id: 'Consumer',
      entry: 'functions/consumer/handler.ts',
      description: `${d.name}: writes ranges into MySQL`,
      timeout: d.consumerTimeout,
      memorySize: props.consumerMemoryMb ?? 1024,
      environment,
      // A range near the time limit is handed back to its own queue: SQS -> consumer -> same queue, again and again
      // for a long or throttled range. Lambda's recursive-loop detection would stop that chain after about 16 rounds
      // and send the range to its dead-letter queue; the loop ends by itself when the range is done.
      extra: { recursiveLoop: lambda.RecursiveLoop.ALLOW },
    },
    props,
    jobs,
  );
  return [planner, consumer];
}

/** The Scheduler's role (invokes exactly the planner, dead-letters to the trigger-failures queue) and the schedule group. */
function makeScheduling(scope: Construct, name: string, planner: lambda.IFunction, triggerFailures: sqs.IQueue) {
  const schedulerRole = new iam.Role(scope, 'SchedulerRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com') });
  schedulerRole.addToPolicy(new iam.PolicyStatement({ sid: 'InvokePlanner', actions: ['lambda:InvokeFunction'], resources: [planner.functionArn] }));
  triggerFailures.grantSendMessages(schedulerRole);
  // Not retained: destroy-then-deploy makes it again under the same name.
  const scheduleGroup = new scheduler.ScheduleGroup(scope, 'Schedules', { scheduleGroupName: name, removalPolicy: RemovalPolicy.DESTROY });
  return { schedulerRole, scheduleGroup };
}

/**
 * batchsync on AWS for a set of job files, to place in your own CDK app:
 * one planner and one consumer function shared by every job; per job a
 * range queue with its dead-letter queue and the consumer's event source,
 * the job's schedule, the rules of its upstream jobs and S3 triggers, and
 * its alarms; read access to exactly the secrets (and S3 prefixes) the jobs
 * name. Jobs that do not fit in the stack go to nested stacks.
 */
export class BatchsyncJobs extends Construct {
  readonly planner: NodejsFunction;
  readonly consumer: NodejsFunction;
  readonly bus: events.EventBus;
  readonly alertsTopic: sns.ITopic;
  readonly triggerFailures: sqs.Queue;
  readonly jobs: readonly DeployJob[];
  /** The scopes the jobs went to: this construct, or one nested stack per group. */
  readonly jobStacks: Construct[];

  constructor(scope: Construct, id: string, props: BatchsyncJobsProps) {
    super(scope, id);
    const name = props.name ?? 'batchsync';
    const queuePrefix = `${name}-`;
    this.jobs = props.jobs ?? readDeployJobs(props.jobsDir, queuePrefix);
    const stuckRunHours = props.stuckRunHours ?? 6;
    const consumerTimeout = props.consumerTimeout ?? Duration.minutes(15);

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: name });
    this.alertsTopic = props.alertsTopic ?? new sns.Topic(this, 'Alerts', { displayName: `${name} alarms`, enforceSSL: true });
    if (props.alertEmail) this.alertsTopic.addSubscription(new EmailSubscription(props.alertEmail));
    // Triggers that could not be delivered or planned after their retries: kept for 14 days, to look at and replay.
    this.triggerFailures = new sqs.Queue(this, 'TriggerFailures', { retentionPeriod: Duration.days(14), enforceSSL: true });
    Validations.of(this.triggerFailures).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'it is itself the dead-letter queue of the triggers (schedules, rules, asynchronous invokes)' });

    [this.planner, this.consumer] = makeFunctions(this, props, this.jobs, { name, queuePrefix, bus: this.bus, triggerFailures: this.triggerFailures, stuckRunHours, consumerTimeout });
    const fns = [this.planner, this.consumer];
    for (const f of fns) this.bus.grantPutEventsTo(f);
    grantSecrets(this, this.jobs, props, fns);
    grantS3Sources(this, this.jobs, fns);
    grantQueues(this, queuePrefix, this.planner, this.consumer);

    const { schedulerRole, scheduleGroup } = makeScheduling(this, name, this.planner, this.triggerFailures);
    const shared: Shared = {
      name,
      queuePrefix,
      planner: this.planner,
      consumer: this.consumer,
      bus: this.bus,
      alarmAction: new SnsAction(this.alertsTopic),
      triggerFailures: this.triggerFailures,
      schedulerRole,
      scheduleGroup,
      consumerTimeout,
      rangeAgeAlarm: props.rangeAgeAlarm ?? Duration.hours(1),
      stuckRunHours,
    };

    // The lifecycle sweep: stuck runs (StuckRuns) and run events still to publish.
    new scheduler.Schedule(this, 'Sweep', {
      scheduleGroup,
      description: `${name}: the planner's lifecycle sweep`,
      schedule: scheduler.ScheduleExpression.rate(SWEEP_RATE),
      target: new PlannerInvoke(shared, scheduler.ScheduleTargetInput.fromObject({ action: SWEEP_ACTION })),
    });
    addRunFailedAlert(this, shared, this.alertsTopic);
    addFunctionAlarms(this, shared, [
      ['Planner', this.planner],
      ['Consumer', this.consumer],
    ]);
    alarmAtLeast(
      this,
      'TriggerFailuresAlarm',
      shared,
      `${name}: a trigger could not start the planner, or planning failed after its retries; the event is in the trigger-failures queue`,
      this.triggerFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
    );

    const groups = packJobs(this.jobs.map((j) => j.spec));
    this.jobStacks = groups.length === 1 ? [this] : groups.map((_, i) => new NestedStack(this, `Jobs${i + 1}`, { description: `${name}: jobs, part ${i + 1} of ${groups.length}` }));
    groups.forEach((group, i) => {
      for (const job of group) addJob(this.jobStacks[i], shared, job);
    });
  }
}
