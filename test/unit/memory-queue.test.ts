import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../functions/cli/memory-queue.ts';
import type { RangeMessage } from '../../functions/core/ports.ts';

const message = (rangeId: number): RangeMessage => ({ v: 2, job: 'j', runId: 'r', rangeId, logicalTime: '2026-12-01T00:00:00.000Z', vars: {}, specHash: 'h' });
const rangeIds = (bodies: Array<{ body: string }>) => bodies.map((m) => (JSON.parse(m.body) as RangeMessage).rangeId);

describe('the in-memory range queue (SQS semantics the local runner relies on)', () => {
  it('hands a message to one receiver at a time until it is deleted', async () => {
    const q = new MemoryQueue(5);
    await q.send([message(1), message(2), message(3)]);
    const first = await q.receive(2, 30, 0);
    expect(rangeIds(first)).toEqual([1, 2]);
    expect(rangeIds(await q.receive(10, 30, 0))).toEqual([3]);
    expect(await q.receive(10, 30, 0)).toEqual([]);
    await q.delete(first);
    expect(q.waiting()).toBe(0);
  });

  it('makes a message visible again when its visibility ends, counting the receives, with a new receipt handle', async () => {
    const q = new MemoryQueue(5);
    await q.send([message(1)]);
    const [a] = await q.receive(1, 30, 0);
    await q.setVisibility([a], 0);
    const [b] = await q.receive(1, 30, 0);
    expect(b.receiveCount).toBe(2);
    expect(b.receiptHandle).not.toBe(a.receiptHandle);
    // The old receipt handle deletes nothing.
    await q.delete([a]);
    await q.setVisibility([b], 0);
    expect(q.waiting()).toBe(1);
  });

  it('moves a message received more than maxReceiveCount times to the dead-letter list', async () => {
    const q = new MemoryQueue(2);
    await q.send([message(7)]);
    for (let i = 0; i < 2; i++) await q.setVisibility(await q.receive(1, 30, 0), 0);
    expect(await q.receive(1, 30, 0)).toEqual([]);
    expect(q.takeDead().map((b) => (JSON.parse(b) as RangeMessage).rangeId)).toEqual([7]);
    expect(q.takeDead()).toEqual([]);
    expect(q.waiting()).toBe(0);
  });

  it('a waiting receive returns when a message arrives, and at once once closed', async () => {
    const q = new MemoryQueue(5);
    const pending = q.receive(1, 30, 5);
    setTimeout(() => void q.send([message(4)]), 30);
    expect(rangeIds(await pending)).toEqual([4]);
    // A 60 s wait: were it not ended by close, the test would time out.
    const waiting = q.receive(1, 30, 60);
    q.close();
    expect(await waiting).toEqual([]);
  });

  it('gives up the messages no consumer holds, to move them to another queue', async () => {
    const q = new MemoryQueue(5);
    await q.send([message(1), message(2), message(3)]);
    await q.receive(1, 30, 0);
    expect(q.takeWaiting().map((m) => m.rangeId)).toEqual([2, 3]);
    expect(q.waiting()).toBe(0);
    expect(await q.receive(10, 30, 0)).toEqual([]);
  });
});
