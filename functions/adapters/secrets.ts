import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConnectionError } from '../core/errors.ts';
import { RdsSecret, type SecretReader } from './connections.ts';

const RDS_SHAPE = 'JSON in the RDS secret shape (host, port, username, password, dbname)';

/** How long a secret read is kept: a rotation is picked up within this time even without a refused login. */
export const SECRET_TTL_MS = 5 * 60_000;

/**
 * Secrets Manager, in the RDS secret shape. A secret is kept for `ttlMs`
 * (warm Lambda invocations reuse it) and read again after that; `fresh`
 * re-reads it at once, after a refused login.
 */
export class SecretsManagerReader implements SecretReader {
  private readonly cache = new Map<string, { reading: Promise<unknown>; at: number }>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly ttlMs = SECRET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async read(secretId: string, fresh: boolean): Promise<RdsSecret> {
    const parsed = RdsSecret.safeParse(await this.readJson(secretId, fresh, RDS_SHAPE));
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
      throw new ConnectionError(`secret ${secretId} lacks fields of the RDS secret shape: ${fields}`);
    }
    return parsed.data;
  }

  /** The secret's JSON, whatever its shape (S3 keys, say), kept as `read` keeps it. */
  readJson(secretId: string, fresh: boolean, shape = 'JSON'): Promise<unknown> {
    const cached = this.cache.get(secretId);
    if (cached && !fresh && this.now() - cached.at < this.ttlMs) return cached.reading;
    const reading = this.fetchJson(secretId, shape);
    const entry = { reading, at: this.now() };
    this.cache.set(secretId, entry);
    reading.catch(() => {
      if (this.cache.get(secretId) === entry) this.cache.delete(secretId);
    });
    return reading;
  }

  /** The secret's text as JSON; `shape` says what was expected when it is not JSON (never its contents). */
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
}
