/** The consumer Lambda: SQS batches of range messages in, batchItemFailures out. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadJobDir } from '../adapters/job-files.ts';
import { SqsQueue } from '../adapters/sqs.ts';
import { sleep } from '../core/stream.ts';
import { LambdaEnv, lambdaResources } from '../lambda-env.ts';
import { createConsumerHandler } from './consumer.ts';

const env = LambdaEnv.parse(process.env);
const log = new Logger({ serviceName: 'batchsync-consumer' });
const resources = lambdaResources(env, process.env, log);
// The consumer runs the jobs it was deployed with, by the name in each message: never a job a message carries.
const jobs = await loadJobDir(env.BATCHSYNC_JOBS_DIR);
const sqs = new SQSClient({});
const queues = new Map<string, SqsQueue>();

/** The queue a record came from, by the name at the end of its ARN (arn:aws:sqs:region:account:name). */
function queueOf(eventSourceARN: string): SqsQueue {
  const name = eventSourceARN.split(':')[5];
  let queue = queues.get(name);
  if (!queue) {
    queue = new SqsQueue(sqs, name);
    queues.set(name, queue);
  }
  return queue;
}

// Rows, dirty records and duration are emitted per job when a run ends (resources.events), from the ledger's totals.
export const handler = createConsumerHandler({
  open: resources.open,
  jobs: (name) => jobs.get(name),
  forget: resources.forget,
  requeue: (record, message) => queueOf(record.eventSourceARN).send([message]),
  extendVisibility: (record, seconds) => queueOf(record.eventSourceARN).extendVisibility(record.receiptHandle, seconds),
  events: resources.events,
  owner: resources.owner,
  now: Date.now,
  sleep,
  log,
}).use(injectLambdaContext(log));
