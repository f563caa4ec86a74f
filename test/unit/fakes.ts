/** In-memory ports for core tests: the same rules as the MySQL adapters, in a few lines each. */
import { RangeBusyError } from '../../functions/core/errors.ts';
import { dirtyLimitReason } from '../../functions/core/policy.ts';
import { reserveBoth } from '../../functions/core/throttle.ts';
import type {
  Batch, Checkpoint, Chunk, ChunkResult, DirtyRecord, Ledger, OutRow, RangeRecord, RangeSpec, Row, RunRecord, RunStatus, Source, SourceColumn, Target, TargetColumn, ThrottleCost,
} from '../../functions/core/ports.ts';

/** Rows split into ranges of `perRange`; the checkpoint is the index of the next row. */
export class ArraySource implements Source {
  reads = 0;
  batchRows = 0;
  constructor(readonly rows: Row[], readonly names: string[], readonly perRange: number) {}
  async columns(): Promise<SourceColumn[]> {
    return this.names.map((name) => ({ name, type: 'text' }));
  }
  async plan(): Promise<RangeSpec[]> {
    const out: RangeSpec[] = [];
    for (let i = 0; i < this.rows.length; i += this.perRange) out.push({ description: `rows ${i}-${i + this.perRange}`, bounds: [i, Math.min(i + this.perRange, this.rows.length)] });
    return out;
  }
  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    this.batchRows = batchRows;
    const [from, to] = range.bounds as [number, number];
    for (let i = after === null ? from : Number(after); i < to; i += batchRows) {
      this.reads++;
      const end = Math.min(i + batchRows, to);
      yield { rows: this.rows.slice(i, end), checkpoint: String(end) };
    }
  }
}

export class MemoryLedger implements Ledger {
  runs = new Map<string, RunRecord>();
  ranges = new Map<string, RangeRecord>();
  dirty: Array<DirtyRecord & { runId: string }> = [];
  attempts: Array<{ runId: string; rangeId: number; startedAt: Date; endedAt: Date | null }> = [];
  private key = (runId: string, rangeId: number) => `${runId}/${rangeId}`;

  async withPlanLock<T>(_job: string, _time: Date, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async findRun(job: string, logicalTime: Date): Promise<RunRecord | null> {
    return [...this.runs.values()].find((r) => r.job === job && r.logicalTime.getTime() === logicalTime.getTime()) ?? null;
  }
  async createRun(job: string, logicalTime: Date, runId: string): Promise<void> {
    this.runs.set(runId, { runId, job, logicalTime, status: 'planning', error: null, ranges: 0, rangesDone: 0, rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0, prepared: false, createdAt: new Date(), finishedAt: null });
  }
  async addRanges(runId: string, specs: RangeSpec[]): Promise<void> {
    specs.forEach((spec, rangeId) => this.ranges.set(this.key(runId, rangeId), { runId, rangeId, status: 'pending', spec, checkpoint: null, rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0, attempts: 0, owner: null, error: null }));
    this.run(runId).ranges = specs.length;
  }
  async setRunStatus(runId: string, status: RunStatus, error: string | null = null): Promise<void> {
    Object.assign(this.run(runId), { status, error });
  }
  async markPrepared(runId: string): Promise<void> {
    this.run(runId).prepared = true;
  }
  async startRange(runId: string, rangeId: number, owner: string) {
    const range = this.ranges.get(this.key(runId, rangeId));
    if (!range) return null;
    range.attempts++;
    range.owner = owner;
    if (range.status === 'pending') range.status = 'running';
    this.attempts.push({ runId, rangeId, startedAt: new Date(), endedAt: null });
    return { range: { ...range }, run: await this.getRun(runId) as RunRecord, attemptId: this.attempts.length - 1 };
  }
  async endAttempt(attemptId: number): Promise<void> {
    this.attempts[attemptId].endedAt = new Date();
  }
  /** The throttle's clocks, on a clock the test moves. */
  clocks: ThrottleCost = { rows: null, bytes: null };
  now = 0;
  async reserve(_runId: string, cost: ThrottleCost, rates: ThrottleCost): Promise<number> {
    const { clocks, wait } = reserveBoth(this.clocks, this.now, cost, rates);
    this.clocks = clocks;
    return wait * 1000;
  }
  async listAttempts(runId: string) {
    return this.attempts.filter((a) => a.runId === runId);
  }
  async finishRange(runId: string, rangeId: number): Promise<boolean> {
    const range = this.ranges.get(this.key(runId, rangeId)) as RangeRecord;
    if (range.status === 'done') return false;
    range.status = 'done';
    const run = this.run(runId);
    return ++run.rangesDone >= run.ranges;
  }
  async failRange(runId: string, rangeId: number, reason: string): Promise<void> {
    Object.assign(this.ranges.get(this.key(runId, rangeId)) as RangeRecord, { status: 'failed', error: reason });
    Object.assign(this.run(runId), { status: 'failed', error: `range ${rangeId}: ${reason}` });
  }
  async claimFinalize(runId: string): Promise<boolean> {
    const run = this.run(runId);
    if (run.status !== 'running' || run.rangesDone < run.ranges) return false;
    run.status = 'finalizing';
    return true;
  }
  async getRun(runId: string): Promise<RunRecord | null> {
    const run = this.runs.get(runId);
    if (!run) return null;
    const ranges = [...this.ranges.values()].filter((r) => r.runId === runId);
    const sum = (f: (r: RangeRecord) => number) => ranges.reduce((s, r) => s + f(r), 0);
    return { ...run, rowsRead: sum((r) => r.rowsRead), rowsWritten: sum((r) => r.rowsWritten), skipped: sum((r) => r.skipped), bytesWritten: sum((r) => r.bytesWritten) };
  }
  async listRuns(): Promise<RunRecord[]> {
    return Promise.all([...this.runs.keys()].map((id) => this.getRun(id) as Promise<RunRecord>));
  }
  async listRanges(runId: string): Promise<RangeRecord[]> {
    return [...this.ranges.values()].filter((r) => r.runId === runId).map((r) => ({ ...r }));
  }
  async listDirty(runId: string): Promise<DirtyRecord[]> {
    return this.dirty.filter((d) => d.runId === runId);
  }
  async *streamDirty(runId: string): AsyncIterable<DirtyRecord> {
    yield* await this.listDirty(runId);
  }
  async runIdsStartingWith(prefix: string, limit: number): Promise<string[]> {
    return [...this.runs.keys()].filter((id) => id.startsWith(prefix)).sort().slice(0, limit);
  }
  run(runId: string): RunRecord {
    return this.runs.get(runId) as RunRecord;
  }
  range(runId: string, rangeId: number): RangeRecord {
    return this.ranges.get(this.key(runId, rangeId)) as RangeRecord;
  }
}

/** Rows land in `rows`; the checkpoint moves with them, as in one transaction. `failOn` rejects rows by the database's rule. */
export class MemoryTarget implements Target {
  rows: OutRow[] = [];
  writes = 0;
  constructor(readonly ledger: MemoryLedger, readonly live: TargetColumn[], readonly dirtyLimit: number | null = null) {}
  events: string[] = [];
  async describe(): Promise<TargetColumn[]> {
    return this.live;
  }
  async prepare(runId: string): Promise<void> {
    this.events.push(`prepare ${runId}`);
  }
  async publish(runId: string): Promise<void> {
    this.events.push(`publish ${runId}`);
  }
  async write(chunk: Chunk): Promise<ChunkResult> {
    this.writes++;
    const run = this.ledger.run(chunk.runId);
    if (run.status === 'failed') return { written: 0, bytes: 0, skipped: 0, dirty: [], runFailed: { reason: run.error ?? '', byThisChunk: false } };
    const range = this.ledger.range(chunk.runId, chunk.rangeId);
    if (range.status === 'done' || range.checkpoint !== chunk.from) throw new RangeBusyError('moved on');
    this.rows.push(...chunk.rows);
    Object.assign(range, { checkpoint: chunk.to, rowsRead: range.rowsRead + chunk.rowsRead, rowsWritten: range.rowsWritten + chunk.rows.length, dirtyRecords: range.dirtyRecords + chunk.dirty.length });
    this.ledger.dirty.push(...chunk.dirty.map((d) => ({ ...d, runId: chunk.runId })));
    run.dirtyRecords += chunk.dirty.length;
    const reason = chunk.dirty.length ? dirtyLimitReason(run.dirtyRecords, this.dirtyLimit) : null;
    if (reason) Object.assign(run, { status: 'failed', error: reason });
    return { written: chunk.rows.length, bytes: 0, skipped: 0, dirty: chunk.dirty, runFailed: reason ? { reason, byThisChunk: true } : null };
  }
}
