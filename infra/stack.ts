import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, Arn, ArnFormat, CfnOutput, Duration, Fn, Stack, type StackProps, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../functions/names.ts';
import type { JobSpec } from '../functions/core/job-spec.ts';
import { METRIC, METRICS_SERVICE, rangeQueueName } from '../functions/names.ts';
import { type DeployConfig, vpcOf } from './config.ts';
import { type DeployJob, deadLetterQueueName } from './jobs.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The planner's budget: it checks the mapping, reads MIN/MAX and queues the ranges. */
const PLANNER_TIMEOUT = Duration.minutes(5);
/** How long a trigger (schedule, rule, async invoke) is retried before it lands in the trigger-failures queue. */
const TRIGGER_MAX_AGE = Duration.hours(2);
const TRIGGER_RETRIES = 4;
/** The event source's floor: AWS accepts no maximum concurrency below 2. */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;

export interface BatchsyncStackProps extends StackProps {
  config: DeployConfig;
  /** The directory the job files are copied from into the planner's bundle. */
  jobsDir: string;
  jobs: readonly DeployJob[];
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

/** Every secret a job names (target, source, replica). */
function secretIdsOf(job: JobSpec): string[] {
  const conns = [job.target.connection];
  if (job.source.type !== 'files') conns.push(job.source.connection, ...(job.source.replica ? [job.source.replica] : []));
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
  if (!bucketKnown) return job.triggers.map((t) => ({ bucket: t.bucket, prefix: '' }));
  return [{ bucket: m[1], prefix: m[2] ?? '' }];
}

/**
 * batchsync on AWS, built from the job files: one planner and one consumer
 * function shared by every job; per job a range queue with its dead-letter
 * queue and the consumer's event source on it, the job's schedule, the rules
 * of its upstream jobs and S3 triggers, and alarms; read access to exactly
 * the secrets (and S3 prefixes) the jobs name.
 */
export class BatchsyncStack extends Stack {
  readonly planner: NodejsFunction;
  readonly consumer: NodejsFunction;
  readonly bus: events.EventBus;
  readonly alerts: sns.Topic;
  readonly triggerFailures: sqs.Queue;

  constructor(scope: Construct, id: string, props: BatchsyncStackProps) {
    super(scope, id, props);
    const { config, jobs } = props;
    const queuePrefix = `${config.name}-`;

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: config.name });
    this.alerts = new sns.Topic(this, 'Alerts', { displayName: `${config.name} alarms` });
    const alarmAction = new SnsAction(this.alerts);
    /** An alarm as soon as the metric reaches 1 in five minutes, sent to the alerts topic. */
    const alarmOnAny = (scope: Construct, id: string, alarmDescription: string, metric: cloudwatch.IMetric) =>
      new cloudwatch.Alarm(scope, id, {
        alarmDescription,
        metric,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(alarmAction);
    // Triggers that could not be delivered or planned after their retries: kept for 14 days, to look at and replay.
    this.triggerFailures = new sqs.Queue(this, 'TriggerFailures', { retentionPeriod: Duration.days(14), enforceSSL: true });

    const vpc = vpcOf(config);
    const placement: Partial<NodejsFunctionProps> = vpc
      ? {
          vpc: ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: vpc.vpcId, availabilityZones: Fn.getAzs() }),
          vpcSubnets: { subnets: vpc.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, s)) },
          securityGroups: vpc.securityGroupIds.map((g, i) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, g, { mutable: false })),
        }
      : {};

    const fn = (name: string, entry: string, extra: Partial<NodejsFunctionProps>, afterBundling: (outputDir: string) => string[]) =>
      new NodejsFunction(this, name, {
        entry: join(PROJECT_ROOT, entry),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        logGroup: new logs.LogGroup(this, `${name}Logs`, { retention: config.logRetentionDays as logs.RetentionDays }),
        environment: {
          NODE_OPTIONS: '--enable-source-maps',
          // The Amazon RDS certificate authorities, which Lambda ships but no longer loads by default since Node.js 20.
          NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
          BATCHSYNC_EVENT_BUS: this.bus.eventBusName,
          BATCHSYNC_QUEUE_PREFIX: queuePrefix,
          BATCHSYNC_METRICS_NAMESPACE: config.name,
        },
        bundling: {
          format: OutputFormat.ESM,
          target: 'node22',
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
          commandHooks: { beforeBundling: () => [], beforeInstall: () => [], afterBundling: (_in, out) => afterBundling(out) },
        },
        ...placement,
        ...extra,
      });

    // The planner reads the job files from ./jobs/ next to its bundle (functions/lambda-env.ts).
    this.planner = fn('Planner', 'functions/planner/handler.ts', { timeout: PLANNER_TIMEOUT, memorySize: 512, description: `${config.name}: plans runs of the deployed jobs` }, (out) => [
      `mkdir -p ${shellQuote(join(out, 'jobs'))}`,
      ...jobs.map((j) => `cp ${shellQuote(join(props.jobsDir, j.file))} ${shellQuote(join(out, 'jobs', j.file))}`),
    ]);
    this.planner.configureAsyncInvoke({ onFailure: new SqsDestination(this.triggerFailures), retryAttempts: 2, maxEventAge: TRIGGER_MAX_AGE });

    const consumerTimeout = Duration.seconds(config.consumerTimeoutSeconds);
    this.consumer = fn(
      'Consumer',
      'functions/consumer/handler.ts',
      { timeout: consumerTimeout, memorySize: config.consumerMemoryMb, description: `${config.name}: writes ranges into MySQL` },
      () => [],
    );

    for (const f of [this.planner, this.consumer]) this.bus.grantPutEventsTo(f);
    const secretArns = [...new Set(jobs.flatMap((j) => secretIdsOf(j.spec)))].sort().map((id) => secretResourceArn(this, id));
    if (secretArns.length) {
      const readSecrets = new iam.PolicyStatement({ sid: 'ReadJobSecrets', actions: ['secretsmanager:GetSecretValue'], resources: secretArns });
      for (const f of [this.planner, this.consumer]) f.addToRolePolicy(readSecrets);
    }

    // Files sources on S3: list the prefix (planner) and read its objects' byte ranges (planner and consumer), nothing else.
    for (const [i, { bucket, prefix }] of jobs.flatMap((j) => s3SourcesOf(j.spec)).entries()) {
      const bucketArn = this.formatArn({ service: 's3', region: '', account: '', resource: bucket });
      const statements = [
        new iam.PolicyStatement({
          sid: `ListSource${i}`,
          actions: ['s3:ListBucket'],
          resources: [bucketArn],
          ...(prefix && { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } }),
        }),
        new iam.PolicyStatement({ sid: `ReadSource${i}`, actions: ['s3:GetObject'], resources: [`${bucketArn}/${prefix}*`] }),
      ];
      for (const f of [this.planner, this.consumer]) for (const st of statements) f.addToRolePolicy(st);
    }

    const schedules = jobs.some((j) => j.spec.schedule) ? new scheduler.ScheduleGroup(this, 'Schedules', { scheduleGroupName: config.name }) : undefined;
    const triggerOptions = { deadLetterQueue: this.triggerFailures, retryAttempts: TRIGGER_RETRIES, maxEventAge: TRIGGER_MAX_AGE };
    for (const { spec: job } of jobs) {
      const scope = new Construct(this, `Job-${job.name}`);
      const fifo = job.channel.maxConcurrency === 1;
      const queueName = rangeQueueName(queuePrefix, job);
      const dlq = new sqs.Queue(scope, 'DeadLetterQueue', {
        queueName: deadLetterQueueName(queueName),
        fifo: fifo || undefined,
        retentionPeriod: Duration.days(14),
        enforceSSL: true,
      });
      const queue = new sqs.Queue(scope, 'Queue', {
        queueName,
        fifo: fifo || undefined,
        // Longer than the consumer may run, so a range is never delivered twice while it is being worked.
        visibilityTimeout: consumerTimeout.plus(Duration.minutes(1)),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: dlq, maxReceiveCount: job.channel.maxReceiveCount },
        enforceSSL: true,
      });
      this.consumer.addEventSource(
        new SqsEventSource(queue, {
          batchSize: 1,
          reportBatchItemFailures: true,
          maxConcurrency: Math.max(MIN_EVENT_SOURCE_CONCURRENCY, job.channel.maxConcurrency),
        }),
      );
      queue.grantSendMessages(this.planner);
      // A range handed back before the consumer's timeout is queued again by the consumer.
      queue.grantSendMessages(this.consumer);
      if (!job.channel.distributed) {
        Annotations.of(scope).addWarningV2(
          'batchsync:distributed',
          `${job.name}: channel.distributed false has no effect on AWS: every range is its own Lambda invocation`,
        );
      }

      if (job.schedule) {
        new scheduler.Schedule(scope, 'Schedule', {
          scheduleGroup: schedules,
          description: `${config.name}: plan ${job.name}`,
          schedule: scheduler.ScheduleExpression.expression(`cron(${job.schedule.cron.trim()})`, TimeZone.of(job.schedule.timezone ?? job.timezone)),
          target: new LambdaInvoke(this.planner, {
            input: scheduler.ScheduleTargetInput.fromObject({ job: job.name, logicalTime: scheduler.ContextAttribute.scheduledTime }),
            ...triggerOptions,
          }),
        });
      }

      if (job.dependsOn.length) {
        // Any upstream's success wakes the planner; it plans only when every upstream succeeded at that logical time.
        new events.Rule(scope, 'AfterUpstreams', {
          eventBus: this.bus,
          description: `${config.name}: plan ${job.name} after ${job.dependsOn.join(', ')} succeed`,
          eventPattern: { source: [EVENT_SOURCE], detailType: ['Run Succeeded'], detail: { job: [...job.dependsOn] } },
          targets: [
            new targets.LambdaFunction(this.planner, {
              event: events.RuleTargetInput.fromObject({ job: job.name, logicalTime: events.EventField.fromPath('$.detail.logicalTime') }),
              ...triggerOptions,
            }),
          ],
        });
      }

      job.triggers.forEach((trigger, i) => {
        // S3 sends Object Created to the default bus once the bucket has EventBridge notifications on (README, "Deploying to AWS").
        new events.Rule(scope, `S3Trigger${i}`, {
          description: `${config.name}: plan ${job.name} on new objects in s3://${trigger.bucket}/${trigger.prefix}`,
          eventPattern: {
            source: ['aws.s3'],
            detailType: ['Object Created'],
            detail: { bucket: { name: [trigger.bucket] }, ...(trigger.prefix && { object: { key: events.Match.prefix(trigger.prefix) } }) },
          },
          targets: [
            new targets.LambdaFunction(this.planner, {
              event: events.RuleTargetInput.fromObject({
                job: job.name,
                logicalTime: events.EventField.time,
                vars: { bucket: events.EventField.fromPath('$.detail.bucket.name'), key: events.EventField.fromPath('$.detail.object.key') },
              }),
              ...triggerOptions,
            }),
          ],
        });
      });

      alarmOnAny(
        scope,
        'DeadLetterAlarm',
        `${config.name}: a range of ${job.name} failed ${job.channel.maxReceiveCount} deliveries and is in ${deadLetterQueueName(queueName)}; its run cannot finish until the message is redriven`,
        dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      );
      alarmOnAny(
        scope,
        'FailedRunsAlarm',
        `${config.name}: a run of ${job.name} failed (its Run Failed event, and npx batchsync status RUN_ID --ledger URL, say why)`,
        new cloudwatch.Metric({
          namespace: config.name,
          metricName: METRIC.runsFailed,
          dimensionsMap: { service: METRICS_SERVICE, job: job.name },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
      );
    }

    alarmOnAny(
      this,
      'TriggerFailuresAlarm',
      `${config.name}: a trigger could not start the planner, or planning failed after its retries; the event is in the trigger-failures queue`,
      this.triggerFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
    );

    new CfnOutput(this, 'PlannerFunctionName', { value: this.planner.functionName, description: 'Invoke with {"job": "NAME"} to start a run now' });
    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBusName });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.alerts.topicArn, description: 'Subscribe to get the alarms' });
    new CfnOutput(this, 'TriggerFailuresQueueUrl', { value: this.triggerFailures.queueUrl });
  }
}
