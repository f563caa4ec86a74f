/**
 * The Lambda functions' cold-start proxy: each handler bundled with esbuild
 * as the CDK stack bundles it (infra/stack.ts, NodejsFunction `bundling`),
 * then imported in a fresh Node.js process with the environment the function
 * gets, timed from inside that process.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { DATA_DIR, REPO_DIR } from './config.ts';

const run = promisify(execFile);

export const FUNCTIONS = { planner: 'functions/planner/handler.ts', consumer: 'functions/consumer/handler.ts' } as const;
export type FunctionName = keyof typeof FUNCTIONS;

export interface Bundle {
  name: FunctionName;
  path: string;
  bytes: number;
  /** The environment the stack gives the function (and Lambda's own), for the import. */
  env: NodeJS.ProcessEnv;
}

/** Builds both bundles with the stack's esbuild options; the planner gets the example jobs next to it, as deployed. */
export async function buildBundles(): Promise<Bundle[]> {
  const bundles: Bundle[] = [];
  for (const [name, entry] of Object.entries(FUNCTIONS) as [FunctionName, string][]) {
    const dir = join(DATA_DIR, 'bundles', name);
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'index.mjs');
    // The options NodejsFunction passes to esbuild for the stack's `bundling` (infra/stack.ts).
    await build({
      entryPoints: [join(REPO_DIR, entry)],
      outfile: path,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      mainFields: ['module', 'main'],
      banner: { js: "import { createRequire as __batchsyncRequire } from 'node:module'; const require = __batchsyncRequire(import.meta.url);" },
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      external: ['pg-native'],
      logLevel: 'error',
    });
    // Both functions load their jobs at start-up, as the stack deploys them.
    await cp(join(REPO_DIR, 'infra', 'example-jobs'), join(dir, 'jobs'), { recursive: true });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_OPTIONS: '--enable-source-maps',
      // Lambda runs Node.js 22, where the SDK has nothing to warn about.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_LAMBDA_FUNCTION_NAME: `batchsync-${name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: 'bench',
      BATCHSYNC_EVENT_BUS: 'batchsync',
      BATCHSYNC_QUEUE_PREFIX: 'batchsync-',
      BATCHSYNC_METRICS_NAMESPACE: 'batchsync',
      BATCHSYNC_JOBS_DIR: join(dir, 'jobs'),
    };
    bundles.push({ name, path, bytes: (await stat(path)).size, env });
  }
  return bundles;
}

/**
 * `await import(bundle)` in a fresh process (module evaluation and top-level
 * await included): its wall milliseconds, and the CPU milliseconds the
 * process spent on it, which a busy machine inflates less.
 */
export async function importMs(bundle: Bundle): Promise<{ wallMs: number; cpuMs: number }> {
  const script = [
    'const t = performance.now(); const c = process.cpuUsage();',
    'await import(process.env.BENCH_BUNDLE);',
    'const u = process.cpuUsage(c);',
    'process.stdout.write(`${performance.now() - t} ${(u.user + u.system) / 1000}`); process.exit(0);',
  ].join(' ');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...bundle.env, BENCH_BUNDLE: bundle.path },
  });
  const [wallMs, cpuMs] = stdout.trim().split(' ').map(Number);
  if (!Number.isFinite(wallMs) || !Number.isFinite(cpuMs)) throw new Error(`importing ${bundle.path} printed ${stdout}`);
  return { wallMs, cpuMs };
}
