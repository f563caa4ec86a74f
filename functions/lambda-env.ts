/**
 * What both Lambda functions share: their environment, parsed once at cold
 * start, and the clients, pools and metrics made from it. The names the CDK
 * stack shares with them (queue names, metric names, variables) are in
 * names.ts, which imports nothing: synth never loads this runtime.
 */
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { EventBridgeEvents } from './adapters/events.ts';
import { createOpener } from './adapters/open-job.ts';
import { SecretsManagerReader } from './adapters/secrets.ts';
import type { Log } from './consumer/consumer.ts';
import type { HealthStore } from './core/health.ts';
import type { JobSpec } from './core/job-spec.ts';
import type { JobResources } from './core/plan.ts';
import { withFreshCredentials } from './core/credentials.ts';
import { type Events, type Ledger, noEvents, type RunEvent } from './core/ports.ts';
import { METRIC, METRICS_SERVICE } from './names.ts';

export const LambdaEnv = z.object({
  /** Where the job files are; the CDK stack copies them next to the planner's bundle. */
  BATCHSYNC_JOBS_DIR: z.string().default(fileURLToPath(new URL('./jobs/', import.meta.url))),
  /** Queue names are this prefix and the job's name (see rangeQueueName). */
  BATCHSYNC_QUEUE_PREFIX: z.string().default('batchsync-'),
  BATCHSYNC_EVENT_BUS: z.string().optional(),
  BATCHSYNC_METRICS_NAMESPACE: z.string().default('batchsync'),
  BATCHSYNC_LOAD_DATA: z.enum(['true', 'false']).default('true'),
  /** A run not ended after this many hours counts as stuck (the lifecycle sweep's StuckRuns metric). */
  BATCHSYNC_STUCK_RUN_HOURS: z.coerce.number().positive().default(6),
  AWS_LAMBDA_LOG_STREAM_NAME: z.string().optional(),
});
export type LambdaEnv = z.infer<typeof LambdaEnv>;

export { METRIC, METRICS_SERVICE, rangeQueueName } from './names.ts';

type Measure = [name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number];

/**
 * Emits one set of a job's metrics at once. Everything between adding the
 * dimension and publishing is synchronous, so concurrent records of a batch
 * cannot mix their jobs' values.
 */
export function emitJobMetrics(metrics: Metrics, job: string, measures: Measure[]): void {
  metrics.addDimension('job', job);
  for (const [name, unit, value] of measures) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/**
 * Events that also measure the runs they announce: a run's end ("Run
 * Succeeded" / "Run Failed") is counted, and its totals from the ledger (rows
 * read and written, dirty records, bytes, duration) are emitted once, by
 * whoever ended the run. The metrics are emitted before the event is
 * published, so a failed publish (retried later) cannot hide a failed run
 * from its alarm; a metric that cannot be read never fails the run.
 */
export function measuredEvents(
  inner: Events,
  ledgers: ReadonlyMap<string, Ledger>,
  metrics: Metrics,
  log: Log,
  healthStores: ReadonlyMap<string, HealthStore> = new Map(),
): Events {
  return {
    async publish(event: RunEvent, options?: { repeat?: boolean }): Promise<void> {
      // A resume is no end to measure; an end announced again was measured the first time.
      if (event.type === 'Run Resumed' || options?.repeat) return inner.publish(event);
      const measures: Measure[] = [[event.type === 'Run Succeeded' ? METRIC.runsSucceeded : METRIC.runsFailed, MetricUnit.Count, 1]];
      try {
        const run = await ledgers.get(event.job)?.getRun(event.runId);
        if (run) {
          measures.push(
            [METRIC.rowsRead, MetricUnit.Count, run.rowsRead],
            [METRIC.rowsWritten, MetricUnit.Count, run.rowsWritten],
            [METRIC.dirtyRecords, MetricUnit.Count, run.dirtyRecords],
            [METRIC.skippedRows, MetricUnit.Count, run.skipped],
            [METRIC.bytesWritten, MetricUnit.Bytes, run.bytesWritten],
            [METRIC.runDuration, MetricUnit.Milliseconds, (run.finishedAt ?? new Date()).getTime() - run.createdAt.getTime()],
          );
        }
        const health = healthStores.get(event.job);
        if (health) measures.push([METRIC.pausedMs, MetricUnit.Milliseconds, (await health.pauses(event.runId)).pausedMs]);
      } catch (error) {
        log.error('cannot read the run totals for its metrics', { job: event.job, runId: event.runId, error: String(error) });
      }
      emitJobMetrics(metrics, event.job, measures);
      await inner.publish(event);
    },
  };
}

/**
 * Clients, pools, secrets and metrics, made once per execution environment
 * and reused while it is warm. `open` and `openLedger` remember each job's
 * ledger, where the run totals of its metrics are read.
 */
export function lambdaResources(env: LambdaEnv, processEnv: Record<string, string | undefined>, log: Log) {
  const opener = createOpener({
    env: processEnv,
    secrets: new SecretsManagerReader(new SecretsManagerClient({})),
    poolSize: 4,
    loadData: env.BATCHSYNC_LOAD_DATA === 'true',
  });
  const ledgers = new Map<string, Ledger>();
  const healthStores = new Map<string, HealthStore>();
  const metrics = new Metrics({ namespace: env.BATCHSYNC_METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
  const bus = env.BATCHSYNC_EVENT_BUS ? new EventBridgeEvents(new EventBridgeClient({}), env.BATCHSYNC_EVENT_BUS) : noEvents;
  return {
    async open(job: JobSpec): Promise<JobResources> {
      const resources = await opener.open(job);
      ledgers.set(job.name, resources.ledger);
      if (resources.health) healthStores.set(job.name, resources.health.store);
      return resources;
    },
    async openLedger(job: JobSpec): Promise<Ledger> {
      const ledger = await opener.openLedger(job.target);
      ledgers.set(job.name, ledger);
      return ledger;
    },
    forget: opener.forget,
    /** `work`, and once more after dropping pools and secrets if a login was refused (a rotated secret). */
    withFreshCredentials: <T>(work: () => Promise<T>): Promise<T> => withFreshCredentials(work, opener.forget),
    events: measuredEvents(bus, ledgers, metrics, log, healthStores),
    metrics,
    owner: `lambda:${env.AWS_LAMBDA_LOG_STREAM_NAME ?? hostname()}:${process.pid}`,
  };
}
