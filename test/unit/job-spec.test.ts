import { describe, expect, it } from 'vitest';
import { checkJob, JobSpec, parseJob } from '../../functions/core/job-spec.ts';
import { parseVarArgs, resolveJob, schedulingVars, substitute } from '../../functions/core/vars.ts';

const minimal = {
  name: 'write_result',
  source: { type: 'postgres', connection: { url: 'postgres://u@h/db' }, table: 'public.result_table', where: "dt = '${bizdate}'" },
  target: { type: 'mysql', connection: { url: 'mysql://root@h/db' }, table: 'odps_result' },
};

describe('job file', () => {
  it('a small job gets the documented defaults', () => {
    const job = parseJob(JSON.stringify(minimal));
    expect(job.timezone).toBe('UTC');
    expect(job.target).toMatchObject({ writeMode: 'insert', loadMode: 'append', preSql: [], postSql: [], emptyAsNull: true, ledger: { prefix: 'batchsync_' } });
    expect(job.target.batchRows).toBeUndefined();
    expect(job.channel).toEqual({ maxConcurrency: 2, bytesPerSecond: null, rowsPerSecond: null, dirtyRecordLimit: null, dirtyRecordsStored: 10_000, distributed: true, maxReceiveCount: 5 });
  });

  it('names every unknown key with its path', () => {
    expect(checkJob({ ...minimal, extra: 1, target: { ...minimal.target, colums: [] } }).sort()).toEqual(['extra: unknown key', 'target.colums: unknown key; did you mean columns?']);
  });

  it('rejects wrong types, bad names, bad time zones and ambiguous connections', () => {
    const problems = checkJob({
      ...minimal,
      name: 'Write Result',
      timezone: 'Mars/Olympus',
      source: { ...minimal.source, connection: { url: 'postgres://x/y', secretId: 's' } },
      channel: { maxConcurrency: 0 },
    });
    expect(problems).toEqual([
      'name: must be 1-64 of a-z, 0-9, _ and -',
      'timezone: not an IANA time zone name (for example "Asia/Shanghai")',
      'source.connection: give exactly one of url, urlFromEnv, secretId',
      'channel.maxConcurrency: Too small: expected number to be >=1',
    ]);
  });

  it('a throttle below the stated minimum is rejected', () => {
    expect(checkJob({ ...minimal, channel: { rowsPerSecond: 0.5 } })[0]).toMatch(/^channel\.rowsPerSecond: Too small/);
  });
});

describe('scheduling variables', () => {
  it('bizdate is the day before the logical time, in the schedule time zone', () => {
    const time = new Date('2026-11-25T17:30:05Z');
    expect(schedulingVars(time, 'UTC')).toEqual({ bizdate: '20261124', cyctime: '20261125173005' });
    // 01:30 on the 26th in Shanghai.
    expect(schedulingVars(time, 'Asia/Shanghai')).toEqual({ bizdate: '20261125', cyctime: '20261126013005' });
    expect(schedulingVars(new Date('2027-01-01T00:00:00Z'), 'UTC').bizdate).toBe('20261231');
    expect(schedulingVars(new Date('2028-03-01T12:00:00Z'), 'UTC').bizdate).toBe('20280229');
  });

  it('are resolved in where, SQL and URLs; an unknown one is an error naming the field', () => {
    const job = JobSpec.parse({ ...minimal, target: { ...minimal.target, connection: { url: 'mysql://root@h/db_${region}' } } });
    const resolved = resolveJob(job, { bizdate: '20261124', cyctime: '20261125000000', region: 'eu' });
    expect(resolved.source).toMatchObject({ where: "dt = '20261124'" });
    expect(resolved.target.connection).toEqual({ url: 'mysql://root@h/db_eu' });
    expect(() => substitute('x = ${nope}', { bizdate: '1' }, 'source.where')).toThrow('source.where: unknown variable ${nope} (known: bizdate)');
  });

  it('--var takes name=value, the value may hold =', () => {
    expect(parseVarArgs(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseVarArgs(['=1'])).toThrow('--var =1: expected name=value');
  });
});
