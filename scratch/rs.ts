import { recordStarts } from '../functions/core/csv.ts';
async function* chunksOf(text: string, size: number) { const b = Buffer.from(text); for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size); }
const records = ['id,text', ...Array.from({ length: 300 }, (_, i) => `${i},"line\n${'x'.repeat(i % 17)}\n""q"""`)];
const text = `${records.join('\n')}\n`;
let off = 0; const exp: number[] = []; for (const r of records) { off += Buffer.byteLength(r) + 1; exp.push(off); }
console.log(exp.slice(0, 10));
for (const c of [1, 5, 64, 1 << 20]) console.log(c, await recordStarts(chunksOf(text, c), [1, 100, 101, 777], '"', Buffer.byteLength(text)));
