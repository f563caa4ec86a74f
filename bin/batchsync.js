#!/usr/bin/env node
// The `batchsync` command. The TypeScript sources and their dependencies are
// bundled with esbuild into one cached script (rebuilt only when a source or
// the package lock is newer), so a command, and each consumer worker
// process, starts without compiling TypeScript or resolving hundreds of
// package files. Code only some runs need (the SQS client, pg, the S3
// client) is evaluated only by the runs that use it.
//
// The script runs with a V8 code cache, one per command: the bytecode of
// every function the command's first run compiled, so later runs skip
// parsing and compiling them (with the latin1 read below, a one-row job's
// command went from 320 ms to 245; bench/PROFILE.md). Node 22 does the same
// for modules with module.enableCompileCache(); this works on Node 20 too.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

// The AWS SDK warns that Node 20 support ends in 2027; the deployed functions run on Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), '..');
const sources = join(root, 'functions');
const cache = join(root, 'node_modules', '.cache', 'batchsync');
/** Kept out of the bundle: native code and the bundler itself. */
const EXTERNAL = ['pg-native', 'esbuild', '@duckdb/*'];
/** Older builds are removed once no process can still be starting from them. */
const STALE_MS = 10 * 60_000;
const SCRIPT = 'main.cjs';
const DIGEST_BYTES = 20;

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
  if (await exists(join(dir, SCRIPT))) return dir;
  const { build } = await import('esbuild');
  // Built aside and renamed, so a process starting meanwhile never reads half a bundle.
  const partial = `${dir}.${process.pid}`;
  await mkdir(partial, { recursive: true });
  await build({
    entryPoints: [join(sources, 'cli', 'main.ts')],
    outfile: join(partial, SCRIPT),
    bundle: true,
    platform: 'node',
    // A script, not a module: only a script can be given a code cache on Node 20.
    format: 'cjs',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: EXTERNAL,
    // Lazy imports stay lazy (a module's code runs on first use) but become require(): on Node 20 a
    // script read from a code cache cannot import().
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': '__batchsyncUrl' },
    banner: { js: "const __batchsyncUrl = require('node:url').pathToFileURL(__filename).href;" },
    // ASCII only (esbuild escapes every other character in code, and no comment is kept), read as latin1: a
    // third of the time of decoding UTF-8.
    charset: 'ascii',
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  await rename(partial, dir).catch(async (error) => {
    // Another process built the same sources first: use its bundle.
    await rm(partial, { recursive: true, force: true });
    if (!(await exists(join(dir, SCRIPT)))) throw error;
  });
  for (const entry of await readdir(cache)) {
    const path = join(cache, entry);
    if (path !== dir && Date.now() - (await stat(path)).mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true }).catch(() => {});
  }
  return dir;
}

/**
 * Runs the bundle's main() for these arguments. The command's code cache is
 * written once it has succeeded (so it holds the functions a whole command
 * ran, and a mistyped command leaves none), when there was none or V8
 * rejected it (another Node.js, other flags).
 */
async function runBundle(dir, args) {
  const file = join(dir, SCRIPT);
  const cacheFile = join(dir, `${(args[0] ?? 'help').replace(/[^a-z-]/g, '_')}.v8cache`);
  const cachedData = await readCache(cacheFile);
  const source = `(function (exports, require, module, __filename, __dirname) {${await readFile(file, 'latin1')}\n})`;
  const script = new Script(source, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  const code = await module.exports.main(args);
  if (code === 0 && (cachedData === undefined || script.cachedDataRejected)) {
    // Written aside and renamed, so a process starting meanwhile never reads half a cache.
    const partial = `${cacheFile}.${process.pid}`;
    const data = script.createCachedData();
    await writeFile(partial, Buffer.concat([digest(data), data]))
      .then(() => rename(partial, cacheFile))
      .catch(() => rm(partial, { force: true }));
  }
  return code;
}

/**
 * A code cache as written, or undefined. V8 checks a cache's version, flags
 * and source length, not its bytes (a damaged one would crash the process):
 * the file starts with their digest.
 */
async function readCache(path) {
  const file = await readFile(path).catch(() => null);
  if (file === null || file.length <= DIGEST_BYTES) return undefined;
  const data = file.subarray(DIGEST_BYTES);
  return digest(data).equals(file.subarray(0, DIGEST_BYTES)) ? data : undefined;
}

function digest(data) {
  return createHash('sha1').update(data).digest();
}

function exists(path) {
  return stat(path).then(() => true, () => false);
}

const dir = await ensureBundle();
process.env.BATCHSYNC_BIN = self;
process.exit(await runBundle(dir, process.argv.slice(2)));
