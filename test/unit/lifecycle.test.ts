import { describe, expect, it } from 'vitest';
import { consumeRange, type ConsumerDeps } from '../../functions/core/consume.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { canMoveRun, displayStatus, runMovesTo, STALLED_MS } from '../../functions/core/lifecycle.ts';
import { planRun, rerunRefusal, resumeRun } from '../../functions/core/plan.ts';
import type { RangeMessage, RunEvent } from '../../functions/core/ports.ts';
import { firstFiringOfDay, logicalTimeForBizdate, parseDate } from '../../functions/core/schedule.ts';
import { sweep } from '../../functions/core/sweep.ts';
import { schedulingVars } from '../../functions/core/vars.ts';
import { column } from './columns.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';

const spec = JobSpec.parse({
  name: 'memo',
  source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
  target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't', batchRows: 10 },
  channel: { maxConcurrency: 2, maxReceiveCount: 3 },
});
const T = new Date('2026-01-01T00:00:00Z');

function setup(job = spec) {
  const source = new ArraySource(Array.from({ length: 100 }, (_, i) => [String(i), `name ${i}`]), ['id', 'name'], 25);
  const ledger = new MemoryLedger();
  const target = new MemoryTarget(ledger, [column('int', { name: 'id' }), column('varchar(20)', { name: 'name' })]);
  const events: RunEvent[] = [];
  const messages: RangeMessage[] = [];
  const open = async () => ({ source, target, ledger });
  let ids = 0;
  const planner = { open, queue: { send: async (m: RangeMessage[]) => void messages.push(...m) }, events: { publish: async (e: RunEvent) => void events.push(e) }, newRunId: () => `run-${++ids}` };
  const consumer: ConsumerDeps = { open, jobs: () => job, events: planner.events, owner: 'test', now: Date.now, sleep: async () => {} };
  const consumeAll = async () => {
    for (const message of messages.splice(0)) await consumeRange({ message, receiveCount: 1, deadline: null }, consumer);
  };
  return { source, ledger, target, events, messages, planner, consumer, consumeAll };
}

describe('the transition table', () => {
  it('allows the lifecycle moves and nothing else', () => {
    expect(runMovesTo('failed').sort()).toEqual(['finalizing', 'pending', 'running']);
    expect(runMovesTo('running').sort()).toEqual(['cancelled', 'failed', 'finalizing', 'pending']);
    expect(canMoveRun('succeeded', 'running')).toBe(false);
    expect(canMoveRun('finalizing', 'cancelled')).toBe(false);
    expect(canMoveRun('cancelled', 'running')).toBe(true);
  });

  it('shows an unfinished run that nobody works and that has not moved for a while as stalled', () => {
    const now = new Date();
    const idle = new Date(now.getTime() - STALLED_MS - 1);
    expect(displayStatus({ status: 'running', liveAttempts: 0, lastActivity: idle }, now)).toBe('stalled');
    expect(displayStatus({ status: 'running', liveAttempts: 1, lastActivity: idle }, now)).toBe('running');
    expect(displayStatus({ status: 'running', liveAttempts: 0, lastActivity: now }, now)).toBe('running');
    expect(displayStatus({ status: 'failed', liveAttempts: 0, lastActivity: idle }, now)).toBe('failed');
  });
});

describe('run identity', () => {
  it('the same logical time with other variables is refused, naming both sets; the same ones skip an ended run', async () => {
    const { planner, consumeAll } = setup();
    await planRun({ job: spec, logicalTime: T, vars: { day: '1' }, mode: 'trigger' }, planner);
    await consumeAll();
    await expect(planRun({ job: spec, logicalTime: T, vars: { day: '2' }, mode: 'trigger' }, planner)).rejects.toThrow(/\{"day":"1"\}.*\{"day":"2"\}/);
    expect(await planRun({ job: spec, logicalTime: T, vars: { day: '1' }, mode: 'trigger' }, planner)).toMatchObject({ outcome: 'skipped' });
    // One run per S3 object: other variables at the same time are their own run when the trigger says so.
    expect(await planRun({ job: spec, logicalTime: T, vars: { day: '2' }, mode: 'trigger', distinctVars: true }, planner)).toMatchObject({ outcome: 'created' });
  });

  it('marks a run running before its first message is queued', async () => {
    const { planner, ledger } = setup();
    const seen: string[] = [];
    planner.queue.send = async () => void seen.push(ledger.run('run-1').status);
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    expect(seen).toEqual(['running']);
  });
});

describe('resume and rerun', () => {
  it('resume keeps done ranges, reopens the failed one after its checkpoint, and refuses a changed source', async () => {
    const { planner, ledger, target, messages, consumer } = setup();
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    const [m0, m1, m2, m3] = messages.splice(0);
    for (const m of [m0, m1, m2]) await consumeRange({ message: m, receiveCount: 1, deadline: null }, consumer);
    ledger.range('run-1', 3).checkpoint = '85';
    ledger.range('run-1', 3).rowsRead = ledger.range('run-1', 3).rowsWritten = 10;
    target.rows.push(...Array.from({ length: 10 }, () => ['x', 'x']));
    await ledger.failRange('run-1', 3, 'boom');
    await ledger.updateRun('run-1', { from: runMovesTo('failed'), to: 'failed', error: 'range 3: boom' });
    expect(await consumeRange({ message: m3, receiveCount: 1, deadline: null }, consumer)).toMatchObject({ status: 'run-ended' });

    const changed = { ...spec, source: { ...spec.source, where: 'id > 1' } } as JobSpec;
    await expect(resumeRun('run-1', changed, planner)).rejects.toThrow(/changed what run run-1/);
    expect(await resumeRun('run-1', spec, planner)).toMatchObject({ outcome: 'resumed', ranges: 4, queued: 1 });
    expect(ledger.run('run-1')).toMatchObject({ status: 'running', error: null });
    for (const m of messages.splice(0)) expect(await consumeRange({ message: m, receiveCount: 1, deadline: null }, consumer)).toEqual({ status: 'done', rowsWritten: 15 });
    expect(target.rows).toHaveLength(100);
    expect(ledger.run('run-1').status).toBe('succeeded');
  });

  it('a message queued before a resume that changed the job is dropped; one for a job changed by a deploy fails the run, saying so', async () => {
    const { planner, ledger, messages, consumer } = setup();
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    const before = messages.splice(0);
    const faster = { ...spec, channel: { ...spec.channel, maxConcurrency: 3 } };
    await ledger.updateRun('run-1', { from: ['running'], to: 'cancelled' });
    await resumeRun('run-1', faster, planner);
    expect(await consumeRange({ message: before[0], receiveCount: 1, deadline: null }, { ...consumer, jobs: () => faster })).toMatchObject({ status: 'superseded' });
    // The consumer's own job file differs from the one the range was queued with.
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, consumer)).toMatchObject({ status: 'failed' });
    expect(ledger.run('run-1').error).toMatch(/changed since run run-1 was queued.*batchsync resume run-1/);
  });

  it('rerun is refused for append/insert and for upsert into a table without a key, allowed for truncate or with preSql', async () => {
    const { target } = setup();
    expect(await rerunRefusal(spec, target)).toMatch(/insert in append mode.*batchsync resume/);
    const upsert = { ...spec, target: { ...spec.target, writeMode: 'upsert' as const } };
    expect(await rerunRefusal(upsert, target)).toBeNull();
    target.keyed = false;
    expect(await rerunRefusal(upsert, target)).toMatch(/no primary or unique key/);
    expect(await rerunRefusal({ ...spec, target: { ...spec.target, loadMode: 'truncate' } }, target)).toBeNull();
    expect(await rerunRefusal({ ...spec, target: { ...spec.target, preSql: ['DELETE FROM t'] } }, target)).toBeNull();
  });

  it('rerun makes the next attempt and marks the earlier run replaced', async () => {
    const { planner, ledger, consumeAll } = setup();
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    await consumeAll();
    expect(await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'rerun' }, planner)).toMatchObject({ runId: 'run-2', outcome: 'created' });
    expect(ledger.run('run-2').attempt).toBe(2);
    expect(ledger.run('run-1')).toMatchObject({ status: 'succeeded', supersededBy: 'run-2' });
  });
});

describe('maxConcurrency across consumers', () => {
  it('a consumer finding the job at its limit waits, and hands the range back when its time is up', async () => {
    const { planner, ledger, messages, consumer } = setup();
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    await ledger.startAttempt('run-1', 0, 'other', 2);
    await ledger.startAttempt('run-1', 1, 'other', 2);
    let now = 0;
    const waiting = { ...consumer, now: () => now, sleep: async (ms: number) => void (now += ms) };
    expect(await consumeRange({ message: messages[2], receiveCount: 1, deadline: 5_000 }, waiting)).toEqual({ status: 'handed-back', rowsWritten: 0 });
    expect(now).toBeGreaterThanOrEqual(4_000);
    await ledger.endAttempt(0);
    expect(await consumeRange({ message: messages[2], receiveCount: 1, deadline: null }, consumer)).toMatchObject({ status: 'done' });
  });
});

describe('the sweep', () => {
  it('resumes a stalled run and sends end events the bus refused before', async () => {
    const { planner, ledger, messages, events, consumeAll } = setup();
    await planRun({ job: spec, logicalTime: T, vars: {}, mode: 'trigger' }, planner);
    messages.splice(0); // lost with a dead local runner
    ledger.run('run-1').lastActivity = ledger.run('run-1').createdAt = new Date(Date.now() - STALLED_MS - 1000);
    const deps = { ...planner, queueFor: () => planner.queue, ledgerOf: async () => ledger, now: () => new Date(), stuckAfterMs: 1 };
    const [result] = await sweep([spec], deps);
    expect(result).toMatchObject({ job: 'memo', resumed: ['run-1'], stuck: 1 });
    expect(messages).toHaveLength(4);
    expect(events.map((e) => e.type)).toEqual(['Run Resumed']);

    planner.events.publish = async () => {
      throw new Error('PutEvents: 1 entry failed');
    };
    await consumeAll();
    expect(ledger.run('run-1')).toMatchObject({ status: 'succeeded', eventPublished: false });
    planner.events.publish = async (e) => void events.push(e);
    expect((await sweep([spec], deps))[0].announced).toEqual(['run-1']);
    expect(events.map((e) => e.type)).toEqual(['Run Resumed', 'Run Succeeded']);
    expect((await sweep([spec], deps))[0].announced).toEqual([]);
  });
});

describe('backfill dates', () => {
  it('the logical time of a business date is the schedule’s first firing of the next day, in its time zone', () => {
    expect(firstFiringOfDay('0 2 * * ? *')).toEqual({ hour: 2, minute: 0 });
    expect(firstFiringOfDay('15,45 */6 * * ? *')).toEqual({ hour: 0, minute: 15 });
    const scheduled = { ...spec, schedule: { cron: '30 2 * * ? *', timezone: 'Asia/Shanghai' } };
    const t = logicalTimeForBizdate(scheduled, parseDate('2026-11-01', '--from'));
    expect(t.toISOString()).toBe('2026-11-01T18:30:00.000Z');
    expect(schedulingVars(t, 'Asia/Shanghai').bizdate).toBe('20261101');
    expect(logicalTimeForBizdate(spec, parseDate('2026-12-31', '--to')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(() => parseDate('2026-02-30', '--from')).toThrow(/YYYY-MM-DD/);
  });
});
