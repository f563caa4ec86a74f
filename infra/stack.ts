import { CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type DeployConfig, vpcOf } from './config.ts';
import { BatchsyncJobs } from './construct.ts';
import type { DeployJob } from './jobs.ts';

export { s3SourcesOf, secretResourceArn } from './construct.ts';

export interface BatchsyncStackProps extends StackProps {
  config: DeployConfig;
  /** The directory the job files are copied from into the functions' bundles. */
  jobsDir: string;
  jobs: readonly DeployJob[];
}

/** The VPC, subnets and security groups named by id in the settings (no lookup: synth stays offline). */
function placement(scope: Construct, config: DeployConfig) {
  const vpc = vpcOf(config);
  if (!vpc) return {};
  return {
    vpc: ec2.Vpc.fromVpcAttributes(scope, 'Vpc', { vpcId: vpc.vpcId, availabilityZones: Fn.getAzs() }),
    vpcSubnets: { subnets: vpc.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(scope, `Subnet${i}`, s)) },
    securityGroups: vpc.securityGroupIds.map((g, i) => ec2.SecurityGroup.fromSecurityGroupId(scope, `SecurityGroup${i}`, g, { mutable: false })),
  };
}

/**
 * The app's stack (infra/app.ts): the BatchsyncJobs construct, configured
 * from the deployment settings. Your own CDK app can use the construct
 * directly instead (README, "In your own CDK app").
 */
export class BatchsyncStack extends Stack {
  readonly batchsync: BatchsyncJobs;

  constructor(scope: Construct, id: string, props: BatchsyncStackProps) {
    super(scope, id, { description: `batchsync ${props.config.name}: ${props.jobs.length} jobs`, ...props });
    const { config } = props;
    this.batchsync = new BatchsyncJobs(this, 'Jobs', {
      name: config.name,
      jobsDir: props.jobsDir,
      jobs: props.jobs,
      ...placement(this, config),
      alertEmail: config.alertEmail,
      consumerTimeout: Duration.seconds(config.consumerTimeoutSeconds),
      consumerMemoryMb: config.consumerMemoryMb,
      logRetention: config.logRetentionDays as RetentionDays,
      stuckRunHours: config.stuckRunHours,
    });
    const b = this.batchsync;
    new CfnOutput(this, 'PlannerFunctionName', { value: b.planner.functionName, description: 'Invoke with {"job": "NAME"} to start a run now' });
    new CfnOutput(this, 'EventBusName', { value: b.bus.eventBusName });
    new CfnOutput(this, 'AlertsTopicArn', { value: b.alertsTopic.topicArn, description: 'Alarms and failed runs; subscribe, or deploy with -c alertEmail=you@example.com' });
    new CfnOutput(this, 'TriggerFailuresQueueUrl', { value: b.triggerFailures.queueUrl });
  }
}
