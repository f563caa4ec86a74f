import type { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { EventTrigger, JobSpec, S3Trigger } from '../functions/core/job-spec.ts';

/** How a rule's delivery to the planner is retried, and where it goes when it cannot be. */
export interface TriggerDelivery {
  deadLetterQueue: sqs.IQueue;
  retryAttempts: number;
  maxEventAge: Duration;
}

export interface TriggerRulesProps {
  /** The deployment's name, for descriptions. */
  name: string;
  job: JobSpec;
  planner: lambda.IFunction;
  delivery: TriggerDelivery;
}

/** The bus an event trigger's rule is on: undefined is the account's default bus. */
function busOf(scope: Construct, trigger: EventTrigger, index: number): events.IEventBus | undefined {
  return trigger.bus === 'default' ? undefined : events.EventBus.fromEventBusName(scope, `EventTrigger${index}Bus`, trigger.bus);
}

function s3Rule(scope: Construct, props: TriggerRulesProps, trigger: S3Trigger, index: number): events.Rule {
  const { name, job, planner, delivery } = props;
  // S3 sends Object Created to the default bus once the bucket has EventBridge notifications on (README, "Deploying to AWS").
  return new events.Rule(scope, `S3Trigger${index}`, {
    description: `${name}: plan ${job.name} on new objects in s3://${trigger.bucket}/${trigger.prefix}`,
    eventPattern: {
      source: ['aws.s3'],
      detailType: ['Object Created'],
      detail: { bucket: { name: [trigger.bucket] }, ...(trigger.prefix && { object: { key: events.Match.prefix(trigger.prefix) } }) },
    },
    targets: [
      new targets.LambdaFunction(planner, {
        event: events.RuleTargetInput.fromObject({
          job: job.name,
          logicalTime: events.EventField.time,
          // The object's ETag is part of the run's identity: one run per object, a redelivery joins it.
          vars: {
            bucket: events.EventField.fromPath('$.detail.bucket.name'),
            key: events.EventField.fromPath('$.detail.object.key'),
            etag: events.EventField.fromPath('$.detail.object.etag'),
          },
          distinctVars: true,
        }),
        ...delivery,
      }),
    ],
  });
}

function eventRule(scope: Construct, props: TriggerRulesProps, trigger: EventTrigger, index: number): events.Rule {
  const { name, job, planner, delivery } = props;
  return new events.Rule(scope, `EventTrigger${index}`, {
    description: `${name}: plan ${job.name} on events matching its triggers[${index}]`,
    eventBus: busOf(scope, trigger, index),
    // The job file's pattern is EventBridge's own JSON ("detail-type", "$or", matchers): CDK passes such keys through as they are.
    eventPattern: trigger.pattern as events.EventPattern,
    // The event itself is the input: the planner matches it against the job files again and takes the logical time and
    // variables from it by the trigger's paths, exactly as `batchsync run --event` does.
    targets: [new targets.LambdaFunction(planner, { ...delivery })],
  });
}

/**
 * A job's S3 and event triggers as EventBridge rules targeting the planner:
 * one rule per trigger, each delivery retried and then sent to the
 * trigger-failures queue. Each rule may invoke the planner through its own
 * permission, scoped to the rule's ARN.
 */
export function triggerRules(scope: Construct, props: TriggerRulesProps): events.Rule[] {
  return props.job.triggers.map((trigger, i) => (trigger.type === 's3' ? s3Rule(scope, props, trigger, i) : eventRule(scope, props, trigger, i)));
}
