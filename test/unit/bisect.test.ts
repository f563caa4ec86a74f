import { describe, expect, it } from 'vitest';
import { writeBisecting } from '../../functions/core/bisect.ts';
import { readAhead } from '../../functions/core/stream.ts';

describe('writeBisecting', () => {
  it('finds each rejected row in about 2·log2(n) statements per bad row, writing every good row', async () => {
    const items = Array.from({ length: 1024 }, (_, i) => i);
    const bad = new Set([517]);
    const written: number[] = [];
    let statements = 0;
    const rejected = await writeBisecting(items, async (group) => {
      statements++;
      const hit = group.find((i) => bad.has(i));
      if (hit !== undefined) return `duplicate ${hit}`;
      written.push(...group);
      return null;
    });
    expect(rejected).toEqual([{ item: 517, reason: 'duplicate 517' }]);
    expect(written.sort((a, b) => a - b)).toEqual(items.filter((i) => i !== 517));
    expect(statements).toBe(1 + 2 * 10);
  });

  it('a clean batch is one statement', async () => {
    let statements = 0;
    await writeBisecting([1, 2, 3], async () => (statements++, null));
    expect(statements).toBe(1);
  });
});

describe('readAhead', () => {
  it('yields everything in order and closes the source when the reader stops early', async () => {
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; i < 10; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const seen: number[] = [];
    for await (const v of readAhead(source())) {
      seen.push(v);
      if (v === 3) break;
    }
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(closed).toBe(true);
  });
});
