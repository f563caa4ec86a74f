/** The planner Lambda: a schedule, an upstream run's success, an S3 object or a manual invoke in; ranges on SQS out. */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadJobDir } from '../adapters/job-files.ts';
import { SqsQueue } from '../adapters/sqs.ts';
import { LambdaEnv, lambdaResources } from '../lambda-env.ts';
import { createPlannerHandler } from './planner.ts';

const env = LambdaEnv.parse(process.env);
const { opener, events } = lambdaResources(env, process.env);
const jobs = await loadJobDir(env.BATCHSYNC_JOBS_DIR);
const sqs = new SQSClient({});

export const handler = createPlannerHandler({
  jobs,
  open: opener.open,
  ledgerOf: (job) => opener.openLedger(job.target),
  queueFor: (job) => new SqsQueue(sqs, `${env.BATCHSYNC_QUEUE_PREFIX}${job.name}`),
  events,
  newRunId: randomUUID,
  now: () => new Date(),
  log: new Logger({ serviceName: 'batchsync-planner' }),
});
