import { describe, expect, it } from 'vitest';
import { S3Clients, s3KeysOf, s3OptionsOf } from '../../functions/adapters/files/s3-store.ts';
import { checkJob } from '../../functions/core/job-spec.ts';
import { redact } from '../../functions/core/redact.ts';

const base = { endpoint: undefined, region: 'eu-west-1', forcePathStyle: false };
const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalr/XUtnFEMI+K7MDENG' };

describe('per-source S3 endpoints', () => {
  it("a source's endpoint, region and path style win over the process's; an endpoint means path style unless the source says not", () => {
    expect(s3OptionsOf({}, base)).toEqual(base);
    expect(s3OptionsOf({ endpoint: 'https://oss-cn-shanghai.aliyuncs.com', region: 'oss-cn-shanghai' }, base)).toEqual({
      endpoint: 'https://oss-cn-shanghai.aliyuncs.com',
      region: 'oss-cn-shanghai',
      forcePathStyle: true,
    });
    expect(s3OptionsOf({ endpoint: 'https://oss-cn-shanghai.aliyuncs.com', forcePathStyle: false }, { ...base, endpoint: 'http://127.0.0.1:4566' })).toEqual({
      endpoint: 'https://oss-cn-shanghai.aliyuncs.com',
      region: 'eu-west-1',
      forcePathStyle: false,
    });
    expect(s3OptionsOf({ region: 'us-east-2' }, { ...base, endpoint: 'http://127.0.0.1:4566', forcePathStyle: true })).toEqual({
      endpoint: 'http://127.0.0.1:4566',
      region: 'us-east-2',
      forcePathStyle: true,
    });
  });

  it('keys come from an environment variable or a secret as JSON; the secret key is redacted from messages', async () => {
    expect(await s3KeysOf({ urlFromEnv: 'OSS_KEYS' }, { env: { OSS_KEYS: JSON.stringify(keys) } })).toEqual(keys);
    expect(redact(`boom ${keys.secretAccessKey}`)).not.toContain(keys.secretAccessKey);
    const reads: Array<[string, boolean]> = [];
    const readSecret = async (id: string, fresh: boolean) => (reads.push([id, fresh]), { ...keys, sessionToken: 'tok' });
    expect(await s3KeysOf({ secretId: 'oss/keys' }, { env: {}, readSecret })).toEqual({ ...keys, sessionToken: 'tok' });
    expect(reads).toEqual([['oss/keys', false]]);
  });

  it('a missing variable, bad JSON, a wrong shape or no Secrets Manager is one clear error', async () => {
    await expect(s3KeysOf({ urlFromEnv: 'OSS_KEYS' }, { env: {} })).rejects.toThrow('source.connection.urlFromEnv: environment variable OSS_KEYS is not set');
    await expect(s3KeysOf({ urlFromEnv: 'OSS_KEYS' }, { env: { OSS_KEYS: 's3://a:b@' } })).rejects.toThrow(/OSS_KEYS\): not JSON/);
    await expect(s3KeysOf({ urlFromEnv: 'OSS_KEYS' }, { env: { OSS_KEYS: '{"accessKeyId":"a"}' } })).rejects.toThrow(/expected JSON \{"accessKeyId"/);
    await expect(s3KeysOf({ secretId: 'x' }, { env: {} })).rejects.toThrow('Secrets Manager is not configured here');
  });

  it("one client per store and keys, made once; the client signs with the source's keys", async () => {
    const clients = new S3Clients(base, { env: { OSS_KEYS: JSON.stringify(keys) } });
    const oss = { endpoint: 'http://127.0.0.1:9000', connection: { urlFromEnv: 'OSS_KEYS' } };
    const a = await clients.clientFor(oss);
    expect(await clients.clientFor({ ...oss })).toBe(a);
    expect(await clients.clientFor({})).not.toBe(a);
    expect(await a.config.credentials()).toMatchObject(keys);
    expect(await a.config.region()).toBe('eu-west-1');
    expect(a.config.forcePathStyle).toBe(true);
    clients.destroy();
  });

  it('the job file takes endpoint, region, forcePathStyle and connection on s3:// sources only', () => {
    const job = (source: object) => ({
      name: 'j',
      source: { type: 'files', format: 'parquet', ...source },
      target: { type: 'mysql', connection: { url: 'mysql://root@h/db' }, table: 't' },
    });
    expect(checkJob(job({ url: 's3://b/p/', endpoint: 'https://oss-cn-shanghai.aliyuncs.com', region: 'oss-cn-shanghai', forcePathStyle: false, connection: { secretId: 'oss' } }))).toEqual([]);
    expect(checkJob(job({ url: 'file:///data/', endpoint: 'https://x.example' }))).toEqual(['source.url: endpoint, region, forcePathStyle and connection apply to s3:// URLs only']);
    expect(checkJob(job({ url: 's3://b/p/', connection: { secretId: 'a', urlFromEnv: 'B' } }))).toEqual(['source.connection: give exactly one of secretId, urlFromEnv']);
    expect(checkJob(job({ url: 's3://b/p/', endpoint: 'ftp://x' }))[0]).toMatch(/^source.endpoint:/);
  });
});
