import { randomUUID } from 'node:crypto';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Received } from '../adapters/sqs.ts';

export type BatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The receiving side of a queue (SQS, or a run's in-memory queue). */
export interface Poller {
  receive(max: number, visibilitySeconds: number, waitSeconds: number): Promise<Received[]>;
  delete(messages: Received[]): Promise<void>;
  setVisibility(messages: Received[], seconds: number): Promise<void>;
}

export interface WorkerOptions {
  poller: Poller;
  queueArn: string;
  handler: BatchHandler;
  visibilitySeconds: number;
  /** How long a failed message stays invisible before its next delivery. */
  retryDelaySeconds: number;
  /** What getRemainingTimeInMillis counts down from, like a Lambda timeout. */
  invocationMs: number;
  signal: AbortSignal;
  /** Called once each batch is settled (deleted or made visible again). */
  onBatch?: () => void;
}

export function toEvent(messages: Received[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.messageId,
      receiptHandle: m.receiptHandle,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: m.sentTimestamp,
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
    })),
  };
}

export function lambdaContext(invocationMs: number): Context {
  const deadline = Date.now() + invocationMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'batchsync-consumer',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:batchsync-consumer',
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * Plays the Lambda SQS event source for one consumer instance: receive a
 * message (a batch of one), keep it invisible while the handler works (a killed worker's
 * messages reappear after the visibility timeout), delete what succeeded and
 * make failures visible again after a short delay; SQS's redrive policy moves
 * a message that keeps failing to the dead-letter queue.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const { poller, signal } = options;
  while (!signal.aborted) {
    const messages = await poller.receive(1, options.visibilitySeconds, 1);
    if (messages.length === 0) continue;
    const heartbeat = setInterval(() => {
      poller.setVisibility(messages, options.visibilitySeconds).catch(() => {});
    }, (options.visibilitySeconds * 1000) / 3);
    let response: SQSBatchResponse;
    try {
      response = await options.handler(toEvent(messages, options.queueArn), lambdaContext(options.invocationMs));
    } finally {
      clearInterval(heartbeat);
    }
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    await poller.delete(messages.filter((m) => !failed.has(m.messageId)));
    const retry = messages.filter((m) => failed.has(m.messageId));
    if (retry.length) await poller.setVisibility(retry, options.retryDelaySeconds);
    options.onBatch?.();
  }
}
