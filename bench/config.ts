/** Where the benchmark finds its servers, the batchsync command and its scratch space. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The same variables the integration tests read, so one setting points both at another server.
export const MYSQL_URL = process.env.BATCHSYNC_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const PG_URL = process.env.BATCHSYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const BIN = fileURLToPath(new URL('../bin/batchsync.js', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
/** Git-ignored: generated sources and job files, kept between runs so re-runs skip generation. */
export const DATA_DIR = join(BENCH_DIR, 'data');
