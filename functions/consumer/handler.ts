/** The consumer Lambda: SQS batches of range messages in, batchItemFailures out. */
import { Logger } from '@aws-lambda-powertools/logger';
import { sleep } from '../core/stream.ts';
import { LambdaEnv, lambdaResources } from '../lambda-env.ts';
import { createConsumerHandler } from './consumer.ts';

const env = LambdaEnv.parse(process.env);
const { opener, events, owner } = lambdaResources(env, process.env);

export const handler = createConsumerHandler({
  open: opener.open,
  forget: opener.forget,
  events,
  owner,
  now: Date.now,
  sleep,
  log: new Logger({ serviceName: 'batchsync-consumer' }),
});
