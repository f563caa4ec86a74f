import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { expect, it } from 'vitest';
import { synth } from './synth.ts';

const EXAMPLES = fileURLToPath(new URL('../../infra/example-jobs/', import.meta.url));

const context = { functionName: 'planner', awsRequestId: 'bundle-test', getRemainingTimeInMillis: () => 60_000 } as Context;

// The one template test that bundles: esbuild for real, as `npm run synth` does.
it('the functions bundle to ESM with local esbuild, and the planner bundle carries the job files it plans', async () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
  const jobs = files.map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')));
  const { template, app } = synth(jobs, { bundle: true, dir: EXAMPLES });

  const assetOf = (description: string) => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: description } }))[0];
    return join(app.outdir, `asset.${(fn.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
  };
  const planner = assetOf('batchsync: plans runs of the deployed jobs');
  const consumer = assetOf('batchsync: writes ranges into MySQL');

  expect(readdirSync(join(planner, 'jobs')).sort()).toEqual(files.sort());
  for (const f of files) expect(readFileSync(join(planner, 'jobs', f), 'utf8')).toBe(readFileSync(join(EXAMPLES, f), 'utf8'));
  // The consumer carries them too: it loads a range's job from its own bundle.
  expect(readdirSync(join(consumer, 'jobs')).sort()).toEqual(files.sort());

  // Each bundle is one ES module that loads by itself: no node_modules next to it.
  const region = process.env.AWS_REGION;
  process.env.AWS_REGION = 'eu-west-1';
  try {
    for (const dir of [planner, consumer]) {
      expect(readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map', 'jobs']);
      const mod = await import(pathToFileURL(join(dir, 'index.mjs')).href);
      expect(typeof mod.handler).toBe('function');
    }
    // The planner read ./jobs/ next to its bundle at cold start.
    const { handler } = await import(pathToFileURL(join(planner, 'index.mjs')).href);
    await expect(handler({ job: 'nope' }, context)).rejects.toThrow('unknown job "nope" (deployed: education_totals, partner_orders, write_result)');
  } finally {
    if (region === undefined) delete process.env.AWS_REGION;
    else process.env.AWS_REGION = region;
  }
});
