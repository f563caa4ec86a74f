import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AuthError, BatchsyncError, ConnectionError, JobError, RetryableError, StatementError, UnreachableError } from '../../core/errors.ts';
import type { FilesSource, S3Connection } from '../../core/job-spec.ts';
import { registerSecret } from '../../core/redact.ts';
import type { FileInfo, FileStore } from './store.ts';

/** How to reach S3 (or an S3-compatible service), parsed once where the process starts. */
export interface S3Options {
  /** e.g. http://127.0.0.1:4566 for an emulator; absent: AWS. */
  endpoint?: string;
  region: string;
  /** bucket in the path (emulators, MinIO) instead of the host name. */
  forcePathStyle: boolean;
}

/**
 * S3 options from the environment: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL),
 * AWS_REGION (or AWS_DEFAULT_REGION), and BATCHSYNC_S3_FORCE_PATH_STYLE,
 * which defaults to true when an endpoint is given.
 */
export function s3OptionsFromEnv(env: Record<string, string | undefined>): S3Options {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const pathStyle = env.BATCHSYNC_S3_FORCE_PATH_STYLE;
  return {
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    forcePathStyle: pathStyle === undefined ? endpoint !== undefined : pathStyle === 'true',
  };
}

/** Static keys for an S3-compatible store; absent, the SDK's credential chain. */
export const S3Keys = z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), sessionToken: z.string().min(1).optional() });
export type S3Keys = z.infer<typeof S3Keys>;

/** One client per process: it keeps its connections and credentials across warm invocations. */
export function createS3Client(options: S3Options, keys?: S3Keys): S3Client {
  return new S3Client({ endpoint: options.endpoint, region: options.region, forcePathStyle: options.forcePathStyle, ...(keys && { credentials: keys }) });
}

/**
 * How a files source reaches its store: its own endpoint, region and path
 * style where it sets them, else the process's (AWS_ENDPOINT_URL_S3…). A
 * source with an endpoint addresses buckets by path unless it says not to:
 * OSS and MinIO take both, emulators only that.
 */
export function s3OptionsOf(spec: Pick<FilesSource, 'endpoint' | 'region' | 'forcePathStyle'>, base: S3Options): S3Options {
  if (spec.endpoint === undefined) return { ...base, region: spec.region ?? base.region, forcePathStyle: spec.forcePathStyle ?? base.forcePathStyle };
  return { endpoint: spec.endpoint, region: spec.region ?? base.region, forcePathStyle: spec.forcePathStyle ?? true };
}

export interface S3KeySources {
  env: Record<string, string | undefined>;
  /** A secret's JSON; absent where Secrets Manager is not configured. */
  readSecret?: (secretId: string, fresh: boolean) => Promise<unknown>;
}

function keysFrom(json: unknown, where: string): S3Keys {
  const parsed = S3Keys.safeParse(json);
  if (!parsed.success) throw new ConnectionError(`${where}: expected JSON {"accessKeyId": …, "secretAccessKey": …}`);
  registerSecret(parsed.data.secretAccessKey);
  registerSecret(parsed.data.sessionToken);
  return parsed.data;
}

/** The keys a source's `connection` names: JSON in an environment variable or a secret. */
export async function s3KeysOf(conn: S3Connection, sources: S3KeySources, fresh = false): Promise<S3Keys> {
  if (conn.urlFromEnv !== undefined) {
    const where = `source.connection.urlFromEnv (${conn.urlFromEnv})`;
    const text = sources.env[conn.urlFromEnv];
    if (!text) throw new JobError(`source.connection.urlFromEnv: environment variable ${conn.urlFromEnv} is not set`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new JobError(`${where}: not JSON; expected {"accessKeyId": …, "secretAccessKey": …}`);
    }
    return keysFrom(json, where);
  }
  const secretId = conn.secretId as string;
  if (!sources.readSecret) throw new ConnectionError('source.connection.secretId: Secrets Manager is not configured here');
  return keysFrom(await sources.readSecret(secretId, fresh), `source.connection.secretId: secret ${secretId}`);
}

/**
 * S3 clients per store a process reads: one per endpoint, region, path style
 * and connection, made once and kept across warm invocations, so sources on
 * AWS, OSS and MinIO can be read by the same process.
 */
export class S3Clients {
  private readonly clients = new Map<string, Promise<S3Client>>();

  constructor(
    private readonly base: S3Options,
    private readonly keys: S3KeySources,
  ) {}

  clientFor(spec: Pick<FilesSource, 'endpoint' | 'region' | 'forcePathStyle' | 'connection'>): Promise<S3Client> {
    const options = s3OptionsOf(spec, this.base);
    const key = JSON.stringify([options, spec.connection ?? null]);
    let client = this.clients.get(key);
    if (!client) {
      const conn = spec.connection;
      client = (async () => createS3Client(options, conn && (await s3KeysOf(conn, this.keys))))();
      this.clients.set(key, client);
      client.catch(() => this.clients.delete(key));
    }
    return client;
  }

  /** Drops every client: the next source reads its keys again (after a rotation). */
  destroy(): void {
    for (const client of this.clients.values()) client.then((c) => c.destroy()).catch(() => {});
    this.clients.clear();
  }
}

/** `s3://bucket/prefix` as its parts. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new JobError(`source.url: ${url} is not an s3://bucket/prefix URL`);
  return { bucket: m[1], prefix: m[2] };
}

/** An S3 error as one of ours, naming the bucket. */
export function s3Error(error: unknown, where: string): BatchsyncError {
  if (error instanceof BatchsyncError) return error;
  const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? e.code ?? '';
  const status = e.$metadata?.httpStatusCode ?? 0;
  const message = `${where}: ${e.message ?? String(error)}`;
  if (name === 'NoSuchBucket' || name === 'NoSuchKey' || status === 404) return new JobError(message, { cause: error });
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) return new AuthError(message, { cause: error });
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ETIMEDOUT'].includes(e.code ?? name)) return new UnreachableError(message, { cause: error });
  if (name === 'SlowDown' || name === 'CredentialsProviderError' || status >= 500 || e.code === 'ECONNRESET' || name === 'TimeoutError') {
    return new RetryableError(message, { cause: error });
  }
  return new StatementError(message, { cause: error });
}

/**
 * Objects under an s3:// URL: the object the URL names, or every object
 * below it as a folder. Reads are byte-range GETs, streamed, so a consumer
 * fetches only its range's bytes.
 */
export class S3Store implements FileStore {
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    url: string,
  ) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
  }

  async list(): Promise<FileInfo[]> {
    const files: FileInfo[] = [];
    let token: string | undefined;
    const folder = this.prefix === '' || this.prefix.endsWith('/') ? this.prefix : `${this.prefix}/`;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }))
        .catch((error) => {
          throw s3Error(error, `listing s3://${this.bucket}/${this.prefix}`);
        });
      for (const object of page.Contents ?? []) {
        const key = object.Key as string;
        // The URL names one object: that object alone.
        if (key === this.prefix && !key.endsWith('/')) return [{ path: key, name: key.split('/').pop() as string, size: object.Size ?? 0 }];
        if (!key.startsWith(folder) || key.endsWith('/')) continue;
        const name = key.slice(folder.length);
        if (name.split('/').some((part) => part.startsWith('.') || part.startsWith('_'))) continue;
        files.push({ path: key, name, size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (!files.length) throw new JobError(`source.url: no objects under s3://${this.bucket}/${this.prefix}`);
    return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async *read(path: string, start: number, end: number): AsyncGenerator<Buffer> {
    if (end <= start) return;
    const where = `reading s3://${this.bucket}/${path}`;
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: path, Range: `bytes=${start}-${end - 1}` })).catch((error) => {
      throw s3Error(error, where);
    });
    try {
      for await (const chunk of object.Body as AsyncIterable<Uint8Array>) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    } catch (error) {
      throw new RetryableError(`${where}: ${(error as Error).message}`, { cause: error });
    }
  }
}
