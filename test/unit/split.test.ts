import { describe, expect, it } from 'vitest';
import { cutPoints, estimatedPoints, type IntervalProbe, type Key, type KeyPoint, middleInteger, middleString, sameKey } from '../../functions/core/split.ts';

/** Rows per range for sorted integer keys cut at `cuts` (each cut starts a range). */
function rowsPerRange(keys: readonly number[], cuts: readonly Key[]): number[] {
  const bounds = cuts.map((c) => Number(c[0]));
  const counts = new Array(bounds.length + 1).fill(0);
  let r = 0;
  for (const k of keys) {
    while (r < bounds.length && k >= bounds[r]) r++;
    counts[r]++;
  }
  return counts;
}

function maxOverMean(counts: number[]): number {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return Math.max(...counts) / mean;
}

/** 80% of the rows in the first 1% of the key space, the rest spread over all of it; sorted, unique. */
function skewedKeys(rows: number, space: number): number[] {
  const hot = Math.floor(rows * 0.8);
  const keys = new Set<number>();
  for (let i = 0; keys.size < hot; i++) keys.add(Math.floor(((i * 7919) % (space / 100)) + 1));
  for (let i = 0; keys.size < rows; i++) keys.add(Math.floor(space / 100 + ((i * 104729) % (space - space / 100))));
  return [...keys].sort((a, b) => a - b);
}

/** A deterministic pseudo-random generator (xorshift), so samples are repeatable. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('cutPoints', () => {
  it('cuts a uniform sample into equal ranges', () => {
    const points: KeyPoint[] = Array.from({ length: 1000 }, (_, i) => ({ key: [i], weight: 1 }));
    const cuts = cutPoints(points, 4);
    expect(cuts).toEqual([[250], [500], [750]]);
  });

  it('balances a skewed key from a row sample within 1.3x of the mean', () => {
    const keys = skewedKeys(200_000, 20_000_000);
    const next = random(42);
    const sample = keys.filter(() => next() < 0.05).map((k) => ({ key: [k], weight: 1 }));
    for (const ranges of [4, 8, 16]) {
      const counts = rowsPerRange(keys, cutPoints(sample, ranges));
      expect(counts).toHaveLength(ranges);
      expect(maxOverMean(counts)).toBeLessThanOrEqual(1.3);
    }
    // Equal width, for comparison, puts most rows in the first range.
    const width = 20_000_000 / 8;
    const equal = rowsPerRange(keys, Array.from({ length: 7 }, (_, i) => [(i + 1) * width]));
    expect(maxOverMean(equal)).toBeGreaterThan(5);
  });

  it('never cuts between equal keys, and skips cuts that would make empty ranges', () => {
    const points: KeyPoint[] = [...Array(90).fill(7), 8, 9, 10, 11, 12, 13, 14, 15, 16, 17].map((k) => ({ key: [k], weight: 1 }));
    const cuts = cutPoints(points, 4);
    expect(cuts.length).toBeGreaterThan(0);
    for (const cut of cuts) expect(cut[0]).not.toBe(7);
    for (let i = 1; i < cuts.length; i++) expect(Number(cuts[i][0])).toBeGreaterThan(Number(cuts[i - 1][0]));
  });

  it('uses the weights of estimated intervals', () => {
    const points: KeyPoint[] = [
      { key: [0], weight: 100 },
      { key: [10], weight: 100 },
      { key: [20], weight: 1 },
      { key: [30], weight: 199 },
    ];
    expect(cutPoints(points, 2)).toEqual([[20]]);
  });

  it('gives no cuts for one range, one point or no weight', () => {
    expect(cutPoints([{ key: [1], weight: 5 }, { key: [2], weight: 5 }], 1)).toEqual([]);
    expect(cutPoints([{ key: [1], weight: 5 }], 4)).toEqual([]);
    expect(cutPoints([], 4)).toEqual([]);
  });

  it('works on composite and string keys', () => {
    const points: KeyPoint[] = [];
    for (const tenant of ['a', 'b']) for (let i = 0; i < 50; i++) points.push({ key: [tenant, i], weight: 1 });
    expect(cutPoints(points, 4)).toEqual([['a', 25], ['b', 0], ['b', 25]]);
  });
});

/** An index over sorted integer keys that estimates like InnoDB: exact below 500 rows, about twice the rows above. */
function fakeIndex(keys: readonly number[]): IntervalProbe & { calls: number } {
  const lower = (k: number) => {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const noise = random(7);
  const probe = {
    calls: 0,
    async estimate(from: Key, to: Key | null) {
      probe.calls++;
      const n = (to === null ? keys.length : lower(Number(to[0]))) - lower(Number(from[0]));
      return n < 500 ? n : Math.round(n * (1.9 + 0.2 * noise()));
    },
    async middle(from: Key, to: Key | null) {
      probe.calls++;
      const last = to === null ? keys[keys.length - 1] : keys[lower(Number(to[0])) - 1];
      const mid = middleInteger(BigInt(from[0] as number), BigInt(last));
      if (mid === null) return null;
      const snapped = keys[lower(Number(mid))];
      return snapped > (from[0] as number) && (to === null || snapped < Number(to[0])) ? [snapped] : null;
    },
  };
  return probe;
}

describe('estimatedPoints', () => {
  it('finds ranges within 1.3x of the mean on a skewed key, probing far fewer times than there are rows', async () => {
    const keys = skewedKeys(200_000, 20_000_000);
    for (const ranges of [4, 8]) {
      const index = fakeIndex(keys);
      const points = await estimatedPoints(index, [keys[0]], keys.length / (ranges * 8));
      const counts = rowsPerRange(keys, cutPoints(points, ranges));
      expect(counts).toHaveLength(ranges);
      expect(maxOverMean(counts)).toBeLessThanOrEqual(1.3);
      expect(index.calls).toBeLessThan(1000);
    }
  });

  it('keeps an interval that cannot be halved whole', async () => {
    const probe: IntervalProbe = { estimate: async () => 1000, middle: async () => null };
    expect(await estimatedPoints(probe, [5], 10)).toEqual([{ key: [5], weight: 1000 }]);
  });
});

describe('midpoints', () => {
  it('halves integers, and splits adjacent ones at the upper', () => {
    expect(middleInteger(0n, 10n)).toBe(5n);
    expect(middleInteger(4n, 5n)).toBe(5n);
    expect(middleInteger(5n, 5n)).toBeNull();
    expect(middleInteger(-(2n ** 63n), 2n ** 63n - 1n)).toBe(0n);
  });

  it('finds a string strictly between two strings', () => {
    for (const [lo, hi] of [['a', 'b'], ['apple', 'banana'], ['customer-000001', 'customer-999999'], ['', 'z'], ['abc', 'abd'], ['a', 'a\u0001'], ['大学', '学生']]) {
      const mid = middleString(lo, hi) as string;
      expect(mid > lo && mid < hi, `${lo} < ${mid} < ${hi}`).toBe(true);
    }
    expect(middleString('b', 'a')).toBeNull();
    expect(middleString('a', 'a')).toBeNull();
    const mid = middleString('customer-000001', 'customer-999999') as string;
    expect(mid.startsWith('customer-')).toBe(true);
  });

  it('compares keys by value, bytes included', () => {
    expect(sameKey([1, 'a'], [1, 'a'])).toBe(true);
    expect(sameKey([1, 'a'], [1, 'b'])).toBe(false);
    expect(sameKey([Buffer.from('ab')], [Buffer.from('ab')])).toBe(true);
    expect(sameKey([1], [1, 2])).toBe(false);
  });
});
