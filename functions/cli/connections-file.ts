import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { RdsSecret, SecretReader } from '../adapters/connections.ts';
import { JobError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { readJsonFile } from './args.ts';

/**
 * Secrets for local runs, so one job file serves local and deployed runs: a
 * job's `secretId` is looked up in a connections file (a JSON map from
 * secret id to connection URL, kept out of the job file), else in Secrets
 * Manager when AWS credentials are configured.
 */

const ConnectionsMap = z.record(z.string().min(1), z.string().min(1));

/** The secret a URL stands for, in the RDS shape a deployed run reads from Secrets Manager. */
export function urlSecret(text: string, where: string): RdsSecret {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new JobError(`${where}: not a valid URL`);
  }
  const password = decodeURIComponent(url.password);
  registerSecret(password || undefined);
  const engine = /^postgres(ql)?:$/.test(url.protocol) ? 'postgres' : /^(mysql|mariadb):$/.test(url.protocol) ? 'mysql' : null;
  if (!engine) throw new JobError(`${where}: expected a mysql:// or postgres:// URL, got ${url.protocol}//`);
  const ssl = (url.searchParams.get('ssl') ?? url.searchParams.get('sslmode'))?.toLowerCase();
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port || undefined,
    username: decodeURIComponent(url.username) || (engine === 'mysql' ? 'root' : 'postgres'),
    password,
    dbname: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
    engine,
    // As in a job's URL: TLS only when the URL asks for it.
    ssl: ssl !== undefined && !['false', 'disable', '0'].includes(ssl),
  };
}

export class ConnectionsFileReader implements SecretReader {
  constructor(
    private readonly file: string | null,
    private readonly urls: Record<string, string>,
    /** Secrets Manager, for ids the file does not hold; null when no AWS credentials are configured. */
    private readonly aws: SecretReader | null,
  ) {}

  async read(secretId: string, fresh: boolean): Promise<RdsSecret> {
    const url = this.urls[secretId];
    if (url !== undefined) return urlSecret(url, `${this.file}: "${secretId}"`);
    if (this.aws) return this.aws.read(secretId, fresh);
    const where = this.file ? `it is not in ${this.file}` : 'no --connections FILE was given';
    throw new JobError(`secret ${secretId}: ${where}, and no AWS credentials are configured for Secrets Manager (a connections file maps secret ids to URLs: { "${secretId}": "mysql://user:pass@host:3306/db" })`);
  }
}

export async function loadConnections(file: string): Promise<Record<string, string>> {
  const json = await readJsonFile('--connections', file);
  const parsed = ConnectionsMap.safeParse(json);
  if (!parsed.success) throw new JobError(`--connections ${file}: expected a JSON object from secret id to connection URL`);
  return parsed.data;
}

/** True when the AWS SDK would find credentials: the environment's keys, a profile, a role, or the shared files. */
export function awsCredentialsConfigured(env: Record<string, string | undefined>): boolean {
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE) return true;
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return true;
  const home = env.HOME ?? homedir();
  return [env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')].some((f) => existsSync(f));
}

/** The secret reader of a local command: the connections file, then Secrets Manager if credentials allow. */
export async function localSecrets(file: string | undefined, env: Record<string, string | undefined>): Promise<ConnectionsFileReader> {
  const urls = file ? await loadConnections(file) : {};
  // Loaded only when it can be used: the SDK client is a large module for a command to start with.
  const aws = awsCredentialsConfigured(env) ? await secretsManager() : null;
  return new ConnectionsFileReader(file ?? null, urls, aws);
}

async function secretsManager(): Promise<SecretReader> {
  const [{ SecretsManagerClient }, { SecretsManagerReader }] = await Promise.all([import('@aws-sdk/client-secrets-manager'), import('../adapters/secrets.ts')]);
  return new SecretsManagerReader(new SecretsManagerClient({}));
}
