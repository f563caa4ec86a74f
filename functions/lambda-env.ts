/**
 * What both Lambda functions read from their environment, parsed once at
 * cold start. Everything else comes from the job files bundled with them.
 */
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { EventBridgeEvents, noEvents } from './adapters/events.ts';
import { createOpener } from './adapters/open-job.ts';
import { SecretsManagerReader } from './adapters/secrets.ts';

export const LambdaEnv = z.object({
  /** Where the job files are; the CDK stack copies them next to the handler. */
  BATCHSYNC_JOBS_DIR: z.string().default(fileURLToPath(new URL('./jobs/', import.meta.url))),
  /** Queue names are this prefix and the job's name. */
  BATCHSYNC_QUEUE_PREFIX: z.string().default('batchsync-'),
  BATCHSYNC_EVENT_BUS: z.string().optional(),
  BATCHSYNC_LOAD_DATA: z.enum(['true', 'false']).default('true'),
  AWS_LAMBDA_LOG_STREAM_NAME: z.string().optional(),
});
export type LambdaEnv = z.infer<typeof LambdaEnv>;

/** Clients, pools and secrets made once per execution environment and reused while it is warm. */
export function lambdaResources(env: LambdaEnv, processEnv: Record<string, string | undefined>) {
  const opener = createOpener({
    env: processEnv,
    secrets: new SecretsManagerReader(new SecretsManagerClient({})),
    poolSize: 4,
    loadData: env.BATCHSYNC_LOAD_DATA === 'true',
  });
  const events = env.BATCHSYNC_EVENT_BUS ? new EventBridgeEvents(new EventBridgeClient({}), env.BATCHSYNC_EVENT_BUS) : noEvents;
  const owner = `lambda:${env.AWS_LAMBDA_LOG_STREAM_NAME ?? hostname()}:${process.pid}`;
  return { opener, events, owner };
}
