import { describe, expect, it } from 'vitest';
import { resolveDb, type SecretReader } from '../../functions/adapters/connections.ts';
import { awsCredentialsConfigured, ConnectionsFileReader, urlSecret } from '../../functions/cli/connections-file.ts';

describe('secrets of a local run', () => {
  it('a connections file turns a secret id into the connection its URL names', async () => {
    const reader = new ConnectionsFileReader('conn.json', { 'prod/db': 'postgres://app:s%40cret@db.example:6543/sales?sslmode=require' }, null);
    const db = await resolveDb({ secretId: 'prod/db' }, 'postgres', 'source.connection', { env: {}, secrets: reader });
    expect(db).toMatchObject({ engine: 'postgres', host: 'db.example', port: 6543, user: 'app', password: 's@cret', database: 'sales', ssl: 'verify' });
    expect(db.label).toBe('postgres://app@db.example:6543/sales');
    const local = await resolveDb({ secretId: 'm' }, 'mysql', 'target.connection', { env: {}, secrets: new ConnectionsFileReader('c', { m: 'mysql://root@127.0.0.1/test' }, null) });
    expect(local).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test', ssl: 'off' });
  });

  it('an id the file does not hold goes to Secrets Manager when there is one, else is refused naming the id', async () => {
    const aws: SecretReader = { read: async (id) => ({ host: `${id}.aws`, username: 'u', password: 'p', dbname: 'd' }) };
    expect(await new ConnectionsFileReader('c.json', {}, aws).read('other', false)).toMatchObject({ host: 'other.aws' });
    await expect(new ConnectionsFileReader('c.json', {}, null).read('other', false)).rejects.toThrow(/secret other: it is not in c\.json, and no AWS credentials/);
    await expect(new ConnectionsFileReader(null, {}, null).read('other', false)).rejects.toThrow(/no --connections FILE was given/);
  });

  it('refuses a URL that is not a database URL', () => {
    expect(() => urlSecret('http://x/y', 'c.json: "a"')).toThrow(/c\.json: "a": expected a mysql:\/\/ or postgres:\/\/ URL/);
  });

  it('sees AWS credentials where the SDK would find them', () => {
    const nowhere = { HOME: '/nonexistent-home' };
    expect(awsCredentialsConfigured(nowhere)).toBe(false);
    expect(awsCredentialsConfigured({ ...nowhere, AWS_ACCESS_KEY_ID: 'AKIA' })).toBe(true);
    expect(awsCredentialsConfigured({ ...nowhere, AWS_PROFILE: 'dev' })).toBe(true);
    expect(awsCredentialsConfigured({ ...nowhere, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/creds' })).toBe(true);
  });
});
