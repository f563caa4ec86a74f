import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConnectionError } from '../core/errors.ts';
import { RdsSecret, type SecretReader } from './connections.ts';

/**
 * Secrets Manager, in the RDS secret shape. A secret is read once per
 * process and kept (warm Lambda invocations reuse it); `fresh` re-reads it
 * after a refused login, which is how a rotation is picked up.
 */
export class SecretsManagerReader implements SecretReader {
  private readonly cache = new Map<string, Promise<RdsSecret>>();
  private readonly jsonCache = new Map<string, Promise<unknown>>();

  constructor(private readonly client: SecretsManagerClient) {}

  read(secretId: string, fresh: boolean): Promise<RdsSecret> {
    const cached = this.cache.get(secretId);
    if (cached && !fresh) return cached;
    const reading = this.fetch(secretId);
    this.cache.set(secretId, reading);
    reading.catch(() => this.cache.delete(secretId));
    return reading;
  }

  readJson(secretId: string, fresh: boolean): Promise<unknown> {
    const cached = this.jsonCache.get(secretId);
    if (cached && !fresh) return cached;
    const reading = this.fetchJson(secretId, 'JSON');
    this.jsonCache.set(secretId, reading);
    reading.catch(() => this.jsonCache.delete(secretId));
    return reading;
  }

  private async fetchJson(secretId: string, shape: string): Promise<unknown> {
    let text: string | undefined;
    try {
      text = (await this.client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    } catch (error) {
      throw new ConnectionError(`cannot read secret ${secretId}: ${(error as Error).name}`, { cause: error });
    }
    try {
      return JSON.parse(text ?? '');
    } catch {
      throw new ConnectionError(`secret ${secretId} is not ${shape}`);
    }
  }

  private async fetch(secretId: string): Promise<RdsSecret> {
    const json = await this.fetchJson(secretId, 'JSON in the RDS secret shape (host, port, username, password, dbname)');
    const parsed = RdsSecret.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
      throw new ConnectionError(`secret ${secretId} lacks fields of the RDS secret shape: ${fields}`);
    }
    return parsed.data;
  }
}
