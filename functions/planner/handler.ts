/** The planner Lambda: a schedule, an upstream run's success, an S3 object or a manual invoke in; ranges on SQS out. */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadJobDir } from '../adapters/job-files.ts';
import { SqsQueue } from '../adapters/sqs.ts';
import { emitJobMetrics, LambdaEnv, lambdaResources } from '../lambda-env.ts';
import { METRIC, messageGroupOf, rangeQueueName } from '../names.ts';
import { createPlannerHandler } from './planner.ts';

const env = LambdaEnv.parse(process.env);
const log = new Logger({ serviceName: 'batchsync-planner' });
const resources = lambdaResources(env, process.env, log);
const jobs = await loadJobDir(env.BATCHSYNC_JOBS_DIR);
const sqs = new SQSClient({});

const plan = createPlannerHandler({
  jobs,
  open: resources.open,
  ledgerOf: resources.openLedger,
  queueFor: (job) => new SqsQueue(sqs, rangeQueueName(env.BATCHSYNC_QUEUE_PREFIX, job), (m) => messageGroupOf(job.channel.maxConcurrency, m)),
  events: resources.events,
  newRunId: randomUUID,
  now: () => new Date(),
  stuckAfterMs: env.BATCHSYNC_STUCK_RUN_HOURS * 3_600_000,
  log,
});

type Planned = Awaited<ReturnType<typeof plan>>;

export const handler = middy<unknown, Planned, Error, Context>()
  .use(injectLambdaContext(log))
  .handler(async (event, context) => {
    // A warm pool whose secret was rotated: read the secrets again, once. Planning again is safe (one run per logical time).
    const planned = await resources.withFreshCredentials(() => plan(event, context));
    for (const p of planned) {
      if ('stuck' in p) emitJobMetrics(resources.metrics, p.job, [[METRIC.stuckRuns, MetricUnit.Count, p.stuck]]);
      else if (p.outcome === 'created') {
        emitJobMetrics(resources.metrics, p.job, [
          [METRIC.runsStarted, MetricUnit.Count, 1],
          [METRIC.rangesQueued, MetricUnit.Count, p.ranges],
        ]);
      }
    }
    return planned;
  });
