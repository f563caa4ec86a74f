import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const MYSQL_URL = process.env.BATCHSYNC_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const PG_URL = process.env.BATCHSYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const BIN = fileURLToPath(new URL('../bin/batchsync.js', import.meta.url));

export function mysqlConnection(): Promise<mysql.Connection> {
  // Every value as text, as the checksums compare text.
  return mysql.createConnection({ uri: MYSQL_URL, typeCast: (field) => field.string() });
}

export async function pgClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL, types: { getTypeParser: () => (v: string) => v } });
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  return client;
}

export async function tempDir(prefix = 'batchsync-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeJob(dir: string, job: object, name = 'job.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(job, null, 2));
  return path;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return finished(startCli(args, env));
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The last line of stdout as JSON (the summary of `run --json`). */
export function summary(result: CliResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`no JSON summary; exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** An order-independent digest of rows of text: the count and a sum of row hashes. */
export class Digest {
  count = 0;
  sum = 0n;

  add(row: readonly (string | null)[]): void {
    const text = row.map((v) => (v === null ? '\\N' : v)).join('\u0001');
    this.sum += BigInt(`0x${createHash('sha1').update(text).digest('hex').slice(0, 15)}`);
    this.count++;
  }

  toString(): string {
    return `${this.count}:${this.sum.toString(16)}`;
  }
}

export async function mysqlDigest(conn: mysql.Connection, sql: string): Promise<string> {
  const digest = new Digest();
  const [rows] = await conn.query({ sql, rowsAsArray: true });
  for (const row of rows as (string | null)[][]) digest.add(row.map((v) => (v === null ? null : String(v))));
  return digest.toString();
}

export async function pgDigest(client: pg.Client, sql: string): Promise<string> {
  const digest = new Digest();
  const result = await client.query({ text: sql, rowMode: 'array' });
  for (const row of result.rows as (string | null)[][]) digest.add(row);
  return digest.toString();
}

/** Polls until the probe gives a value; a probe that throws (a table not there yet) counts as no value. */
export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
