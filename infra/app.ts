/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy` deploy every job file in
 * jobs/, or in the directory given by `-c jobsDir=path` or BATCHSYNC_JOBS_DIR.
 * A job that cannot be deployed stops the synth with its file and the path
 * of each problem. The stack is a thin user of the BatchsyncJobs construct
 * (infra/construct.ts), which your own CDK app can use instead.
 */
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { ConfigError, readConfig } from './config.ts';
import { DeployJobsError, loadDeployJobs } from './jobs.ts';
import { BatchsyncStack } from './stack.ts';

const app = new App();
try {
  const config = readConfig((key) => app.node.tryGetContext(key), process.env);
  const jobsDir = resolve(config.jobsDir);
  const jobs = await loadDeployJobs(jobsDir, `${config.name}-`);
  new BatchsyncStack(app, config.name, {
    config,
    jobsDir,
    jobs,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  app.synth();
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof DeployJobsError)) throw error;
  process.stderr.write(`batchsync: ${error.message}\n`);
  process.exit(1);
}
