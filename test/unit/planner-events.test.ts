import { resolveRun } from '../../functions/core/vars.ts';
import { describe, expect, it } from 'vitest';
import { JobSpec } from '../../functions/core/job-spec.ts';
import type { RangeMessage } from '../../functions/core/ports.ts';
import { createPlannerHandler } from '../../functions/planner/planner.ts';
import { column } from './columns.ts';
import { glueEvent } from './events.ts';
import { ArraySource, MemoryLedger, MemoryTarget } from './fakes.ts';

/**
 * The planner handler given what an event trigger's rule sends it: the
 * event itself. It starts the job whose pattern matches, at the event's
 * time with the variables at their paths; a redelivery plans nothing new.
 */
const job = JobSpec.parse({
  name: 'write_result',
  source: { type: 'postgres', connection: { url: 'postgres://x/y' }, table: 'result_table', where: "dt = '${bizdate}' AND run = '${glueRun}'" },
  target: { type: 'mysql', connection: { url: 'mysql://x/y' }, table: 'odps_result' },
  timezone: 'Asia/Shanghai',
  triggers: [
    {
      type: 'event',
      pattern: { source: ['aws.glue'], 'detail-type': ['Glue Job State Change'], detail: { jobName: ['insert_data'], state: ['SUCCEEDED'] } },
      vars: { glueRun: '$.detail.jobRunId' },
    },
  ],
});
const other = JobSpec.parse({ ...job, name: 'unrelated', triggers: [] });

function setup() {
  const ledger = new MemoryLedger();
  const source = new ArraySource([['1', 'a']], ['id', 'name'], 1);
  const target = new MemoryTarget(ledger, [column('int', { name: 'id' }), column('varchar(20)', { name: 'name' })]);
  const messages: RangeMessage[] = [];
  let ids = 0;
  const planner = createPlannerHandler({
    jobs: new Map([
      [job.name, job],
      [other.name, other],
    ]),
    open: async () => ({ source, target, ledger }),
    ledgerOf: async () => ledger,
    queueFor: () => ({ send: async (m) => void messages.push(...m) }),
    events: { publish: async () => {} },
    newRunId: () => `run-${++ids}`,
    now: () => new Date('2030-01-01T00:00:00Z'),
    stuckAfterMs: 6 * 3_600_000,
    log: { info: () => {}, warn: () => {}, error: () => {} } as never,
  });
  return { planner, messages, ledger };
}

describe('the planner on an event trigger', () => {
  it('a matching event starts the job once, at its time, with its variables resolved into the run', async () => {
    const { planner, messages, ledger } = setup();
    const event = glueEvent('SUCCEEDED', '2026-11-25T01:30:12Z');
    expect(await planner(event, {} as never)).toEqual([{ job: 'write_result', logicalTime: '2026-11-25T01:30:12.000Z', outcome: 'created', runId: 'run-1', ranges: 1 }]);
    expect(messages).toHaveLength(1);
    // Shanghai 09:30 on the 25th: bizdate the 24th; the Glue run id from its path.
    expect(messages[0].vars).toEqual({ glueRun: 'jr_0f3a' });
    expect(resolveRun(job, new Date(messages[0].logicalTime), messages[0].vars).source).toMatchObject({ where: "dt = '20261124' AND run = 'jr_0f3a'" });
    const again = await planner(structuredClone(event), {} as never);
    expect(again).toEqual([expect.objectContaining({ job: 'write_result', runId: 'run-1', outcome: expect.stringMatching(/joined|skipped/) })]);
    expect(messages).toHaveLength(1);
    expect(ledger.runs.size).toBe(1);
  });

  it('a FAILED run of the upstream, or another Glue job, starts nothing', async () => {
    const { planner, messages } = setup();
    expect(await planner(glueEvent('FAILED'), {} as never)).toEqual([]);
    expect(await planner(glueEvent('SUCCEEDED', undefined, 'other_job'), {} as never)).toEqual([]);
    expect(messages).toHaveLength(0);
  });
});
