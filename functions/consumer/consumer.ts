import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { type ConsumerDeps, consumeRange } from '../core/consume.ts';
import { withFreshCredentials } from '../core/credentials.ts';
import { describeError } from '../core/errors.ts';
import { JobSpec } from '../core/job-spec.ts';
import type { RangeMessage } from '../core/ports.ts';
import { redact } from '../core/redact.ts';

export const RangeMessageBody = z.object({
  v: z.literal(1),
  runId: z.string().min(1),
  rangeId: z.number().int().min(0),
  job: JobSpec,
});

export interface Log {
  info(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export interface ConsumerHandlerDeps extends ConsumerDeps {
  log: Log;
  /** Drops cached connections and secrets, after a refused login. */
  forget(): Promise<void>;
  /** Puts a range message back on the queue the record came from (a range handed back before the deadline). */
  requeue(record: SQSRecord, message: RangeMessage): Promise<void>;
}

/** Time kept back from the function's timeout to commit and hand the range back. */
export function deadlineOf(context: Pick<Context, 'getRemainingTimeInMillis'>, now: number): number {
  const remaining = context.getRemainingTimeInMillis();
  return now + remaining - Math.min(60_000, remaining * 0.2);
}

/**
 * The consumer as an SQS batch handler: each record is one range, worked by
 * the core; a record that fails is reported in batchItemFailures (by the
 * middy middleware), never swallowed, so SQS delivers it again.
 */
export function createConsumerHandler(deps: ConsumerHandlerDeps) {
  const work = async (record: SQSRecord, context: Context) => {
    const message = RangeMessageBody.parse(JSON.parse(record.body)) as RangeMessage;
    const delivery = {
      message,
      receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1),
      deadline: deadlineOf(context, deps.now()),
    };
    const fields = { job: message.job.name, runId: message.runId, rangeId: message.rangeId, receiveCount: delivery.receiveCount };
    // A rotated secret: read it again, once.
    const outcome = await withFreshCredentials(() => consumeRange(delivery, deps), deps.forget);
    if (outcome.status === 'handed-back') await deps.requeue(record, message);
    deps.log.info('range processed', { ...fields, ...outcome });
    return outcome;
  };

  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(
      sqsPartialBatchFailure({
        logger: (reason: unknown, record: SQSRecord) => deps.log.error('range failed; SQS will deliver it again', { messageId: record.messageId, error: redact(describeError(reason)) }),
      }),
    )
    .handler(async (event, context) => Promise.allSettled(event.Records.map((r) => work(r, context))) as unknown as SQSBatchResponse);
}
