import { describe, expect, it } from 'vitest';
import { consumeRange, type ConsumerDeps } from '../../functions/core/consume.ts';
import { RetryableError } from '../../functions/core/errors.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { planRun } from '../../functions/core/plan.ts';
import type { RangeMessage, RunEvent } from '../../functions/core/ports.ts';
import { column } from './columns.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';

const spec = JobSpec.parse({
  name: 'memo',
  source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 't' },
  target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 't', batchRows: 10 },
  channel: { maxConcurrency: 2, maxReceiveCount: 3 },
});

function setup(rows = 100, perRange = 25) {
  const data = Array.from({ length: rows }, (_, i) => [String(i), `name ${i}`]);
  const source = new ArraySource(data, ['id', 'name'], perRange);
  const ledger = new MemoryLedger();
  const target = new MemoryTarget(ledger, [column('int', { name: 'id' }), column('varchar(20)', { name: 'name' })]);
  const events: RunEvent[] = [];
  const messages: RangeMessage[] = [];
  const open = async () => ({ source, target, ledger });
  // A clock that moves only when the consumer sleeps: retries of a passing error spend their budget at once.
  let clock = Date.now();
  const sleep = async (ms: number) => void (clock += ms);
  const deps: ConsumerDeps = { open, jobs: () => spec, events: { publish: async (e) => void events.push(e) }, owner: 'test', now: () => clock, sleep };
  const plan = (job = spec) =>
    planRun({ job, logicalTime: new Date('2026-01-01T00:00:00Z'), vars: {}, mode: 'trigger' }, { open, queue: { send: async (m) => void messages.push(...m) }, events: deps.events, newRunId: () => 'run-1' });
  return { source, ledger, target, events, messages, deps, plan };
}

describe('planning', () => {
  it('creates one run with a message per range; a second trigger for the same logical time joins it', async () => {
    const { plan, messages, ledger } = setup();
    expect(await plan()).toMatchObject({ runId: 'run-1', outcome: 'created', ranges: 4 });
    expect(messages.map((m) => m.rangeId)).toEqual([0, 1, 2, 3]);
    expect(await plan()).toMatchObject({ runId: 'run-1', outcome: 'joined' });
    expect(messages).toHaveLength(4);
    expect(ledger.runs.size).toBe(1);
  });
});

describe('consuming a range', () => {
  it('writes every row once, finishes the run with its last range and announces it', async () => {
    const { plan, messages, deps, target, ledger, events } = setup();
    await plan();
    for (const message of messages) expect(await consumeRange({ message, receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'done', rowsWritten: 25 });
    expect(target.rows).toHaveLength(100);
    expect(ledger.run('run-1').status).toBe('succeeded');
    expect(events).toEqual([{ type: 'Run Succeeded', job: 'memo', runId: 'run-1', logicalTime: '2026-01-01T00:00:00.000Z', error: null }]);
  });

  it('resumes after the checkpoint and acknowledges a range that is done', async () => {
    const { plan, messages, deps, target, ledger } = setup();
    await plan();
    ledger.range('run-1', 1).checkpoint = '45'; // rows 25-44 were committed by a delivery that died
    ledger.range('run-1', 1).rowsRead = ledger.range('run-1', 1).rowsWritten = 20;
    target.rows.push(...Array.from({ length: 20 }, () => ['x', 'x']));
    expect(await consumeRange({ message: messages[1], receiveCount: 2, deadline: null }, deps)).toEqual({ status: 'done', rowsWritten: 5 });
    expect(await consumeRange({ message: messages[1], receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'already-done', rowsWritten: 0 });
    expect(target.rows).toHaveLength(25);
  });

  it('a passing error goes back to the queue; on the last delivery it fails the range and the run', async () => {
    const { plan, messages, deps, target, ledger, events } = setup();
    await plan();
    target.write = async () => {
      throw new RetryableError('lock wait timeout');
    };
    await expect(consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, deps)).rejects.toThrow('lock wait timeout');
    expect(ledger.run('run-1').status).toBe('running');
    expect(await consumeRange({ message: messages[0], receiveCount: 3, deadline: null }, deps)).toMatchObject({ status: 'failed', error: 'lock wait timeout' });
    expect(ledger.run('run-1')).toMatchObject({ status: 'failed', error: 'range 0: lock wait timeout' });
    expect(events.map((e) => e.type)).toEqual(['Run Failed']);
    expect(await consumeRange({ message: messages[1], receiveCount: 1, deadline: null }, deps)).toEqual({ status: 'run-ended', rowsWritten: 0 });
  });

  it('rows that do not convert are dirty records, and rowsRead = rowsWritten + dirtyRecords', async () => {
    const { plan, messages, deps, source, ledger } = setup();
    source.rows[3][0] = 'three';
    source.rows[30][1] = 'x'.repeat(21);
    await plan();
    for (const message of messages) await consumeRange({ message, receiveCount: 1, deadline: null }, deps);
    const run = ledger.run('run-1');
    const summary = await ledger.getRun('run-1');
    expect(summary).toMatchObject({ status: 'succeeded', rowsRead: 100, rowsWritten: 98 });
    expect(run.dirtyRecords).toBe(2);
    expect(ledger.dirty.map((d) => d.reason)).toEqual(["id: 'three' is not an integer", `name: '${'x'.repeat(21)}' is 21 characters, column holds 20`]);
  });

  it('never waits for the throttle past its deadline: the range is handed back, and the next delivery finishes it', async () => {
    // 20 rows/s over 2 consumers: chunks of 5 rows, each a quarter second of the rate. The ledger's clock stands still, so waits grow by 250 ms a chunk.
    const throttled = JobSpec.parse({ ...spec, channel: { ...spec.channel, rowsPerSecond: 20 } });
    const { plan, messages, deps, ledger, target } = setup();
    await plan(throttled);
    const clocked = { ...deps, jobs: () => throttled };
    const deadline = deps.now() + 600;
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline }, clocked)).toEqual({ status: 'handed-back', rowsWritten: 10 });
    expect(deps.now()).toBeLessThanOrEqual(deadline);
    expect([...ledger.ranges.values()][0]).toMatchObject({ status: 'running', checkpoint: '10' });
    ledger.now = 10;
    expect(await consumeRange({ message: messages[0], receiveCount: 1, deadline: null }, clocked)).toEqual({ status: 'done', rowsWritten: 15 });
    expect(target.rows.filter((r) => Number(r[0]) < 25)).toHaveLength(25);
  });
});
