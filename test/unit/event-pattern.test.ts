import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPattern, type EventPattern, explainMismatch, matchesPattern, valueAtPath } from '../../functions/core/event-pattern.ts';
import { JobSpec } from '../../functions/core/job-spec.ts';
import { eventRun, objectVars, triggersOf } from '../../functions/planner/triggers.ts';
import { glueEvent } from './events.ts';

const event = {
  source: 'aws.glue',
  'detail-type': 'Glue Job State Change',
  time: '2026-11-25T01:30:12Z',
  detail: { jobName: 'insert_data', state: 'SUCCEEDED', rows: 1200, ratio: 0.5, tags: ['daily', 'odps'], nested: { deep: { flag: true } }, none: null, ip: '10.0.3.7' },
};

describe('EventBridge pattern matching', () => {
  const cases: Array<[string, EventPattern, boolean]> = [
    ['exact string', { source: ['aws.glue'] }, true],
    ['exact string, other value', { source: ['aws.s3'] }, false],
    ['a list is OR', { detail: { state: ['FAILED', 'SUCCEEDED'] } }, true],
    ['several fields are AND', { source: ['aws.glue'], detail: { state: ['FAILED'] } }, false],
    ['exact number', { detail: { rows: [1200] } }, true],
    ['a number is not its string', { detail: { rows: ['1200'] } }, false],
    ['null matches null', { detail: { none: [null] } }, true],
    ['boolean, nested', { detail: { nested: { deep: { flag: [true] } } } }, true],
    ['nested, other value', { detail: { nested: { deep: { flag: [false] } } } }, false],
    ['an array field matches when any element does', { detail: { tags: ['odps'] } }, true],
    ['an array field, no element', { detail: { tags: ['hourly'] } }, false],
    ['prefix', { detail: { jobName: [{ prefix: 'insert_' }] } }, true],
    ['prefix, no', { detail: { jobName: [{ prefix: 'delete_' }] } }, false],
    ['prefix ignoring case', { detail: { jobName: [{ prefix: { 'equals-ignore-case': 'INSERT' } }] } }, true],
    ['suffix', { detail: { jobName: [{ suffix: '_data' }] } }, true],
    ['equals-ignore-case', { detail: { state: [{ 'equals-ignore-case': 'succeeded' }] } }, true],
    ['wildcard', { detail: { jobName: [{ wildcard: 'ins*_d*' }] } }, true],
    ['wildcard, no', { detail: { jobName: [{ wildcard: 'x*' }] } }, false],
    ['anything-but a value', { detail: { state: [{ 'anything-but': 'FAILED' }] } }, true],
    ['anything-but that value', { detail: { state: [{ 'anything-but': 'SUCCEEDED' }] } }, false],
    ['anything-but a list', { detail: { state: [{ 'anything-but': ['FAILED', 'STOPPED'] }] } }, true],
    ['anything-but a prefix', { detail: { jobName: [{ 'anything-but': { prefix: 'insert' } }] } }, false],
    ['anything-but needs the field', { detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    ['exists true', { detail: { jobRunId: [{ exists: false }], state: [{ exists: true }] } }, true],
    ['exists true on an absent field', { detail: { jobRunId: [{ exists: true }] } }, false],
    ['exists false on a present field', { detail: { state: [{ exists: false }] } }, false],
    ['numeric range', { detail: { rows: [{ numeric: ['>', 1000, '<=', 1200] }] } }, true],
    ['numeric range, outside', { detail: { rows: [{ numeric: ['>', 1200] }] } }, false],
    ['numeric equal', { detail: { ratio: [{ numeric: ['=', 0.5] }] } }, true],
    ['numeric on a string', { detail: { state: [{ numeric: ['>', 0] }] } }, false],
    ['cidr', { detail: { ip: [{ cidr: '10.0.0.0/16' }] } }, true],
    ['cidr, outside', { detail: { ip: [{ cidr: '10.1.0.0/16' }] } }, false],
    ['$or, one branch', { source: ['aws.glue'], $or: [{ detail: { state: ['FAILED'] } }, { detail: { rows: [{ numeric: ['>', 10] }] } }] }, true],
    ['$or, no branch', { $or: [{ detail: { state: ['FAILED'] } }, { source: ['aws.s3'] }] }, false],
    ['a nested pattern on a scalar field', { detail: { state: { x: ['y'] } } }, false],
    ['an absent nested object', { missing: { x: ['y'] } }, false],
  ];
  for (const [name, pattern, expected] of cases) {
    it(`${name}: ${expected ? 'matches' : 'does not match'}`, () => {
      expect(checkPattern(pattern)).toEqual([]);
      expect(matchesPattern(pattern, event)).toBe(expected);
    });
  }

  it('says which field failed and what the pattern wants', () => {
    expect(explainMismatch({ detail: { state: ['SUCCEEDED'] } }, { detail: { state: 'FAILED' } })).toBe('detail.state is "FAILED", the pattern wants ["SUCCEEDED"]');
    expect(explainMismatch({ detail: { jobName: ['x'] } }, {})).toBe('detail.jobName is absent, the pattern wants ["x"]');
  });

  it('a pattern that only lists exact values matches an event built from them, and not one with any value changed', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }).filter((k) => k !== '$or'), leaf, { minKeys: 1 }), fc.nat(), (fields, pick) => {
        const pattern = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, [v]]));
        expect(matchesPattern(pattern, { detail: fields }.detail)).toBe(true);
        const keys = Object.keys(fields);
        const changed = { ...fields, [keys[pick % keys.length]]: { other: true } };
        expect(matchesPattern(pattern, changed)).toBe(false);
      }),
    );
  });

  it('refuses malformed patterns, naming where', () => {
    expect(checkPattern([])).toEqual(['pattern: expected an object (an EventBridge event pattern)']);
    expect(checkPattern({})).toEqual(['pattern: an empty pattern matches every event; name at least one field']);
    expect(checkPattern({ source: 'aws.glue' })).toEqual(['pattern.source: expected a list of values (e.g. ["aws.glue"]) or a nested object']);
    expect(checkPattern({ detail: { state: [] } })).toEqual(['pattern.detail.state: an empty list matches nothing']);
    expect(checkPattern({ detail: { n: [{ numeric: ['>>', 'one'] }] } })).toHaveLength(2);
    expect(checkPattern({ detail: { n: [{ begins: 'x' }] } })[0]).toMatch(/^pattern.detail.n\[0\]: \{"begins":"x"\} is not a matcher/);
    expect(checkPattern({ $or: [{ a: ['x'] }] })).toEqual(['pattern.$or: expected a list of at least two patterns']);
  });

  it('reads values at $.a.b paths', () => {
    expect(valueAtPath(event, '$.detail.nested.deep.flag')).toBe(true);
    expect(valueAtPath(event, '$.detail-type')).toBe('Glue Job State Change');
    expect(valueAtPath(event, '$.detail.nothing.here')).toBeUndefined();
  });
});

const job = (triggers: unknown[]) =>
  JobSpec.parse({
    name: 'write_result',
    source: { type: 'files', url: 's3://bucket/result_table/dt=${bizdate}/', format: 'parquet' },
    target: { type: 'mysql', connection: { url: 'mysql://root@h/db' }, table: 'odps_result' },
    triggers,
  });

describe('event triggers in the job file and the planner', () => {
  const glue = { source: ['aws.glue'], 'detail-type': ['Glue Job State Change'], detail: { jobName: ['insert_data'], state: ['SUCCEEDED'] } };

  it('defaults: the default bus, the logical time from $.time, no variables', () => {
    expect(job([{ type: 'event', pattern: glue }]).triggers[0]).toEqual({ type: 'event', pattern: glue, bus: 'default', logicalTime: '$.time', vars: {} });
  });

  it('a bad pattern, path or variable name is a job file problem with its path', () => {
    const problems = JobSpec.safeParse({ ...job([]), triggers: [{ type: 'event', pattern: { source: 'x' }, logicalTime: 'time', vars: { 'bad-name': '$.a' } }] });
    const messages = problems.success ? [] : problems.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages.join('\n')).toMatch(/triggers.0.pattern: source: expected a list of values/);
    expect(messages.join('\n')).toMatch(/triggers.0.logicalTime: must be a path into the event/);
    expect(messages.join('\n')).toMatch(/triggers.0.vars.bad-name/);
  });

  it('the same event gives the same logical time and variables; the time and variables come from their paths', () => {
    const trigger = job([{ type: 'event', pattern: glue, logicalTime: '$.detail.completedOn', vars: { run: '$.detail.jobRunId', attempt: '$.detail.attempt' } }])
      .triggers[0] as Extract<JobSpec['triggers'][number], { type: 'event' }>;
    const e = { ...glueEvent('SUCCEEDED'), detail: { ...glueEvent('SUCCEEDED').detail, completedOn: '2026-11-25T01:29:58.120Z', attempt: 0 } };
    const first = eventRun(trigger, e, 'write_result: triggers[0]');
    expect(first).toEqual({ logicalTime: new Date('2026-11-25T01:29:58.120Z'), vars: { run: 'jr_0f3a', attempt: '0' } });
    expect(eventRun(trigger, structuredClone(e), 'x')).toEqual(first);
    expect(() => eventRun(trigger, glueEvent('SUCCEEDED'), 'write_result: triggers[0]')).toThrow('write_result: triggers[0].logicalTime: $.detail.completedOn in the event is absent, not a date and time');
  });

  it('the planner starts the jobs whose pattern the event matches, at the event time, and no others', () => {
    const jobs = new Map([['write_result', job([{ type: 'event', pattern: glue }])]]);
    const now = new Date('2030-01-01T00:00:00Z');
    expect(triggersOf(glueEvent('SUCCEEDED'), jobs, now)).toEqual([{ job: 'write_result', logicalTime: new Date('2026-11-25T01:30:12Z'), vars: {}, waitFor: [] }]);
    expect(triggersOf(glueEvent('FAILED'), jobs, now)).toEqual([]);
    expect(triggersOf(glueEvent('SUCCEEDED', undefined, 'other_job'), jobs, now)).toEqual([]);
  });

  it('an S3 object gives its bucket, key and ETag as variables: two objects, two identities; the same object, one', () => {
    const detail = (key: string, etag: string) => ({ bucket: { name: 'in' }, object: { key, etag, size: 3, 'version-id': 'v7' } });
    expect(objectVars(detail('a/1.csv', 'e1'))).toEqual({ bucket: 'in', key: 'a/1.csv', etag: 'e1' });
    const jobs = new Map([['landing', { ...job([{ type: 's3', bucket: 'in', prefix: 'a/' }]), name: 'landing' }]]);
    const s3Event = (key: string, etag: string) => ({ source: 'aws.s3', 'detail-type': 'Object Created', time: '2026-11-25T01:30:12Z', detail: detail(key, etag) });
    const [one] = triggersOf(s3Event('a/1.csv', 'e1'), jobs, new Date());
    const [two] = triggersOf(s3Event('a/2.csv', 'e2'), jobs, new Date());
    expect(one.logicalTime).toEqual(two.logicalTime);
    expect(one.vars).not.toEqual(two.vars);
    expect(triggersOf(s3Event('a/1.csv', 'e1'), jobs, new Date())).toEqual([one]);
  });
});

describe('the example jobs of examples/events and the events of their upstreams', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { parseJob } = await import('../../functions/core/job-spec.ts');
  const dir = fileURLToPath(new URL('../../examples/events/', import.meta.url));
  const jobs = new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => parseJob(readFileSync(dir + f, 'utf8'), f))
      .map((j) => [j.name, j]),
  );
  const file = (name: string) => JSON.parse(readFileSync(`${dir}captured/${name}`, 'utf8'));
  const envelope = (source: string, detailType: string, detail: object) => ({
    version: '0', id: 'x', source, 'detail-type': detailType, account: '123456789012', time: '2026-11-25T01:30:12Z', region: 'eu-west-1', resources: [], detail,
  });
  const now = new Date('2030-01-01T00:00:00Z');
  const started = (event: unknown) => triggersOf(event, jobs, now).map((t) => [t.job, t.vars]);

  it('a Glue success starts the job after it; its failure, nothing', () => {
    expect(started(file('glue-succeeded.json'))).toEqual([['write_result_after_glue', { glueRun: expect.stringMatching(/^jr_/) }]]);
    expect(started(file('glue-failed.json'))).toEqual([]);
  });

  it("the tutorial's custom event gives the upstream's bizdate", () => {
    expect(started(file('maxcompute-unloaded.json'))).toEqual([['write_result', { bizdate: '20261124' }]]);
  });

  it('a Step Functions execution that succeeded, a Redshift statement that finished, an Athena query that succeeded', () => {
    const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:nightly-export';
    const execution = (status: string) =>
      envelope('aws.states', 'Step Functions Execution Status Change', { executionArn: `${arn}:run-1`, stateMachineArn: arn, name: 'run-1', status, startDate: 1, stopDate: 2 });
    expect(started(execution('SUCCEEDED'))).toEqual([['orders_after_state_machine', { execution: 'run-1' }]]);
    expect(started(execution('FAILED'))).toEqual([]);
    const statement = (state: string) =>
      envelope('aws.redshift-data', 'Redshift Data Statement Status Change', { principal: 'arn:aws:iam::123456789012:role/etl', statementName: 'unload_sales', statementId: 'd1a2', state, rows: 10 });
    expect(started(statement('FINISHED'))).toEqual([['sales_from_redshift', { statementId: 'd1a2' }]]);
    expect(started(statement('ABORTED'))).toEqual([]);
    const query = (currentState: string) =>
      envelope('aws.athena', 'Athena Query State Change', { currentState, previousState: 'RUNNING', queryExecutionId: 'q-9', workgroupName: 'exports', statementType: 'DML' });
    expect(started(query('SUCCEEDED'))).toEqual([['clicks_from_athena', { queryExecutionId: 'q-9' }]]);
    expect(started(query('FAILED'))).toEqual([]);
  });
});
