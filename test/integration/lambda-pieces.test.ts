/**
 * The Lambda-side pieces of issue 11: secrets kept with an expiry, PutEvents
 * entry failures, metrics that do not wait for the publish, and the one
 * credential-refresh helper both handlers use.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { EventBridgeEvents } from '../../functions/adapters/events.ts';
import { SECRET_TTL_MS, SecretsManagerReader } from '../../functions/adapters/secrets.ts';
import { withFreshCredentials } from '../../functions/core/credentials.ts';
import { AuthError, RetryableError } from '../../functions/core/errors.ts';
import type { RunEvent } from '../../functions/core/ports.ts';
import { measuredEvents } from '../../functions/lambda-env.ts';

const REGION = 'us-east-1';
const failed: RunEvent = { type: 'Run Failed', job: 'orders', runId: 'r-1', logicalTime: '2026-11-24T18:00:00Z', error: 'boom' };

describe('secrets are kept five minutes, and re-read after a refused login', () => {
  it('a read within the expiry is the kept one; after it, Secrets Manager is asked again', async () => {
    const client = new SecretsManagerClient({ region: REGION });
    const mock = mockClient(client);
    const secret = (password: string) => ({ SecretString: JSON.stringify({ host: 'db', username: 'app', password, dbname: 'r' }) });
    mock.on(GetSecretValueCommand).resolvesOnce(secret('first')).resolvesOnce(secret('rotated'));
    let now = 1_000_000;
    const reader = new SecretsManagerReader(client, SECRET_TTL_MS, () => now);
    expect((await reader.read('app/db', false)).password).toBe('first');
    now += SECRET_TTL_MS - 1;
    expect((await reader.read('app/db', false)).password).toBe('first');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    now += 2;
    expect((await reader.read('app/db', false)).password).toBe('rotated');
    expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(SECRET_TTL_MS).toBe(5 * 60_000);
  });
});

describe('run events on EventBridge', () => {
  it('an entry PutEvents did not accept (FailedEntryCount > 0) is an error, not a silent success', async () => {
    const client = new EventBridgeClient({ region: REGION });
    const mock = mockClient(client);
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }] });
    const error = await new EventBridgeEvents(client, 'batchsync').publish(failed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect(String(error)).toContain('the event bus batchsync refused Run Failed of run r-1: ThrottlingException Rate exceeded');
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await expect(new EventBridgeEvents(client, 'batchsync').publish(failed)).resolves.toBeUndefined();
  });

  it('the run metrics are emitted before the publish, so a publish that fails still counts the failed run', async () => {
    const metrics = new Metrics({ namespace: 'batchsync', serviceName: 'batchsync' });
    const emitted: string[] = [];
    vi.spyOn(metrics, 'addMetric').mockImplementation((name: string) => (emitted.push(name), metrics));
    vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const bus = { publish: vi.fn(async () => Promise.reject(new RetryableError('the event bus refused'))) };
    const log = { info: () => {}, error: () => {} };
    await expect(measuredEvents(bus, new Map(), metrics, log).publish(failed)).rejects.toThrow('the event bus refused');
    expect(emitted).toEqual(['RunsFailed']);
    expect(bus.publish).toHaveBeenCalledOnce();
  });
});

describe('withFreshCredentials', () => {
  it('a refused login drops the cached credentials and runs once more; other errors and a second refusal go through', async () => {
    const refresh = vi.fn(async () => {});
    let calls = 0;
    expect(await withFreshCredentials(async (fresh) => (calls++, fresh ? 'ok' : Promise.reject(new AuthError('refused'))), refresh)).toBe('ok');
    expect([calls, refresh.mock.calls.length]).toEqual([2, 1]);
    await expect(withFreshCredentials(async () => Promise.reject(new AuthError('wrong password')), refresh)).rejects.toThrow('wrong password');
    expect(refresh).toHaveBeenCalledTimes(2);
    await expect(withFreshCredentials(async () => Promise.reject(new Error('unreachable')), refresh)).rejects.toThrow('unreachable');
    expect(refresh).toHaveBeenCalledTimes(2);
  });
});
