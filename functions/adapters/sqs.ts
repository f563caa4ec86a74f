import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { RetryableError } from '../core/errors.ts';
import type { Queue, RangeMessage } from '../core/ports.ts';

/**
 * The range queue: messages go out in batches of ten (the SQS maximum). A
 * FIFO queue (name ending .fifo) gets one message group per run, so SQS
 * hands out one range of a run at a time: how a job with maxConcurrency 1
 * is deployed, as the Lambda event source cannot limit below 2.
 */
export class SqsQueue implements Queue {
  /**
   * `queue` is a URL, or a queue name whose URL is looked up on first use.
   * `groupOf` picks a FIFO message's group (default: its run).
   */
  constructor(
    private readonly client: SQSClient,
    private queue: string,
    private readonly groupOf: (m: RangeMessage) => string = (m) => m.runId,
  ) {}

  private async url(): Promise<string> {
    if (!this.queue.includes('/')) this.queue = (await this.client.send(new GetQueueUrlCommand({ QueueName: this.queue }))).QueueUrl as string;
    return this.queue;
  }

  /** Keeps a received message invisible for `seconds` from now: its range is still being worked (paused). */
  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: await this.url(), ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
  }

  async send(messages: RangeMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.url();
    for (let i = 0; i < messages.length; i += 10) {
      const fifo = this.queue.endsWith('.fifo');
      // Ids are per batch entry: one batch may carry a range twice (a delivery that overran its time, say).
      const entries = messages.slice(i, i + 10).map((m, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(m),
        // A range sent again (a resumed run) must not be taken for a duplicate by FIFO deduplication.
        ...(fifo && { MessageGroupId: this.groupOf(m), MessageDeduplicationId: `${m.runId}-${m.rangeId}-${randomUUID()}` }),
      }));
      const result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queue, Entries: entries }));
      if (result.Failed?.length) {
        throw new RetryableError(`the queue refused ${result.Failed.length} range messages: ${result.Failed[0].Message ?? result.Failed[0].Code}`);
      }
    }
  }
}

/** One received message, as the Lambda event source would hand it over. */
export interface Received {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
  sentTimestamp: string;
}

/**
 * The receiving side of the queue, for the local runner, which plays the
 * Lambda event source: receive a batch, keep it invisible while it is being
 * worked, delete what succeeded, hand failures back for redelivery.
 */
export class SqsPoller {
  constructor(
    private readonly client: SQSClient,
    readonly queueUrl: string,
  ) {}

  async receive(max: number, visibilitySeconds: number, waitSeconds: number): Promise<Received[]> {
    const result = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        VisibilityTimeout: visibilitySeconds,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
    );
    return (result.Messages ?? []).map((m) => ({
      messageId: m.MessageId as string,
      receiptHandle: m.ReceiptHandle as string,
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      sentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
    }));
  }

  async delete(messages: Received[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const entries = messages.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle }));
      await this.client.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
    }
  }

  /** Sets the messages' remaining invisibility: longer while working, short to retry soon. */
  async setVisibility(messages: Received[], seconds: number): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const entries = messages.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle, VisibilityTimeout: seconds }));
      await this.client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
    }
  }

  async approximateCount(): Promise<number> {
    const result = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    const a = result.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
  }
}

/** Creates (or finds) a queue and its dead-letter queue; returns both URLs. */
export async function ensureQueues(
  client: SQSClient,
  name: string,
  options: { maxReceiveCount: number; visibilitySeconds: number },
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = dlq.QueueUrl as string;
  const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const redrive = { deadLetterTargetArn: attrs.Attributes?.QueueArn, maxReceiveCount: String(options.maxReceiveCount) };
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: { RedrivePolicy: JSON.stringify(redrive), VisibilityTimeout: String(options.visibilitySeconds) },
    }),
  );
  return { queueUrl: queue.QueueUrl as string, dlqUrl };
}
