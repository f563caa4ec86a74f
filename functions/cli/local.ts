import { hostname } from 'node:os';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SecretReader } from '../adapters/connections.ts';
import { createOpener, type JobOpener } from '../adapters/open-job.ts';
import { redact } from '../core/redact.ts';
import type { JobSpec } from '../core/job-spec.ts';
import { noEvents, type Queue } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { createConsumerHandler } from '../consumer/consumer.ts';
import type { BatchHandler } from './worker.ts';

/**
 * The local stand-ins for AWS: an SQS queue (the embedded emulator, or any
 * SQS endpoint given), and the consumer handler wired as on Lambda but with
 * connections from the job files and the environment.
 */

export interface LocalQueue {
  endpoint: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  client: SQSClient;
  stop(): Promise<void>;
}

/** Loaded when first needed: a run worked in its own process never loads the SQS client. */
export async function sqsClient(endpoint: string): Promise<SQSClient> {
  const { SQSClient } = await import('@aws-sdk/client-sqs');
  return new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
}

/** Starts the embedded SQS emulator unless an endpoint is given, and creates the job's queue and DLQ. */
export async function startLocalQueue(
  name: string,
  options: { endpoint?: string; maxReceiveCount: number; visibilitySeconds: number },
): Promise<LocalQueue> {
  // Loaded only when needed: worker processes never start an emulator.
  const server = options.endpoint ? null : await (await import('fauxqs')).startFauxqs({ port: 0, logger: false });
  const endpoint = options.endpoint ?? (server as { address: string }).address;
  const client = await sqsClient(endpoint);
  try {
    const [{ GetQueueAttributesCommand }, { ensureQueues }] = await Promise.all([import('@aws-sdk/client-sqs'), import('../adapters/sqs.ts')]);
    const { queueUrl, dlqUrl } = await ensureQueues(client, name, options);
    const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    return {
      endpoint,
      queueUrl,
      dlqUrl,
      queueArn: attrs.Attributes?.QueueArn as string,
      client,
      stop: async () => {
        client.destroy();
        await server?.stop();
      },
    };
  } catch (error) {
    client.destroy();
    await server?.stop();
    throw error;
  }
}

/** `secrets`: where a job's `secretId` resolves locally (a connections file, Secrets Manager). */
export function localOpener(env: NodeJS.ProcessEnv, poolSize: number, secrets?: SecretReader): JobOpener {
  return createOpener({ env, poolSize, loadData: env.BATCHSYNC_LOAD_DATA !== 'false', secrets });
}

/** The consumer handler as Lambda runs it, with local connections and the run's job files; errors go to stderr, redacted. */
export function localConsumerHandler(opener: JobOpener, queue: Queue, jobs: readonly JobSpec[], signal: AbortSignal): BatchHandler {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  return createConsumerHandler({
    jobs: (name) => byName.get(name),
    signal,
    requeue: (_record, message) => queue.send([message]),
    open: opener.open,
    forget: opener.forget,
    events: noEvents,
    owner: `${hostname()}:${process.pid}`,
    now: Date.now,
    sleep,
    log: {
      info: () => {},
      error: (message, fields) => process.stderr.write(`batchsync worker ${process.pid}: ${message}: ${redact(String(fields?.error ?? ''))}\n`),
    },
  });
}
