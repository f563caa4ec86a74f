/** A Glue Job State Change as EventBridge delivers it (captured shape). */
export function glueEvent(state: string, time = '2026-11-25T01:30:12Z', jobName = 'insert_data') {
  return {
    version: '0',
    id: `e-${state}-${time}`,
    'detail-type': 'Glue Job State Change',
    source: 'aws.glue',
    account: '123456789012',
    time,
    region: 'eu-west-1',
    resources: [],
    detail: { jobName, severity: state === 'SUCCEEDED' ? 'INFO' : 'ERROR', state, jobRunId: 'jr_0f3a', message: 'Job run succeeded' },
  };
}
