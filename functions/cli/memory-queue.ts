import { randomUUID } from 'node:crypto';
import type { Received } from '../adapters/sqs.ts';
import type { Queue, RangeMessage } from '../core/ports.ts';
import { sleep } from '../core/stream.ts';
import type { Poller } from './worker.ts';

/** How often a waiting receive looks again. */
const WAIT_STEP_MS = 10;

interface Held {
  message: Received;
  visibleAt: number;
}

/**
 * The range queue of a run worked inside the command's own process: SQS's
 * semantics that the runner relies on (a received message stays invisible
 * until deleted or its visibility ends, a receive counts, a message received
 * more than `maxReceiveCount` times goes to the dead-letter list), without
 * the emulator and its HTTP. It lives and dies with the process, as the
 * embedded emulator does; the ledger is what makes a run resumable.
 */
export class MemoryQueue implements Queue, Poller {
  private held: Held[] = [];
  /** Bodies of the messages moved to the dead-letter list, not yet taken. */
  private dead: string[] = [];
  private closed = false;

  constructor(private readonly maxReceiveCount: number) {}

  async send(messages: RangeMessage[]): Promise<void> {
    for (const m of messages) {
      this.held.push({ message: { messageId: randomUUID(), receiptHandle: randomUUID(), body: JSON.stringify(m), receiveCount: 0, sentTimestamp: String(Date.now()) }, visibleAt: 0 });
    }
  }

  async receive(max: number, visibilitySeconds: number, waitSeconds: number): Promise<Received[]> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const now = Date.now();
      const taken: Received[] = [];
      for (const h of this.held) {
        if (taken.length === max) break;
        if (h.visibleAt > now) continue;
        // A new receipt handle per delivery, as SQS gives: a stale one deletes nothing.
        h.message = { ...h.message, receiptHandle: randomUUID(), receiveCount: h.message.receiveCount + 1 };
        h.visibleAt = now + visibilitySeconds * 1000;
        taken.push(h.message);
      }
      const overdue = taken.filter((m) => m.receiveCount > this.maxReceiveCount);
      if (overdue.length) {
        this.dead.push(...overdue.map((m) => m.body));
        this.remove(overdue);
      }
      const delivered = taken.filter((m) => m.receiveCount <= this.maxReceiveCount);
      if (delivered.length || this.closed || Date.now() >= deadline) return delivered;
      await sleep(WAIT_STEP_MS);
    }
  }

  async delete(messages: Received[]): Promise<void> {
    this.remove(messages);
  }

  async setVisibility(messages: Received[], seconds: number): Promise<void> {
    const handles = new Set(messages.map((m) => m.receiptHandle));
    for (const h of this.held) if (handles.has(h.message.receiptHandle)) h.visibleAt = Date.now() + seconds * 1000;
  }

  /** Ends the waits of receives: the consumers are stopping. */
  close(): void {
    this.closed = true;
  }

  /** Takes the messages no consumer holds (to move them to another queue). */
  takeWaiting(): RangeMessage[] {
    const now = Date.now();
    const waiting = this.held.filter((h) => h.visibleAt <= now);
    this.held = this.held.filter((h) => h.visibleAt > now);
    return waiting.map((h) => JSON.parse(h.message.body) as RangeMessage);
  }

  /** How many messages no consumer holds. */
  waiting(): number {
    const now = Date.now();
    return this.held.filter((h) => h.visibleAt <= now).length;
  }

  /** Takes the bodies of the messages moved to the dead-letter list. */
  takeDead(): string[] {
    return this.dead.splice(0);
  }

  private remove(messages: Received[]): void {
    const handles = new Set(messages.map((m) => m.receiptHandle));
    this.held = this.held.filter((h) => !handles.has(h.message.receiptHandle));
  }
}
