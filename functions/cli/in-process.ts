import { randomUUID } from 'node:crypto';
import type { Ledger, Queue, RangeMessage } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import { type BatchHandler, lambdaContext, toEvent } from './worker.ts';

/**
 * A run too small to share out (one or two ranges) is worked in the command's
 * own process: no queue emulator, no worker processes to start. The ranges
 * still go through the consumer handler exactly as SQS would deliver them
 * (one message each, redelivered after a failure until maxReceiveCount, then
 * "dead-lettered"), so checkpoints, dirty checks and exactly-once hold as on
 * the queue; a command that dies leaves the ranges in the ledger, and running
 * it again resumes them.
 */

interface Pending {
  message: RangeMessage;
  receiveCount: number;
}

/** The planner's queue, in memory: what it sends is held for the in-process consumer or the real queue. */
export class MemoryQueue implements Queue {
  readonly pending: Pending[] = [];

  async send(messages: RangeMessage[]): Promise<void> {
    for (const message of messages) this.pending.push({ message, receiveCount: 0 });
  }
}

export interface InProcessOptions {
  queue: MemoryQueue;
  /** The consumer handler, whose handed-back ranges come back through `queue`. */
  handler: BatchHandler;
  ledger: Ledger;
  /** Ranges worked at once. */
  concurrency: number;
  maxReceiveCount: number;
  invocationMs: number;
  retryDelayMs: number;
}

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:batchsync-in-process';

/** Delivers every message of `queue` until none is left, `concurrency` at a time. */
export async function consumeInProcess(options: InProcessOptions): Promise<void> {
  const { queue } = options;
  const deliver = async (item: Pending) => {
    item.receiveCount++;
    const received = { messageId: randomUUID(), receiptHandle: 'in-process', body: JSON.stringify(item.message), receiveCount: item.receiveCount, sentTimestamp: String(Date.now()) };
    const response = await options.handler(toEvent([received], QUEUE_ARN), lambdaContext(options.invocationMs));
    if (response.batchItemFailures.length === 0) return;
    if (item.receiveCount >= options.maxReceiveCount) {
      // What the dead-letter queue means on SQS: the range is given up, and the run with it.
      const { runId, rangeId } = item.message;
      await options.ledger.failRange(runId, rangeId, `delivered ${item.receiveCount} times without finishing; moved to the dead-letter queue`);
      return;
    }
    await sleep(options.retryDelayMs);
    queue.pending.push(item);
  };
  const lane = async () => {
    for (let item = queue.pending.shift(); item; item = queue.pending.shift()) await deliver(item);
  };
  // A lane that finds the queue empty while another still works may miss a message handed back later: lanes run until all are idle.
  for (;;) {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, lane));
    if (queue.pending.length === 0) return;
  }
}
