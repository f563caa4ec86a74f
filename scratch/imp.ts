const t0 = performance.now();
for (const m of ['zod', '@aws-sdk/client-sqs', 'mysql2/promise', 'pg', 'pg-copy-streams', '@middy/core', 'fauxqs', '../functions/core/convert.ts', '../functions/adapters/open-job.ts']) {
  const t = performance.now(); await import(m); console.log(m, Math.round(performance.now() - t));
}
console.log('total', Math.round(performance.now() - t0));
