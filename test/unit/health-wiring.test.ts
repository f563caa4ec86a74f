import { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { createConsumerHandler } from '../../functions/consumer/consumer.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { planRun } from '../../functions/core/plan.ts';
import { noEvents, type RangeMessage } from '../../functions/core/ports.ts';
import { measuredEvents, METRIC } from '../../functions/lambda-env.ts';
import { column } from './columns.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';
import { busy, healthOf } from './health-fakes.ts';

const job = JobSpec.parse({
  name: 'memo',
  source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
  target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't', batchRows: 10, health: { maxLoad: { Threads_running: 25 } } },
});

async function setup(script = [busy(40), busy(40), busy(3)]) {
  const h = healthOf(script);
  const source = new ArraySource(Array.from({ length: 20 }, (_, i) => [String(i), `n${i}`]), ['id', 'name'], 20);
  const ledger = new MemoryLedger();
  const target = new MemoryTarget(ledger, [column('int', { name: 'id' }), column('varchar(20)', { name: 'name' })]);
  const open = async () => ({ source, target, ledger, health: h.health });
  const messages: RangeMessage[] = [];
  await planRun({ job, logicalTime: new Date('2026-01-01T00:00:00Z'), vars: {}, mode: 'trigger' }, { open, queue: { send: async (m) => void messages.push(...m) }, events: noEvents, newRunId: () => 'run-1' });
  return { h, ledger, target, open, messages };
}

describe('a paused consumer on AWS', () => {
  it('heartbeats its attempt and keeps its SQS message invisible for the rest of the invocation', async () => {
    const { h, ledger, target, open, messages } = await setup();
    const extended: Array<{ messageId: string; seconds: number }> = [];
    const attempts: number[] = [];
    const handler = createConsumerHandler({
      open,
      jobs: () => job,
      forget: async () => {},
      events: noEvents,
      owner: 'test',
      now: h.clock.now,
      sleep: h.clock.sleep,
      heartbeat: async (a) => void attempts.push(a.attemptId),
      extendVisibility: async (record: SQSRecord, seconds: number) => void extended.push({ messageId: record.messageId, seconds }),
      log: { info: () => {}, error: () => {} },
      requeue: async () => {},
    });
    const event = {
      Records: [{ messageId: 'm-1', receiptHandle: 'r-1', body: JSON.stringify(messages[0]), attributes: { ApproximateReceiveCount: '1' }, eventSourceARN: 'arn:aws:sqs:us-east-1:0:q' }],
    } as unknown as SQSEvent;
    const response = await handler(event, { getRemainingTimeInMillis: () => 600_000 } as never);
    expect(response.batchItemFailures).toEqual([]);
    expect(target.rows).toHaveLength(20);
    // Two paused checks, 1 s apart: one heartbeat (they are 10 s apart), carrying the attempt, and the message kept for 600 s + 60 s.
    expect(attempts).toEqual([ledger.attempts.length - 1]);
    expect(extended).toEqual([{ messageId: 'm-1', seconds: 660 }]);
  });
});

describe('the PausedMs metric', () => {
  it('is emitted when a run of a job with target.health ends, from its paused time', async () => {
    const { h, ledger } = await setup();
    await h.store.pausing('run-1', ['Threads_running 40 > 25']);
    h.clock.t += 2500;
    await h.store.resumed('run-1');
    const metrics = new Metrics({ namespace: 'test', serviceName: 'batchsync' });
    const add = vi.spyOn(metrics, 'addMetric');
    vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const events = measuredEvents(noEvents, new Map([['memo', ledger]]), metrics, { info: () => {}, error: () => {} }, new Map([['memo', h.store]]));
    await events.publish({ type: 'Run Succeeded', job: 'memo', runId: 'run-1', logicalTime: '2026-01-01T00:00:00.000Z', error: null });
    expect(add).toHaveBeenCalledWith(METRIC.pausedMs, 'Milliseconds', 2500);
  });
});
