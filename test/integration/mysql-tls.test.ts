/**
 * TLS by default for a secret's MySQL connection (issue 11, item 6), against
 * a private MariaDB started here with a certificate made here (openssl):
 * verified with the right CA, refused clearly with another CA or with a
 * server without TLS, and off with "ssl": false.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'batchsync-tls-'));
const port = 34000 + Math.floor(Math.random() * 2000);
let server: ChildProcess | undefined;

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, and a server certificate it signs for 127.0.0.1 and localhost. */
function makeCertificates(): void {
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=batchsync test ${ca}`, '-keyout', `${ca}-key.pem`, '-out', `${ca}.pem`);
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server-key.pem', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
}

async function waitForPort(p: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: p }, () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the private MariaDB did not open port ${p}`);
}

beforeAll(async () => {
  makeCertificates();
  const data = join(dir, 'data');
  execFileSync('mariadb-install-db', ['--no-defaults', '--user=root', `--datadir=${data}`, '--auth-root-authentication-method=normal'], { stdio: 'pipe' });
  server = spawn(
    'mariadbd',
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${data}`,
      `--port=${port}`,
      `--socket=${join(data, 's')}`,
      '--bind-address=127.0.0.1',
      '--skip-grant-tables',
      `--ssl-cert=${join(dir, 'server.pem')}`,
      `--ssl-key=${join(dir, 'server-key.pem')}`,
      `--ssl-ca=${join(dir, 'ca.pem')}`,
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
}, 120_000);

afterAll(async () => {
  if (server?.pid && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    process.kill(server.pid, 'SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** What a function sees connecting with this secret, with this CA file in NODE_EXTRA_CA_CERTS. */
function probe(secret: Record<string, unknown>, caFile?: string): { ssl: string; cipher?: string; error?: string; name?: string } {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/integration/tls-probe.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...env, PROBE_SECRET: JSON.stringify(secret), ...(caFile && { NODE_EXTRA_CA_CERTS: join(dir, caFile) }) },
  });
  if (result.status !== 0) throw new Error(`probe failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() as string);
}

const secret = (extra: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port, username: 'root', password: 'unused', dbname: 'mysql', engine: 'mysql', ...extra });

describe('a secret connection to MySQL uses TLS with certificate verification by default', () => {
  it('with the server CA given (as the RDS bundle is on Lambda), the connection is encrypted and verified', () => {
    const out = probe(secret(), 'ca.pem');
    expect(out.error).toBeUndefined();
    expect(out.ssl).toBe('verify');
    expect(out.cipher).toMatch(/^TLS|AES|CHACHA/);
  });

  it('with another CA the connection is refused, clearly, naming the server and how to opt out', () => {
    const out = probe(secret(), 'other-ca.pem');
    expect(out.name).toBe('ConnectionError');
    expect(out.error).toMatch(new RegExp(`^cannot open a verified TLS connection to mysql://root@127\\.0\\.0\\.1:${port}/mysql: .*certificate`));
    expect(out.error).toContain('"ssl": false in the secret turns TLS off');
    expect(out.error).not.toContain('unused'); // no password
  });

  it('"ssl": false connects without TLS', () => {
    const out = probe(secret({ ssl: false }), 'other-ca.pem');
    expect(out).toEqual({ ssl: 'off', cipher: '' });
  });
});
