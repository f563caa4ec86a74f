/** In-memory health store and probe for core tests: the MySQL store's rules on a clock that moves when someone sleeps. */
import type { Assessment, HealthProbe, HealthReading, HealthResources, HealthSignals, HealthStore, PauseTotals } from '../../functions/core/health.ts';

/** A clock that moves only when someone sleeps. */
export class FakeClock {
  t = 1_000_000;
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
  };
}

/** The store's rules as the MySQL one has them: one claim per interval, on the shared clock. */
export class MemoryHealthStore implements HealthStore {
  claimedAt = new Map<string, number>();
  checks = new Map<string, Assessment & { signals: HealthSignals; at: number }>();
  runs = new Map<string, { pausedMs: number; since: number | null; reasons: string[] }>();
  constructor(private readonly clock: FakeClock) {}
  async claim(job: string, intervalMs: number): Promise<boolean> {
    const last = this.claimedAt.get(job);
    if (last !== undefined && last > this.clock.t - intervalMs) return false;
    this.claimedAt.set(job, this.clock.t);
    return true;
  }
  async save(job: string, reading: Assessment & { signals: HealthSignals }): Promise<void> {
    this.checks.set(job, { ...reading, at: this.clock.t });
  }
  async latest(job: string): Promise<HealthReading | null> {
    const c = this.checks.get(job);
    return c ? { signals: c.signals, verdict: c.verdict, reasons: c.reasons, ageMs: this.clock.t - c.at } : null;
  }
  private run(runId: string) {
    let r = this.runs.get(runId);
    if (!r) this.runs.set(runId, (r = { pausedMs: 0, since: null, reasons: [] }));
    return r;
  }
  async pausing(runId: string, reasons: string[]): Promise<void> {
    const r = this.run(runId);
    r.since ??= this.clock.t;
    r.reasons = reasons;
  }
  async resumed(runId: string): Promise<void> {
    const r = this.run(runId);
    if (r.since === null) return;
    r.pausedMs += this.clock.t - r.since;
    r.since = null;
  }
  async pauses(runId: string): Promise<PauseTotals> {
    const r = this.run(runId);
    return { pausedMs: r.pausedMs + (r.since === null ? 0 : this.clock.t - r.since), reasons: r.reasons, pausedNow: r.since !== null };
  }
}

/** Signals from a script: the n-th measurement gets the n-th entry (the last one repeats). */
export class ScriptedProbe implements HealthProbe {
  measured = 0;
  constructor(private readonly script: HealthSignals[]) {}
  async measure(): Promise<HealthSignals> {
    return this.script[Math.min(this.measured++, this.script.length - 1)];
  }
}

export const busy = (threads: number): HealthSignals => ({ load: { Threads_running: threads } });

export function healthOf(script: HealthSignals[]) {
  const clock = new FakeClock();
  const probe = new ScriptedProbe(script);
  const store = new MemoryHealthStore(clock);
  const health: HealthResources = { store, probe };
  return { clock, probe, store, health };
}

