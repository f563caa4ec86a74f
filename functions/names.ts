/**
 * The names the functions and the CDK stack share: queue names, metric
 * names, the event source and the functions' environment variables. This
 * module imports nothing, so `cdk synth` loads no database driver and no
 * AWS SDK client by reading it.
 */

/** The source name of batchsync's events; dependent jobs' rules match on it. */
export const EVENT_SOURCE = 'batchsync';

/** The detail types of a run's end on the bus. */
export const RUN_SUCCEEDED = 'Run Succeeded';
export const RUN_FAILED = 'Run Failed';

/** The `service` dimension of every batchsync metric; with `job`, what the stack's alarms select on. */
export const METRICS_SERVICE = 'batchsync';

/** The per-job metrics the functions emit (dimensions: service, job). */
export const METRIC = {
  runsStarted: 'RunsStarted',
  rangesQueued: 'RangesQueued',
  runsSucceeded: 'RunsSucceeded',
  runsFailed: 'RunsFailed',
  rowsRead: 'RowsRead',
  rowsWritten: 'RowsWritten',
  dirtyRecords: 'DirtyRecords',
  skippedRows: 'SkippedRows',
  bytesWritten: 'BytesWritten',
  runDuration: 'RunDuration',
  /** Runs older than BATCHSYNC_STUCK_RUN_HOURS that have not ended, counted by the lifecycle sweep. */
  stuckRuns: 'StuckRuns',
  /** Time a run's writes waited for the target's health (target.health). */
  pausedMs: 'PausedMs',
} as const;

/** The environment variables the stack sets on the functions. */
export const ENV = {
  jobsDir: 'BATCHSYNC_JOBS_DIR',
  queuePrefix: 'BATCHSYNC_QUEUE_PREFIX',
  eventBus: 'BATCHSYNC_EVENT_BUS',
  metricsNamespace: 'BATCHSYNC_METRICS_NAMESPACE',
  loadData: 'BATCHSYNC_LOAD_DATA',
  /** A run not ended after this many hours is counted in StuckRuns by the sweep. */
  stuckRunHours: 'BATCHSYNC_STUCK_RUN_HOURS',
} as const;

/** The planner's input for the lifecycle sweep (sent by the stack's 15-minute schedule). */
export const SWEEP_ACTION = 'sweep';

/**
 * The name of a job's range queue on AWS: always FIFO. The sender chooses
 * the message group: one per run when maxConcurrency is 1 (SQS then hands
 * out one range of the run at a time, as the Lambda event source cannot
 * limit itself below 2), one per range otherwise (no ordering, full
 * parallelism). Changing maxConcurrency therefore never renames the queue
 * and never drops the ranges in flight.
 */
export function rangeQueueName(prefix: string, job: { name: string }): string {
  return `${prefix}${job.name}.fifo`;
}

/** The message group of a range message: the run when the job takes one range at a time, else the range itself. */
export function messageGroupOf(maxConcurrency: number, message: { runId: string; rangeId: number }): string {
  return maxConcurrency === 1 ? message.runId : `${message.runId}-${message.rangeId}`;
}

/** The dead-letter queue of a range queue. */
export function deadLetterQueueName(queueName: string): string {
  return queueName.endsWith('.fifo') ? `${queueName.slice(0, -'.fifo'.length)}-dlq.fifo` : `${queueName}-dlq`;
}
