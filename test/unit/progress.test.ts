import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duration, estimate, Progress, progressLine } from '../../functions/cli/output.ts';
import { formatCount } from '../../functions/core/format.ts';
import type { RangeRecord, RunRecord } from '../../functions/core/ports.ts';

function run(over: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: 'r1', job: 'orders', logicalTime: new Date('2026-12-01T00:00:00Z'), status: 'running', error: null, ranges: 4, rangesDone: 0,
    rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0, prepared: true, createdAt: new Date('2026-12-01T00:00:00Z'), finishedAt: null,
    vars: {}, attempt: 1, dataHash: '', specHash: '', supersededBy: null, eventPublished: false, liveAttempts: 0, lastActivity: new Date('2026-12-01T00:00:00Z'),
    ...over,
  };
}

function range(rangeId: number, status: RangeRecord['status'], rowsRead: number): RangeRecord {
  return { runId: 'r1', rangeId, status, spec: { description: '', bounds: null }, checkpoint: null, rowsRead, rowsWritten: rowsRead, dirtyRecords: 0, skipped: 0, bytesWritten: 0, attempts: 1, owner: null, error: null };
}

class FakeStream {
  chunks: string[] = [];
  constructor(readonly isTTY: boolean) {}
  write(text: string): boolean {
    this.chunks.push(text);
    return true;
  }
}

describe('progress by rows', () => {
  it('says ? for the rate and the time left until it knows them', () => {
    const e = estimate(run({ rowsRead: 500, rowsWritten: 500 }), [range(0, 'running', 500), range(1, 'pending', 0)], { ms: 0, rowsRead: 0 });
    expect(e).toEqual({ rate: null, totalRows: null, secondsLeft: null });
    expect(progressLine(run({ rowsWritten: 500 }), e)).toBe('orders: 500 rows written, ? rows/s, ? left, ranges 0/4');
  });

  it('estimates the rows left from the ranges done and the rate since it began watching', () => {
    // Two ranges of 1,000 done, one halfway, one not started: about 1,500 rows left, at 100 rows/s.
    const ranges = [range(0, 'done', 1000), range(1, 'done', 1000), range(2, 'running', 500), range(3, 'pending', 0)];
    const now = run({ rangesDone: 2, rowsRead: 2500, rowsWritten: 2500, dirtyRecords: 3 });
    const e = estimate(now, ranges, { ms: 20_000, rowsRead: 500 });
    expect(e).toEqual({ rate: 100, totalRows: 4000, secondsLeft: 15 });
    expect(progressLine(now, e)).toBe('orders: 2,500 of about 4,000 rows written, 100 rows/s, 15.0s left, ranges 2/4, 3 dirty');
  });

  it('without range records, spreads the rows read over the ranges done', () => {
    const e = estimate(run({ rangesDone: 1, rowsRead: 1000, rowsWritten: 1000 }), null, { ms: 10_000, rowsRead: 0 });
    expect(e).toEqual({ rate: 100, totalRows: 4000, secondsLeft: 30 });
    // Dirty rows are read too: the run moves on though nothing is written.
    expect(estimate(run({ rangesDone: 1, rowsRead: 1000, dirtyRecords: 1000 }), null, { ms: 10_000, rowsRead: 0 }).rate).toBe(100);
  });

  it('on a terminal rewrites one line on every update', () => {
    let clock = 0;
    const stream = new FakeStream(true);
    const p = new Progress(stream, false, () => clock);
    p.update(run());
    clock = 250;
    p.update(run({ rowsWritten: 10 }));
    expect(stream.chunks).toHaveLength(2);
    for (const c of stream.chunks) expect(c).toMatch(/^\rorders: .* rows written, .* rows\/s, .* left, ranges \d+\/4\u001b\[K$/);
    p.done(run({ status: 'succeeded', rangesDone: 4, rowsRead: 10, rowsWritten: 10 }));
    expect(stream.chunks.at(-1)).toBe('\n');
    expect(stream.chunks.at(-2)).toMatch(/, none left, ranges 4\/4/);
  });

  it('elsewhere writes a line every 5 seconds, and one at the end', () => {
    let clock = 0;
    const stream = new FakeStream(false);
    const p = new Progress(stream, false, () => clock);
    for (; clock <= 12_000; clock += 250) p.update(run({ rowsWritten: clock }));
    expect(stream.chunks.length).toBe(3); // at 0, 5 and 10 s
    for (const c of stream.chunks) expect(c).toMatch(/^orders: [\d,]+ rows written, .* rows\/s, .* left, ranges 0\/4\n$/);
    p.done(run({ status: 'succeeded', rangesDone: 4 }));
    expect(stream.chunks).toHaveLength(4);
  });

  it('writes durations a person reads', () => {
    expect([duration(850), duration(12_340), duration(245_000), duration(7_620_000)]).toEqual(['850ms', '12.3s', '4m05s', '2h07m']);
  });
});

describe('formatCount', () => {
  it('groups digits in threes as en-US does', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), (x) => formatCount(x) === x.toLocaleString('en-US')));
    expect([0, 999, 1000, 1234567].map(formatCount)).toEqual(['0', '999', '1,000', '1,234,567']);
  });
});
