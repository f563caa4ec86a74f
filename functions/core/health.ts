/**
 * Protecting the target: before each chunk, a consumer asks whether the
 * server is healthy enough to take it (after gh-ost's --max-load,
 * --critical-load and --max-lag-millis). The signals are measured at most
 * once per interval for the whole job, by whichever consumer claims the
 * check in the shared store; the others read its verdict. While the verdict
 * is "pause" a consumer holds its range and waits; "critical" fails the run.
 */
import { BatchsyncError } from './errors.ts';
import type { Health, JobSpec } from './job-spec.ts';

/** What one check measured on the target (and its replicas). */
export interface HealthSignals {
  /** Global status variables, by the name the job gives them. */
  load: Record<string, number>;
  /** The greatest lag over the replicas, in ms; absent when no lagQuery is configured, or when it could not be read. */
  lagMillis?: number;
  /** Why the lag could not be read (a replica down, replication stopped): lag unknown pauses, as gh-ost does. */
  lagUnknown?: string;
}

export type Verdict = 'ok' | 'pause' | 'critical';

export interface Assessment {
  verdict: Verdict;
  /** One per signal over its limit, e.g. `Threads_running 31 > 25`; empty when ok. */
  reasons: string[];
}

export interface HealthReading extends Assessment {
  signals: HealthSignals;
  /** How long ago the check was made, by the store's clock. */
  ageMs: number;
}

/** Paused time of a run, summed over its pauses (a pause still going counts up to now). */
export interface PauseTotals {
  pausedMs: number;
  /** The signals over their limits at the latest pause. */
  reasons: string[];
  /** The run is paused at this moment. */
  pausedNow: boolean;
}

/**
 * The job-wide check record and each run's paused time, shared by all
 * consumers (a table in the ledger database).
 */
export interface HealthStore {
  /** True for the one caller that should measure now: nobody has claimed the job's check within the last `intervalMs`. */
  claim(job: string, intervalMs: number): Promise<boolean>;
  save(job: string, reading: Assessment & { signals: HealthSignals }): Promise<void>;
  /** The job's latest check, whoever made it; null before the first. */
  latest(job: string): Promise<HealthReading | null>;
  /** The run is paused for `reasons`: starts its pause clock unless running. */
  pausing(runId: string, reasons: string[]): Promise<void>;
  /** The run writes again: stops its pause clock, adding the pause to its paused time. */
  resumed(runId: string): Promise<void>;
  pauses(runId: string): Promise<PauseTotals>;
}

/** Reads the signals a job's health names from the live servers. */
export interface HealthProbe {
  measure(spec: Health): Promise<HealthSignals>;
}

export interface HealthResources {
  store: HealthStore;
  probe: HealthProbe;
}

/** A critical-load limit was crossed: the run fails before its next chunk (resume finishes it later). */
export class TargetOverloadedError extends BatchsyncError {}

/** How often a paused consumer heartbeats its attempt and its message. */
export const PAUSE_HEARTBEAT_MS = 10_000;
/** How long a consumer waits for the first check of the job, made by another consumer. */
const PENDING_MS = 200;

/** A verdict older than this was left by a consumer that has gone: wait for a fresh one. */
export function staleAfterMs(intervalMs: number): number {
  return 2 * intervalMs + 2000;
}

const over = (name: string, value: number, limit: number, unit = '') => `${name} ${value}${unit} > ${limit}${unit}`;

/**
 * Weighs measured signals against the job's limits: any criticalLoad
 * variable above its limit is critical; otherwise any maxLoad variable
 * above its limit, or lag above maxLagMillis (or lag that cannot be read),
 * pauses. A value equal to its limit is within it.
 */
export function assess(spec: Health, signals: HealthSignals): Assessment {
  const critical = Object.entries(spec.criticalLoad)
    .filter(([name, limit]) => (signals.load[name] ?? 0) > limit)
    .map(([name, limit]) => over(name, signals.load[name], limit));
  if (critical.length) return { verdict: 'critical', reasons: critical };
  const pause = Object.entries(spec.maxLoad)
    .filter(([name, limit]) => (signals.load[name] ?? 0) > limit)
    .map(([name, limit]) => over(name, signals.load[name], limit));
  if (spec.maxLagMillis !== undefined) {
    if (signals.lagUnknown !== undefined) pause.push(`lag unknown: ${signals.lagUnknown}`);
    else if ((signals.lagMillis ?? 0) > spec.maxLagMillis) pause.push(over('lag', signals.lagMillis as number, spec.maxLagMillis, ' ms'));
  }
  return { verdict: pause.length ? 'pause' : 'ok', reasons: pause };
}

/**
 * The job's health now: measured by this caller when it wins the check of
 * this interval (and saved for the others), else the verdict another
 * consumer saved; null while there is no fresh verdict yet.
 */
export async function currentHealth(job: string, spec: Health, health: HealthResources): Promise<HealthReading | null> {
  if (await health.store.claim(job, spec.checkIntervalMs)) {
    const signals = await health.probe.measure(spec);
    const reading = { signals, ...assess(spec, signals) };
    await health.store.save(job, reading);
    return { ...reading, ageMs: 0 };
  }
  const last = await health.store.latest(job);
  return last && last.ageMs <= staleAfterMs(spec.checkIntervalMs) ? last : null;
}

export interface HealthGate {
  job: string;
  runId: string;
  spec: Health;
  health: HealthResources;
  /** When (epoch ms) to give up waiting and hand the range back; null: never. */
  deadline: number | null;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Keeps the held range's claim alive (attempt heartbeat, message visibility) while paused. */
  heartbeat(): Promise<void>;
}

/**
 * Waits, before a chunk is written, until every signal is within its limit:
 * `ok` to write, `deadline` when the consumer's time ran out first (the
 * caller hands the range back with its checkpoint). While paused it
 * heartbeats every PAUSE_HEARTBEAT_MS and keeps the run's pause clock
 * running. Throws TargetOverloadedError on a critical verdict.
 */
export async function awaitHealthy(gate: HealthGate): Promise<'ok' | 'deadline'> {
  const { job, runId, spec, health } = gate;
  let paused = false;
  let lastBeat = Number.NEGATIVE_INFINITY;
  for (;;) {
    const reading = await currentHealth(job, spec, health);
    if (reading && reading.verdict !== 'pause') {
      if (paused) await health.store.resumed(runId);
      if (reading.verdict === 'critical') throw new TargetOverloadedError(`target.health.criticalLoad: ${reading.reasons.join(', ')}`);
      return 'ok';
    }
    if (reading) {
      paused = true;
      await health.store.pausing(runId, reading.reasons);
    }
    const now = gate.now();
    if (gate.deadline !== null && now >= gate.deadline) return 'deadline';
    if (now - lastBeat >= PAUSE_HEARTBEAT_MS) {
      await gate.heartbeat();
      lastBeat = now;
    }
    const wait = reading ? spec.checkIntervalMs : Math.min(spec.checkIntervalMs, PENDING_MS);
    await gate.sleep(gate.deadline === null ? wait : Math.max(1, Math.min(wait, gate.deadline - now)));
  }
}

/** One line per configured signal, its value now next to its limits: what `check` prints. */
export function describeHealth(spec: Health, signals: HealthSignals, replicas: number): string[] {
  const names = [...new Set([...Object.keys(spec.maxLoad), ...Object.keys(spec.criticalLoad)])];
  const lines = names.map((name) => {
    const limits = [
      spec.maxLoad[name] !== undefined ? `pauses above ${spec.maxLoad[name]}` : null,
      spec.criticalLoad[name] !== undefined ? `fails above ${spec.criticalLoad[name]}` : null,
    ].filter((l) => l !== null);
    return `${name} ${signals.load[name]} (${limits.join(', ')})`;
  });
  if (spec.maxLagMillis !== undefined) {
    const where = replicas ? `on ${replicas} replica${replicas === 1 ? '' : 's'}` : 'on the target';
    const value = signals.lagUnknown !== undefined ? `unknown (${signals.lagUnknown})` : `${signals.lagMillis} ms`;
    lines.push(`lag ${value} ${where} (pauses above ${spec.maxLagMillis} ms)`);
  }
  const { verdict, reasons } = assess(spec, signals);
  lines.push(verdict === 'ok' ? 'verdict: ok, writes go ahead' : `verdict: ${verdict === 'pause' ? 'writes would pause' : 'the run would fail'}: ${reasons.join(', ')}`);
  return lines;
}

/** What `check` prints for the job's health: each signal measured now, next to its limits; nothing when none is configured. */
export async function checkHealth(job: JobSpec, health: HealthResources | undefined): Promise<string[]> {
  const spec = job.target.health;
  if (!spec || !health) return [];
  return describeHealth(spec, await health.probe.measure(spec), spec.replicas?.length ?? 0);
}
