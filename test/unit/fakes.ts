/** In-memory ports for core tests: the same rules as the MySQL adapters, in a few lines each. */
import { RangeBusyError } from '../../functions/core/errors.ts';
import { dirtyLimitReason } from '../../functions/core/policy.ts';
import { reserveBoth } from '../../functions/core/throttle.ts';
import { isEnded, isUnfinished, type RangeStatus, rangeMovesTo, runMovesTo } from '../../functions/core/lifecycle.ts';
import type {
  Admission, Batch, Checkpoint, Chunk, ChunkResult, DirtyRecord, Ledger, NewRun, OutRow, RangeRecord, RangeSpec, Row, RunChange, RunFilter, RunRecord, Source, SourceColumn, Target, TargetColumn, ThrottleCost,
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

/** The ledger as records in maps: conditional moves as the MySQL ledger makes them, the rules from lifecycle.ts. */
export class MemoryLedger implements Ledger {
  runs = new Map<string, RunRecord>();
  ranges = new Map<string, RangeRecord>();
  dirty: Array<DirtyRecord & { runId: string }> = [];
  attempts: Array<{ runId: string; rangeId: number; startedAt: Date; endedAt: Date | null }> = [];
  private key = (runId: string, rangeId: number) => `${runId}/${rangeId}`;

  async withPlanLock<T>(_job: string, _time: Date, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async createRun(run: NewRun): Promise<void> {
    const now = new Date();
    this.runs.set(run.runId, { ...run, specHash: '', status: 'pending', error: null, ranges: 0, rangesDone: 0, rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0, prepared: false, supersededBy: null, eventPublished: false, liveAttempts: 0, lastActivity: now, createdAt: now, finishedAt: null });
  }
  async updateRun(runId: string, change: RunChange): Promise<boolean> {
    const run = this.run(runId);
    if (!run || !change.from.includes(run.status) || (change.allRangesDone && run.rangesDone < run.ranges)) return false;
    if (change.idleMs !== undefined && Date.now() - run.lastActivity.getTime() < change.idleMs) return false;
    if (change.to !== undefined) Object.assign(run, { status: change.to, finishedAt: isEnded(change.to) ? new Date() : null });
    if (change.error !== undefined) run.error = change.error;
    if (change.prepared !== undefined) run.prepared = change.prepared;
    if (change.supersededBy !== undefined) run.supersededBy = change.supersededBy;
    if (change.specHash !== undefined) run.specHash = change.specHash;
    if (change.eventPublished) run.eventPublished = true;
    run.lastActivity = new Date();
    return true;
  }
  async addRanges(runId: string, specs: RangeSpec[]): Promise<void> {
    specs.forEach((spec, rangeId) => this.ranges.set(this.key(runId, rangeId), { runId, rangeId, status: 'pending', spec, checkpoint: null, rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0, attempts: 0, owner: null, error: null }));
    this.run(runId).ranges = specs.length;
  }
  async reopenRanges(runId: string, from: readonly RangeStatus[], restart: boolean): Promise<void> {
    for (const range of this.ranges.values()) {
      if (range.runId !== runId || !from.includes(range.status)) continue;
      Object.assign(range, { status: 'pending', error: null }, restart && { checkpoint: null, rowsRead: 0, rowsWritten: 0, dirtyRecords: 0, skipped: 0, bytesWritten: 0 });
    }
    const run = this.run(runId);
    run.rangesDone = [...this.ranges.values()].filter((r) => r.runId === runId && r.status === 'done').length;
    if (restart) {
      run.dirtyRecords = 0;
      this.dirty = this.dirty.filter((d) => d.runId !== runId);
    }
  }
  /** Attempt ids are indexes into `attempts`: a test ends one to play a worker that went silent. */
  async startAttempt(runId: string, rangeId: number, owner: string, maxConcurrency: number): Promise<Admission> {
    const range = this.ranges.get(this.key(runId, rangeId));
    const run = this.runs.get(runId);
    if (!range || !run) return { status: 'unknown' };
    const live = this.attempts.filter((a) => a.endedAt === null && this.runs.get(a.runId)?.job === run.job);
    // A done range or an ended run is only looked at: no slot, no attempt.
    if (range.status === 'done' || !isUnfinished(run.status)) return { status: 'started', range: { ...range }, run: (await this.getRun(runId)) as RunRecord, attemptId: null };
    if (live.some((a) => a.runId === runId && a.rangeId === rangeId) || live.length >= maxConcurrency) return { status: 'busy' };
    range.attempts++;
    range.owner = owner;
    if (range.status === 'pending') range.status = 'running';
    this.attempts.push({ runId, rangeId, startedAt: new Date(), endedAt: null });
    return { status: 'started', range: { ...range }, run: (await this.getRun(runId)) as RunRecord, attemptId: this.attempts.length - 1 };
  }
  heartbeats = 0;
  async heartbeat(): Promise<void> {
    this.heartbeats++;
  }
  async endAttempt(attemptId: number): Promise<void> {
    this.attempts[attemptId].endedAt ??= new Date();
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
    if (!rangeMovesTo('done').includes(range.status)) return false;
    range.status = 'done';
    const run = this.run(runId);
    return ++run.rangesDone >= run.ranges;
  }
  async failRange(runId: string, rangeId: number, reason: string): Promise<void> {
    const range = this.ranges.get(this.key(runId, rangeId)) as RangeRecord;
    if (rangeMovesTo('failed').includes(range.status)) Object.assign(range, { status: 'failed', error: reason });
  }
  async getRun(runId: string): Promise<RunRecord | null> {
    const run = this.runs.get(runId);
    if (!run) return null;
    const ranges = [...this.ranges.values()].filter((r) => r.runId === runId);
    const sum = (f: (r: RangeRecord) => number) => ranges.reduce((s, r) => s + f(r), 0);
    const liveAttempts = this.attempts.filter((a) => a.runId === runId && a.endedAt === null).length;
    return { ...run, liveAttempts, rowsRead: sum((r) => r.rowsRead), rowsWritten: sum((r) => r.rowsWritten), skipped: sum((r) => r.skipped), bytesWritten: sum((r) => r.bytesWritten) };
  }
  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    const runs = [...this.runs.values()]
      .filter((r) => (filter.job === undefined || r.job === filter.job) && (filter.logicalTime === undefined || r.logicalTime.getTime() === filter.logicalTime.getTime()))
      .filter((r) => (!filter.unfinished || isUnfinished(r.status)) && (!filter.unannounced || (isEnded(r.status) && !r.eventPublished)))
      .reverse()
      .slice(0, filter.limit);
    return Promise.all(runs.map((r) => this.getRun(r.runId) as Promise<RunRecord>));
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
  async discard(runId: string): Promise<void> {
    this.events.push(`discard ${runId}`);
  }
  keyed = true;
  async uniqueKeys(): Promise<string[][]> {
    return this.keyed ? [[this.live[0].name]] : [];
  }
  async write(chunk: Chunk): Promise<ChunkResult> {
    this.writes++;
    const run = this.ledger.run(chunk.runId);
    if (isEnded(run.status)) return { written: 0, bytes: 0, skipped: 0, dirty: [], runFailed: { reason: run.error ?? '', byThisChunk: false } };
    const range = this.ledger.range(chunk.runId, chunk.rangeId);
    if (range.status === 'done' || range.checkpoint !== chunk.from) throw new RangeBusyError('moved on');
    this.rows.push(...chunk.rows);
    Object.assign(range, { checkpoint: chunk.to, rowsRead: range.rowsRead + chunk.rowsRead, rowsWritten: range.rowsWritten + chunk.rows.length, dirtyRecords: range.dirtyRecords + chunk.dirty.length });
    this.ledger.dirty.push(...chunk.dirty.map((d) => ({ ...d, runId: chunk.runId })));
    run.dirtyRecords += chunk.dirty.length;
    const reason = chunk.dirty.length ? dirtyLimitReason(run.dirtyRecords, this.dirtyLimit) : null;
    if (reason && runMovesTo('failed').includes(run.status)) Object.assign(run, { status: 'failed', error: reason, finishedAt: new Date() });
    return { written: chunk.rows.length, bytes: 0, skipped: 0, dirty: chunk.dirty, runFailed: reason ? { reason, byThisChunk: true } : null };
  }
}
