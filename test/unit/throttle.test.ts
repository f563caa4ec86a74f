import { describe, expect, it } from 'vitest';
import { chunkRows, consumeRange, type ConsumerDeps } from '../../functions/core/consume.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { planRun } from '../../functions/core/plan.ts';
import type { RangeMessage } from '../../functions/core/ports.ts';
import { peakConcurrency, reserveBoth, reserveOn } from '../../functions/core/throttle.ts';
import { column } from './columns.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';

describe('job-wide throttle', () => {
  it('each reservation moves a shared clock on by cost / rate and waits for it', () => {
    expect(reserveOn(null, 100, 50, 100)).toEqual({ clock: 100.5, wait: 0 });
    expect(reserveOn(100.5, 100.1, 50, 100)).toEqual({ clock: 101, wait: 0.4000000000000057 });
    // An idle clock does not bank credit: a late reservation starts now.
    expect(reserveOn(101, 200, 50, 100)).toEqual({ clock: 200.5, wait: 0 });
  });

  it('rows and bytes each have their clock; the longer wait wins; an unset rate is no limit', () => {
    const r = reserveBoth({ rows: null, bytes: 10 }, 10, { rows: 100, bytes: 4096 }, { rows: 1000, bytes: 1024 });
    expect(r).toEqual({ clocks: { rows: 10.1, bytes: 14 }, wait: 0 });
    expect(reserveBoth(r.clocks, 10, { rows: 100, bytes: 0 }, { rows: 1000, bytes: null }).wait).toBeCloseTo(0.1);
  });

  it('four consumers, one finishing early, together never beat the job rate', () => {
    const rate = 1000;
    let clock: number | null = null;
    const freeAt = [0, 0, 0, 0];
    const chunks = [40, 40, 40, 5]; // the fourth consumer runs out of work early
    let written = 0;
    let lastWrite = 0;
    while (chunks.some((n) => n > 0)) {
      // The consumer that is free first, among those with work left, reserves and writes its next chunk.
      const c = freeAt.reduce((best, t, i) => (chunks[i] > 0 && (best < 0 || t < freeAt[best]) ? i : best), -1);
      const now = freeAt[c];
      const r = reserveOn(clock, now, 125, rate);
      clock = r.clock;
      freeAt[c] = now + r.wait + 0.01; // the write itself takes 10 ms
      lastWrite = Math.max(lastWrite, freeAt[c]);
      chunks[c]--;
      written += 125;
    }
    expect(written).toBe(125 * 125);
    // The last chunk starts at (written - 125) / rate: the job's rate, give or take one chunk.
    expect(written / lastWrite).toBeLessThanOrEqual(rate * (1 + 125 / written) + 1);
    expect(written / lastWrite).toBeGreaterThan(rate * 0.99);
  });

  it('a throttled chunk is about half a second of the job rate per consumer', () => {
    const job = (channel: object) => JobSpec.parse({
      name: 'j', source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
      target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't' }, channel,
    });
    expect(chunkRows(job({}))).toBe(10_000);
    expect(chunkRows(job({ rowsPerSecond: 1000, maxConcurrency: 4 }))).toBe(125);
    expect(chunkRows(job({ bytesPerSecond: 1024 * 1024, maxConcurrency: 2 }))).toBe(8192);
    expect(chunkRows(job({ rowsPerSecond: 1 }))).toBe(1);
  });
});

describe('peak concurrency', () => {
  it('counts overlapping attempts; one ending as another starts is not an overlap', () => {
    const at = (s: number) => new Date(s * 1000);
    expect(peakConcurrency([
      { rangeId: 0, startedAt: at(0), endedAt: at(10) },
      { rangeId: 1, startedAt: at(5), endedAt: at(15) },
      { rangeId: 2, startedAt: at(10), endedAt: at(20) },
      { rangeId: 3, startedAt: at(12), endedAt: at(13) },
    ], at(20))).toBe(3);
    expect(peakConcurrency([{ rangeId: 0, startedAt: at(0), endedAt: at(1) }, { rangeId: 1, startedAt: at(1), endedAt: at(2) }], at(2))).toBe(1);
  });

  it('an attempt whose consumer died ends when its range is attempted again', () => {
    const at = (s: number) => new Date(s * 1000);
    const attempts = [
      { rangeId: 0, startedAt: at(0), endedAt: null },
      { rangeId: 1, startedAt: at(1), endedAt: at(9) },
      { rangeId: 0, startedAt: at(5), endedAt: at(10) },
    ];
    expect(peakConcurrency(attempts, at(10))).toBe(2);
  });
});

describe('a range handed back at its deadline', () => {
  it('commits what it wrote; the next delivery continues after the checkpoint', async () => {
    const spec = JobSpec.parse({
      name: 'memo', source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
      target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't', batchRows: 10 },
    });
    const source = new ArraySource(Array.from({ length: 50 }, (_, i) => [String(i)]), ['id'], 50);
    const ledger = new MemoryLedger();
    const target = new MemoryTarget(ledger, [column('int', { name: 'id' })]);
    const messages: RangeMessage[] = [];
    const open = async () => ({ source, target, ledger });
    let now = 0;
    // Each write takes 1 s of the injected clock.
    const write = target.write.bind(target);
    target.write = async (chunk) => ((now += 1000), write(chunk));
    const deps: ConsumerDeps = { open, jobs: () => spec, events: { publish: async () => {} }, owner: 't', now: () => now, sleep: async () => {} };
    await planRun({ job: spec, logicalTime: new Date(0), vars: {}, mode: 'trigger' }, { open, queue: { send: async (m) => void messages.push(...m) }, events: deps.events, newRunId: () => 'r' });
    expect(target.events).toEqual(['prepare r']);
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline: 2500 }, deps)).toEqual({ status: 'handed-back', rowsWritten: 30 });
    expect(ledger.range('r', 0)).toMatchObject({ status: 'running', checkpoint: '30' });
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'done', rowsWritten: 20 });
    expect(target.rows).toHaveLength(50);
    expect(target.events).toEqual(['prepare r', 'publish r']);
    expect(ledger.attempts.every((a) => a.endedAt !== null)).toBe(true);
  });
});
