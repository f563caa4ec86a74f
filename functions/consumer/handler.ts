/** The consumer Lambda: SQS batches of range messages in, batchItemFailures out. */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { loadJobDir } from '../adapters/job-files.ts';
import { SqsQueue } from '../adapters/sqs.ts';
import type { RangeMessage } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { LambdaEnv, lambdaResources } from '../lambda-env.ts';
import { createConsumerHandler } from './consumer.ts';

const env = LambdaEnv.parse(process.env);
const log = new Logger({ serviceName: 'batchsync-consumer' });
const resources = lambdaResources(env, process.env, log);
// The consumer runs the jobs it was deployed with, by the name in each message: never a job a message carries.
const jobs = await loadJobDir(env.BATCHSYNC_JOBS_DIR);
const sqs = new SQSClient({});

/**
 * Puts a range back on the queue its record came from, named at the end of
 * the record's ARN (arn:aws:sqs:region:account:name), in the message group
 * it came in (one per run, or one per range: names.ts messageGroupOf).
 */
async function requeue(record: SQSRecord, message: RangeMessage): Promise<void> {
  const group = record.attributes.MessageGroupId ?? message.runId;
  await new SqsQueue(sqs, record.eventSourceARN.split(':')[5], () => group).send([message]);
}

// Rows, dirty records and duration are emitted per job when a run ends (resources.events), from the ledger's totals.
export const handler = createConsumerHandler({
  open: resources.open,
  jobs: (name) => jobs.get(name),
  forget: resources.forget,
  requeue,
  extendVisibility: (record, seconds) => new SqsQueue(sqs, record.eventSourceARN.split(':')[5]).extendVisibility(record.receiptHandle, seconds),
  events: resources.events,
  owner: resources.owner,
  now: Date.now,
  sleep,
  log,
}).use(injectLambdaContext(log));
