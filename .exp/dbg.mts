import { csvAsText } from '/work/main/functions/core/csv.ts';
async function* one(b: string) { yield Buffer.from(b); }
for await (const b of csvAsText(one('1,2\n3,4\n'), { delimiter: ',', quote: '"', nullValue: '' }, 2, { rows: 100, bytes: 1 << 20 })) console.log(JSON.stringify(b.text.toString()), b.rows, b.items);
