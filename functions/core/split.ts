/**
 * Balanced key ranges. A database adapter describes how its rows spread
 * over the key, as sorted points each weighing the rows from its key up to
 * the next point's: a row sample (every point weighs the same) or index
 * estimates of key intervals (each point weighs its interval). Boundaries
 * are cut where the cumulative weight crosses each 1/R of the total, so a
 * skewed key (a few huge tenants, snowflake ids) still gives ranges of about
 * equal rows, which equal-width intervals of the key's values never do.
 */

/** A key as the adapters carry it: one value per key column. */
export type KeyValue = string | number | bigint | Uint8Array;
export type Key = readonly KeyValue[];

/** Rows from `key` (inclusive) up to the next point's key weigh `weight`. */
export interface KeyPoint {
  key: Key;
  weight: number;
}

/** True when two keys hold the same values. */
export function sameKey(a: Key, b: Key): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (Buffer.compare(x, y) !== 0) return false;
    } else if (x !== y) return false;
  }
  return true;
}

/**
 * The keys at which to cut `points` (sorted in the database's key order,
 * equal keys adjacent) into at most `ranges` ranges of about equal weight.
 * Each boundary is the key of a point that starts a run of equal keys, so
 * rows sharing a key are never split; boundaries are strictly increasing.
 * The first range has no lower bound and the last no upper one, so they are
 * not returned: n boundaries make n + 1 ranges.
 */
export function cutPoints(points: readonly KeyPoint[], ranges: number): Key[] {
  const total = points.reduce((sum, p) => sum + Math.max(0, p.weight), 0);
  if (ranges <= 1 || points.length < 2 || total <= 0) return [];
  // Candidate cuts: the weight before each run of equal keys.
  const starts: Array<{ index: number; before: number }> = [];
  let before = 0;
  for (let i = 0; i < points.length; i++) {
    if (i > 0 && !sameKey(points[i].key, points[i - 1].key)) starts.push({ index: i, before });
    before += Math.max(0, points[i].weight);
  }
  const cuts: Key[] = [];
  let next = 0;
  for (let r = 1; r < ranges && next < starts.length; r++) {
    const target = (total * r) / ranges;
    // The candidate closest to the target, never before the last cut.
    let best = next;
    while (best + 1 < starts.length && Math.abs(starts[best + 1].before - target) <= Math.abs(starts[best].before - target)) best++;
    const chosen = starts[best];
    const previous = cuts.length ? starts[next - 1].before : 0;
    // A cut that leaves a nearly empty range between it and the last one is worse than none.
    if (chosen.before - previous < total / ranges / 4) continue;
    cuts.push(points[chosen.index].key);
    next = best + 1;
  }
  return cuts;
}

/** How an adapter estimates and halves key intervals, for `estimatedPoints`. */
export interface IntervalProbe {
  /** Estimated rows with key >= from and (when `to` is given) key < to. */
  estimate(from: Key, to: Key | null): Promise<number>;
  /** A key strictly between `from` and `to` (or the last key), about halfway; null when there is none. */
  middle(from: Key, to: Key | null): Promise<Key | null>;
}

/**
 * Points that spread the rows from `first` (the smallest key) on, found by
 * halving key intervals whose estimate exceeds `threshold` rows, so cost
 * grows with the number of points, not with the table. Intervals that cannot
 * be halved (one key, `maxDepth` reached, or `maxPoints` made) stay whole.
 * Siblings are probed at once; the result is in key order.
 */
export async function estimatedPoints(probe: IntervalProbe, first: Key, threshold: number, limits = { maxDepth: 48, maxPoints: 4096 }): Promise<KeyPoint[]> {
  let points = 1;
  const visit = async (from: Key, to: Key | null, rows: number, depth: number): Promise<KeyPoint[]> => {
    if (rows <= threshold || depth >= limits.maxDepth || points >= limits.maxPoints) return [{ key: from, weight: rows }];
    const middle = await probe.middle(from, to);
    if (middle === null || sameKey(middle, from)) return [{ key: from, weight: rows }];
    points++;
    const [left, right] = await Promise.all([probe.estimate(from, middle), probe.estimate(middle, to)]);
    const [a, b] = await Promise.all([visit(from, middle, left, depth + 1), visit(middle, to, right, depth + 1)]);
    return a.concat(b);
  };
  return visit(first, null, await probe.estimate(first, null), 0);
}

// ---- midpoints of key values ------------------------------------------------------

/** The integer halfway between lo and hi, above lo; null when they are adjacent or out of order. */
export function middleInteger(lo: bigint, hi: bigint): bigint | null {
  if (hi - lo < 1n) return null;
  // Adjacent integers: the upper one splits "lo" rows from "hi" rows.
  return lo + (hi - lo + 1n) / 2n;
}

const UNIT = 0x10000n;
const DIGITS = 4;

function toDigits(text: string, from: number, count: number): bigint {
  let n = 0n;
  for (let i = 0; i < count; i++) n = n * UNIT + BigInt(from + i < text.length ? text.charCodeAt(from + i) : 0);
  return n;
}

function fromDigits(n: bigint, count: number): string {
  const units: number[] = [];
  for (let i = 0; i < count; i++) {
    let unit = Number(n % UNIT);
    // Lone surrogates are not text a database accepts; the nearest unit below keeps the order.
    if (unit >= 0xd800 && unit <= 0xdfff) unit = 0xd7ff;
    units.unshift(unit);
    n /= UNIT;
  }
  while (units.length && units[units.length - 1] === 0) units.pop();
  return String.fromCharCode(...units);
}

/**
 * A string about halfway between lo and hi in code-unit order, after their
 * common prefix; null when none was found. Databases order by collation, not
 * code units, so callers snap the result to a real key between the two.
 */
export function middleString(lo: string, hi: string): string | null {
  let p = 0;
  while (p < lo.length && p < hi.length && lo[p] === hi[p]) p++;
  for (let count = DIGITS; count <= 4 * DIGITS; count *= 2) {
    const a = toDigits(lo, p, count);
    const b = toDigits(hi, p, count);
    if (b <= a) return null;
    const mid = fromDigits((a + b) / 2n, count);
    const candidate = lo.slice(0, p) + mid;
    if (candidate > lo && candidate < hi) return candidate;
  }
  return null;
}

/** Bytes about halfway between lo and hi (as big-endian numbers, the shorter padded with zeros); null when none. */
export function middleBytes(lo: Uint8Array, hi: Uint8Array): Uint8Array | null {
  const width = Math.min(32, Math.max(lo.length, hi.length) + 1);
  const number = (b: Uint8Array) => {
    let n = 0n;
    for (let i = 0; i < width; i++) n = (n << 8n) | BigInt(i < b.length ? b[i] : 0);
    return n;
  };
  const a = number(lo);
  const b = number(hi);
  if (b - a < 2n) return null;
  let mid = (a + b) / 2n;
  const out = new Uint8Array(width);
  for (let i = width - 1; i >= 0; i--, mid >>= 8n) out[i] = Number(mid & 0xffn);
  return out;
}
