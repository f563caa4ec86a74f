import { describe, expect, it } from 'vitest';
import { consumeRange, type ConsumerDeps } from '../../functions/core/consume.ts';
import { assess, awaitHealthy, currentHealth, describeHealth, type HealthSignals, PAUSE_HEARTBEAT_MS, TargetOverloadedError } from '../../functions/core/health.ts';
import { Health, JobSpec } from '../../functions/core/job-spec.ts';
import { planRun } from '../../functions/core/plan.ts';
import type { RangeMessage } from '../../functions/core/ports.ts';
import { column } from './columns.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';
import { busy, healthOf } from './health-fakes.ts';

const spec = Health.parse({ maxLoad: { Threads_running: 25 }, criticalLoad: { Threads_running: 200 }, maxLagMillis: 1000, lagQuery: 'SELECT lag FROM hb' });

describe('assessing signals against the limits', () => {
  it('pauses above a maxLoad limit, fails above a criticalLoad one, and takes a value equal to its limit as within it', () => {
    expect(assess(spec, { load: { Threads_running: 25 }, lagMillis: 1000 })).toEqual({ verdict: 'ok', reasons: [] });
    expect(assess(spec, { load: { Threads_running: 31 }, lagMillis: 0 })).toEqual({ verdict: 'pause', reasons: ['Threads_running 31 > 25'] });
    expect(assess(spec, { load: { Threads_running: 31 }, lagMillis: 30_000 })).toEqual({ verdict: 'pause', reasons: ['Threads_running 31 > 25', 'lag 30000 ms > 1000 ms'] });
    expect(assess(spec, { load: { Threads_running: 201 }, lagMillis: 0 })).toEqual({ verdict: 'critical', reasons: ['Threads_running 201 > 200'] });
  });

  it('pauses when the lag cannot be read', () => {
    expect(assess(spec, { load: { Threads_running: 1 }, lagUnknown: 'replicas[0]: cannot reach r1' })).toEqual({ verdict: 'pause', reasons: ['lag unknown: replicas[0]: cannot reach r1'] });
  });

  it('describes each signal next to its limits for check', () => {
    expect(describeHealth(spec, { load: { Threads_running: 3 }, lagMillis: 40 }, 2)).toEqual([
      'Threads_running 3 (pauses above 25, fails above 200)',
      'lag 40 ms on 2 replicas (pauses above 1000 ms)',
      'verdict: ok, writes go ahead',
    ]);
  });

  it('rejects half a lag setting and replicas without a lag query', () => {
    expect(Health.safeParse({ maxLagMillis: 1000 }).success).toBe(false);
    expect(Health.safeParse({ replicas: [{ url: 'mysql://r/db' }] }).success).toBe(false);
    expect(Health.safeParse({ lagQuery: 'DELETE FROM hb', maxLagMillis: 10 }).success).toBe(false);
    expect(Health.parse({}).checkIntervalMs).toBe(1000);
  });
});

describe('one check for the whole job', () => {
  it('is measured once per interval, however many consumers ask; the others read its verdict', async () => {
    const { clock, probe, health } = healthOf([busy(31), busy(3)]);
    const first = await currentHealth('job', spec, health);
    const readings = [first, ...(await Promise.all(Array.from({ length: 7 }, () => currentHealth('job', spec, health))))];
    expect(probe.measured).toBe(1);
    expect(readings.map((r) => r?.verdict)).toEqual(Array(8).fill('pause'));
    clock.t += 500;
    await Promise.all(Array.from({ length: 8 }, () => currentHealth('job', spec, health)));
    expect(probe.measured).toBe(1);
    clock.t += 500;
    // Whoever asks first measures; while it does, the others read the previous verdict, still fresh.
    const next = [await currentHealth('job', spec, health), ...(await Promise.all(Array.from({ length: 7 }, () => currentHealth('job', spec, health))))];
    expect(probe.measured).toBe(2);
    expect(next.map((r) => r?.verdict)).toEqual(Array(8).fill('ok'));
  });

  it('does not trust a verdict left long ago by a consumer that has gone', async () => {
    const { clock, store, health } = healthOf([busy(3)]);
    await store.save('job', { signals: busy(31), ...assess(spec, busy(31)) });
    await store.claim('job', 1000);
    clock.t += 999;
    expect(await currentHealth('job', spec, health)).toMatchObject({ verdict: 'pause' });
    store.claimedAt.set('job', clock.t); // someone claimed the next check and died before saving it
    clock.t += 60_000;
    store.claimedAt.set('job', clock.t);
    expect(await currentHealth('job', spec, health)).toBeNull();
  });
});

describe('the pause', () => {
  const gate = (h: ReturnType<typeof healthOf>, deadline: number | null, beats: number[]) => ({
    job: 'job',
    runId: 'run-1',
    spec,
    health: h.health,
    deadline,
    now: h.clock.now,
    sleep: h.clock.sleep,
    heartbeat: async () => void beats.push(h.clock.t),
  });

  it('waits until every signal is within its limit, heartbeating, and records the paused time', async () => {
    const h = healthOf([busy(31), busy(40), ...Array(20).fill(busy(30)), busy(3)]);
    const beats: number[] = [];
    const start = h.clock.t;
    expect(await awaitHealthy(gate(h, null, beats))).toBe('ok');
    expect(h.probe.measured).toBe(23);
    expect(h.clock.t - start).toBe(22_000);
    expect(await h.store.pauses('run-1')).toEqual({ pausedMs: 22_000, reasons: ['Threads_running 30 > 25'], pausedNow: false });
    expect(beats).toEqual([start, start + PAUSE_HEARTBEAT_MS, start + 2 * PAUSE_HEARTBEAT_MS]);
  });

  it('goes ahead at once, recording nothing, when the target is healthy', async () => {
    const h = healthOf([busy(3)]);
    const beats: number[] = [];
    expect(await awaitHealthy(gate(h, null, beats))).toBe('ok');
    expect(beats).toEqual([]);
    expect((await h.store.pauses('run-1')).pausedMs).toBe(0);
  });

  it('gives up at the deadline, for the range to be handed back', async () => {
    const h = healthOf([busy(31)]);
    const deadline = h.clock.t + 4500;
    expect(await awaitHealthy(gate(h, deadline, []))).toBe('deadline');
    expect(h.clock.t).toBe(deadline);
    expect(await h.store.pauses('run-1')).toMatchObject({ pausedNow: true, reasons: ['Threads_running 31 > 25'] });
  });

  it('fails on a critical load, naming the variable, its value and the limit', async () => {
    const h = healthOf([busy(31), busy(250)]);
    await expect(awaitHealthy(gate(h, null, []))).rejects.toThrow(new TargetOverloadedError('target.health.criticalLoad: Threads_running 250 > 200'));
    expect(await h.store.pauses('run-1')).toMatchObject({ pausedMs: 1000, pausedNow: false });
  });
});

describe('consuming a range under a health check', () => {
  const job = JobSpec.parse({
    name: 'memo',
    source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
    target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't', batchRows: 10, health: { maxLoad: { Threads_running: 25 }, criticalLoad: { Threads_running: 200 } } },
    channel: { maxConcurrency: 2, maxReceiveCount: 3 },
  });

  async function setup(script: HealthSignals[]) {
    const h = healthOf(script);
    const source = new ArraySource(Array.from({ length: 50 }, (_, i) => [String(i), `name ${i}`]), ['id', 'name'], 25);
    const ledger = new MemoryLedger();
    const target = new MemoryTarget(ledger, [column('int', { name: 'id' }), column('varchar(20)', { name: 'name' })]);
    const messages: RangeMessage[] = [];
    const open = async () => ({ source, target, ledger, health: h.health });
    // Each chunk's write takes a check interval, so every chunk meets a fresh check.
    const write = target.write.bind(target);
    target.write = async (chunk) => {
      h.clock.t += spec.checkIntervalMs;
      return write(chunk);
    };
    const written: number[] = [];
    // The target's row count at each sleep: writes that happened during a pause would show here.
    const sleep = async (ms: number) => {
      written.push(target.rows.length);
      await h.clock.sleep(ms);
    };
    const beats: number[] = [];
    const deps: ConsumerDeps = { open, jobs: () => job, events: { publish: async () => {} }, owner: 'test', now: h.clock.now, sleep, heartbeat: async (a) => void beats.push(a.attemptId) };
    await planRun({ job, logicalTime: new Date('2026-01-01T00:00:00Z'), vars: {}, mode: 'trigger' }, { open, queue: { send: async (m) => void messages.push(...m) }, events: deps.events, newRunId: () => 'run-1' });
    return { h, target, ledger, messages, deps, written, beats };
  }

  it('writes nothing while paused, then every row once', async () => {
    const { h, target, ledger, messages, deps, written, beats } = await setup([busy(3), busy(40), busy(40), busy(40), busy(3)]);
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'done', rowsWritten: 25 });
    // First chunk went ahead (healthy); before the second, three checks said pause: three sleeps with 10 rows written.
    expect(written).toEqual([10, 10, 10]);
    expect(beats.length).toBe(1);
    expect(await consumeRange({ message: messages[1], receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'done', rowsWritten: 25 });
    expect(target.rows.map((r) => r[0])).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(ledger.run('run-1').status).toBe('succeeded');
    expect((await h.store.pauses('run-1')).pausedMs).toBe(3000);
  });

  it('hands the range back with its checkpoint when a pause outlasts the deadline', async () => {
    const { h, target, ledger, messages, deps } = await setup([busy(3), busy(40)]);
    const outcome = await consumeRange({ message: messages[0], receiveCount: 1, deadline: h.clock.t + 5000 }, deps);
    expect(outcome).toEqual({ status: 'handed-back', rowsWritten: 10 });
    expect(target.rows).toHaveLength(10);
    expect(ledger.range('run-1', 0)).toMatchObject({ status: 'running', checkpoint: '10' });
  });

  it('fails the run on a critical load, naming the variable', async () => {
    const { target, ledger, messages, deps } = await setup([busy(3), busy(300)]);
    const outcome = await consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, deps);
    expect(outcome).toMatchObject({ status: 'failed', error: 'target.health.criticalLoad: Threads_running 300 > 200' });
    expect(target.rows).toHaveLength(10);
    expect(ledger.run('run-1')).toMatchObject({ status: 'failed' });
    expect(ledger.run('run-1').error).toContain('Threads_running 300 > 200');
  });
});
