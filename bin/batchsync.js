#!/usr/bin/env node
// The `batchsync` command. The TypeScript sources are bundled with esbuild
// into a cached module (rebuilt only when a source is newer), so a command,
// and each consumer worker process, starts without compiling anything.
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The AWS SDK warns that Node 20 support ends in 2027; the deployed functions run on Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'functions');
const bundle = join(root, 'node_modules', '.cache', 'batchsync', 'cli.mjs');

async function newestSource(dir) {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function ensureBundle() {
  const built = await stat(bundle).then((s) => s.mtimeMs, () => 0);
  if (built > (await newestSource(sources))) return;
  const { build } = await import('esbuild');
  await mkdir(dirname(bundle), { recursive: true });
  // Written aside and renamed, so a process starting meanwhile never reads half a file.
  const partial = `${bundle}.${process.pid}`;
  await build({
    entryPoints: [join(sources, 'cli', 'main.ts')],
    outfile: partial,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  await rename(partial, bundle);
}

await ensureBundle();
process.env.BATCHSYNC_BIN = fileURLToPath(import.meta.url);
const { main } = await import(pathToFileURL(bundle).href);
process.exit(await main(process.argv.slice(2)));
