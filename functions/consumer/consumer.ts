import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { type ConsumerDeps, consumeRange } from '../core/consume.ts';
import { withFreshCredentials } from '../core/credentials.ts';
import { describeError, JobError } from '../core/errors.ts';
import { RangeMessage } from '../core/ports.ts';
import { redact } from '../core/redact.ts';

/** An SQS body as a range message, or a named error: parsed once, at the edge. */
const RangeMessageBody = z.string().transform((body, ctx) => {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not JSON' });
    return z.NEVER;
  }
}).pipe(RangeMessage);

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
  /** Keeps the record's message invisible for `seconds` more (a range held through a health pause); default: nothing. */
  extendVisibility?(record: SQSRecord, seconds: number): Promise<void>;
}

/** Visibility a held message is given while paused: the invocation's remaining time and a margin, within SQS's 12 hours. */
export function heldVisibilitySeconds(context: Pick<Context, 'getRemainingTimeInMillis'>): number {
  return Math.min(43_200, Math.ceil(context.getRemainingTimeInMillis() / 1000) + 60);
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
    const parsed = RangeMessageBody.safeParse(record.body);
    if (!parsed.success) throw new JobError(`message ${record.messageId} is not a batchsync range message: ${parsed.error.issues[0]?.message}`);
    const message = parsed.data;
    const delivery = {
      message,
      receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1),
      deadline: deadlineOf(context, deps.now()),
    };
    const fields = { job: message.job, runId: message.runId, rangeId: message.rangeId, receiveCount: delivery.receiveCount };
    // While paused, the range's message must stay invisible, or SQS would hand it to a second consumer.
    const recordDeps: ConsumerDeps = {
      ...deps,
      heartbeat: async (attempt) => {
        await deps.heartbeat?.(attempt);
        await deps.extendVisibility?.(record, heldVisibilitySeconds(context));
      },
    };
    // A rotated secret: read it again, once.
    const outcome = await withFreshCredentials(() => consumeRange(delivery, recordDeps), deps.forget);
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
