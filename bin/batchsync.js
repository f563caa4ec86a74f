#!/usr/bin/env node
// The `batchsync` command. The TypeScript sources and their dependencies are
// bundled with esbuild into cached modules (rebuilt only when a source or the
// package lock is newer), so a command, and each consumer worker process,
// starts without compiling TypeScript or resolving hundreds of package files.
// Code only some runs need (the SQS client, the queue emulator, pg, the S3
// client) sits in chunks of its own, loaded by the first run that needs it.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The AWS SDK warns that Node 20 support ends in 2027; the deployed functions run on Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), '..');
const sources = join(root, 'functions');
const cache = join(root, 'node_modules', '.cache', 'batchsync');
/** Kept out of the bundle: native code, the bundler itself, and the emulator (its own chunk of files, loaded only for a queue). */
const EXTERNAL = ['fauxqs', 'pg-native', 'esbuild', '@duckdb/*'];
/** Older builds are removed once no process can still be loading chunks from them. */
const STALE_MS = 10 * 60_000;

async function newestInput() {
  let newest = Math.max((await stat(self)).mtimeMs, await stat(join(root, 'package-lock.json')).then((s) => s.mtimeMs, () => 0));
  for (const entry of await readdir(sources, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return Math.floor(newest);
}

/** The directory of the bundle for the current sources, built when missing. */
async function ensureBundle() {
  const dir = join(cache, `cli-${await newestInput()}`);
  if (await stat(join(dir, 'main.mjs')).then(() => true, () => false)) return dir;
  const { build } = await import('esbuild');
  // Built aside and renamed, so a process starting meanwhile never reads half a bundle.
  const partial = `${dir}.${process.pid}`;
  await mkdir(partial, { recursive: true });
  await build({
    entryPoints: { main: join(sources, 'cli', 'main.ts') },
    outdir: partial,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: EXTERNAL,
    // Bundled CommonJS (mysql2, pg, the AWS SDK) calls require(); ESM output has none unless it is made.
    banner: { js: "import { createRequire as __batchsyncRequire } from 'node:module'; const require = __batchsyncRequire(import.meta.url);" },
    logLevel: 'error',
  });
  await rename(partial, dir).catch(async (error) => {
    // Another process built the same sources first: use its bundle.
    await rm(partial, { recursive: true, force: true });
    if (!(await stat(join(dir, 'main.mjs')).then(() => true, () => false))) throw error;
  });
  for (const entry of await readdir(cache)) {
    const path = join(cache, entry);
    if (path !== dir && Date.now() - (await stat(path)).mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true }).catch(() => {});
  }
  return dir;
}

const dir = await ensureBundle();
process.env.BATCHSYNC_BIN = self;
const { main } = await import(pathToFileURL(join(dir, 'main.mjs')).href);
process.exit(await main(process.argv.slice(2)));
