import { StringDecoder } from 'node:string_decoder';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { AuthError, BatchsyncError, ConnectionError, JobError, RetryableError, StatementError, UnreachableError } from '../../core/errors.ts';
import { type SqlSource, sourceLabel } from '../../core/job-spec.ts';
import type { Batch, Checkpoint, RangeSpec, Row, Source, SourceColumn, SourceSchema, TextBatch, Value } from '../../core/ports.ts';
import { missingColumn, selectColumns } from '../../core/mapping.ts';
import { didYouMean } from '../../core/suggest.ts';
import { cutPoints } from '../../core/split.ts';
import { type DbConfig, driverOptions } from '../connections.ts';
import { parseTextLine } from '../../core/text-rows.ts';
import { withoutCopyOnlyEscapes } from './copy-text.ts';
import {
  type Bounds, COLUMNS, copySql, PRIMARY_KEY, probeSql, quoteIdent, rangeConditions, relation, type Relation, RESULT_TYPES, rowsCopySql, sampleSql, selectItem, TABLE_BLOCKS,
  TABLE_NAMES,
} from './sql.ts';

/**
 * The PostgreSQL source. Ranges cut the split key (the primary key by
 * default; integer, text, date, uuid... and composite keys) at quantiles of a
 * block sample, so a skewed key still gives ranges of about equal rows; a
 * table without such a key is cut into ctid block ranges. A range is read
 * with one COPY ... TO STDOUT ordered by the key (or ctid), so a checkpoint
 * is simply the last key (or ctid) written.
 */

interface PgColumn extends SourceColumn {
  typname: string;
  /** pg_type.typcategory: N numeric, S string, D date/time, A array... */
  category: string;
  notNull: boolean;
}

/** Types whose order is a useful split: numbers, strings, dates and times, enums, bit strings, and these. */
const KEY_CATEGORIES = new Set(['N', 'S', 'D', 'E', 'V']);
const KEY_TYPES = new Set(['uuid', 'bytea']);
const isKeyType = (c: PgColumn) => KEY_CATEGORIES.has(c.category) || KEY_TYPES.has(c.typname);

const NEWLINE = 10;
/** A range holds at least this many of the table's blocks (4 MB at the default 8 kB): each range costs a COPY, an attempt and its ledger writes. */
const MIN_RANGE_BLOCKS = 512;

/** Blocks a sample reads per range it cuts (and at most): enough that a range's share is known within a few percent, whatever the table's size. */
const SAMPLE_BLOCKS_PER_RANGE = 250;
const SAMPLE_BLOCKS = 4000;
/** Keys the sample returns to the planner per range (every n-th of the sampled rows, in key order): each cut lands within 1/200 of a range. */
const SAMPLE_KEYS_PER_RANGE = 200;
const SAMPLE_KEYS = 20_000;
/** A sample of fewer matching rows is retried ten times larger (a selective `where`). */
const MIN_SAMPLE_ROWS = 5000;

/** A pg or network error as one of ours, naming the server. */
export function pgError(error: unknown, server: string, doing: string): BatchsyncError {
  if (error instanceof BatchsyncError) return error;
  const e = error as { code?: string; message?: string };
  const code = e.code ?? '';
  const message = e.message ?? String(error);
  if (code === '28P01' || code === '28000') return new AuthError(`cannot log in to ${server}: ${message}`, { cause: error });
  if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code) || /timeout expired/i.test(message)) {
    return new UnreachableError(`cannot reach ${server} (${code || message})`, { cause: error });
  }
  if (code === '3D000') return new ConnectionError(`${server}: ${message}`, { cause: error });
  if (code.startsWith('42') || code === '22P02') return new JobError(`${doing} on ${server}: ${message}`, { cause: error });
  // 40001 also covers a standby cancelling a query that conflicts with recovery: the range resumes after its checkpoint.
  if (['40P01', '40001', '57P01', '57P02', '57P03', '53300', 'ECONNRESET', 'EPIPE'].includes(code) || code.startsWith('08')) {
    return new RetryableError(`${doing} on ${server}: ${message}`, { cause: error });
  }
  return new StatementError(`${doing} on ${server}: ${message}`, { cause: error });
}

/** A pool for one server; every session in UTC with ISO dates, so text values are unambiguous. */
export function createPgPool(config: DbConfig, max: number): pg.Pool {
  const pool = new pg.Pool({
    ...driverOptions(config),
    max,
    connectionTimeoutMillis: 10_000,
    options: '-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=1',
  });
  pool.on('error', () => {}); // an idle client's error surfaces at its next use
  return pool;
}

function normalizer(typname: string): ((text: string) => Value) | null {
  if (typname === 'bool') return (t) => t === 't';
  if (typname === 'bytea') return (t) => Buffer.from(t.slice(2), 'hex');
  return null;
}

export class PostgresSource implements Source {
  private cached: PgColumn[] | null = null;
  private readonly rel: Relation;
  /** The table, or "source.query", for messages. */
  private readonly label: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly spec: SqlSource,
    private readonly server: string,
  ) {
    this.rel = relation(spec);
    this.label = sourceLabel(spec);
  }

  /** The query, then the `where` on it, run reading no row: each mistake names its key. */
  async checkRead(): Promise<void> {
    // A statement that fails here fails for the job's text (a syntax error, say): the job is wrong, not the server.
    const run = (sql: string, doing: string) =>
      this.query(sql, doing).catch((error: unknown) => {
        throw error instanceof StatementError ? new JobError(error.message, { cause: error }) : error;
      });
    if (this.spec.query !== undefined) await run(probeSql(this.rel, undefined), 'source.query: running the query');
    if (this.spec.where !== undefined) await run(probeSql(this.rel, this.spec.where), 'source.where: running the condition');
  }

  async schema(): Promise<SourceSchema> {
    const columns = (await this.selected()).map((c) => ({ name: c.name, type: c.type, nullable: !c.notNull }));
    const key = (await this.splitKey())?.map((c) => c.name) ?? [];
    return { dialect: 'postgres', columns, key: key.every((k) => columns.some((c) => c.name === k)) ? key : [] };
  }

  async columns(): Promise<SourceColumn[]> {
    return (await this.selected()).map(({ name, type }) => ({ name, type }));
  }

  async plan(ranges: number): Promise<RangeSpec[]> {
    const key = await this.splitKey();
    // A query without a split key is one range, read in the order of its rows.
    if (!key && this.rel.query) return [this.range({ by: 'rows' })];
    if (!key) return this.planBlocks(ranges);
    const names = key.map((c) => c.name);
    const nullable = key.filter((c) => !c.notNull).map((c) => c.name);
    // A small table is a few ranges, not `ranges`.
    const count = this.rel.query ? ranges : Math.max(1, Math.min(ranges, Math.floor((await this.blocks()) / MIN_RANGE_BLOCKS)));
    const cuts = count === 1 ? [] : (cutPoints((await this.sample(names, count)).map((k) => ({ key: k, weight: 1 })), count) as string[][]);
    const out: RangeSpec[] = [];
    // The first range has no lower bound and the last no upper one: rows added since planning are read too.
    for (let i = 0; i <= cuts.length; i++) {
      out.push(this.range({ by: 'key', key: names, from: i === 0 ? null : cuts[i - 1], to: i === cuts.length ? null : cuts[i], ...(nullable.length && { nullable }) }));
    }
    if (nullable.length) out.push(this.range({ by: 'null-key', key: names }));
    return out;
  }

  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    const copy = await this.copyOf(range, after);
    const normalizers = copy.columns.map((c) => normalizer(c.typname));
    const width = copy.columns.length;
    let count = copy.offset;
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let rows: Row[] = [];
    let lastKey: (string | null)[] = [];
    for await (const chunk of this.copy(copy.sql)) {
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const fields = parseTextLine(text.slice(start, nl)) as Value[];
        start = nl + 1;
        const key = copy.keyAt.map((at) => fields[at] as string | null);
        fields.length = width;
        // A batch closes only where the key changes, so a checkpoint never splits equal keys.
        if (rows.length >= batchRows && (copy.byRows || !sameTexts(key, lastKey))) {
          yield { rows, checkpoint: copy.checkpoint(lastKey, count) };
          rows = [];
        }
        for (let i = 0; i < width; i++) {
          const normalize = normalizers[i];
          if (normalize && fields[i] !== null) fields[i] = normalize(fields[i] as string);
        }
        rows.push(fields);
        count++;
        lastKey = key;
      }
      rest = text.slice(start);
    }
    if (rows.length) yield { rows, checkpoint: copy.checkpoint(lastKey, count) };
  }

  /**
   * The range as COPY wrote it, cut at line ends into batches of `size`:
   * each line the columns, then the key columns not among them. As in read,
   * a batch closes only where the key changes, so a full batch takes the
   * lines after it that share its last key.
   */
  async *readText(range: RangeSpec, after: Checkpoint | null, size: { rows: number; bytes: number }): AsyncGenerator<TextBatch> {
    const copy = await this.copyOf(range, after);
    const { fields } = copy;
    const pending = new ByteQueue();
    const keyOf = (start: number, end: number) => {
      const line = parseTextLine(pending.bytes.toString('utf8', start, end));
      return copy.keyAt.map((at) => line[at]);
    };
    let count = copy.offset;
    let rows = 0;
    let full = false;
    let lastKey: (string | null)[] = [];
    // The start of the next line, where the search for its end resumes, and the start of the last whole line.
    let start = 0;
    let scan = 0;
    let lastStart = 0;
    const batch = (end: number): TextBatch => {
      count += rows;
      return { text: withoutCopyOnlyEscapes(Buffer.from(pending.bytes.subarray(0, end))), rows, fields, checkpoint: copy.checkpoint(lastKey, count) };
    };
    for await (const chunk of this.copy(copy.sql)) {
      pending.push(chunk);
      let bytes = pending.bytes;
      for (let nl = bytes.indexOf(NEWLINE, scan); nl >= 0; nl = bytes.indexOf(NEWLINE, scan)) {
        scan = nl + 1;
        if (full) {
          const key = keyOf(start, nl);
          if (copy.byRows || !sameTexts(key, lastKey)) {
            yield batch(start);
            pending.drop(start);
            bytes = pending.bytes;
            nl -= start;
            scan -= start;
            start = 0;
            rows = 0;
            full = false;
          } else lastKey = key;
        }
        rows++;
        if (!full && (rows >= size.rows || scan >= size.bytes)) {
          full = true;
          lastKey = keyOf(start, nl);
        }
        lastStart = start;
        start = scan;
      }
    }
    if (rows === 0) return;
    if (!full) lastKey = keyOf(lastStart, start - 1);
    yield batch(start);
  }

  /**
   * The COPY of a range after `after`: its SQL (the columns, then the key
   * columns it is ordered by that are not among them), where each key
   * column's field is in a line, and how a batch's checkpoint is made from
   * its last key (a ctid is the ctid itself, a key its texts as JSON) or,
   * for rows without a key, from the count of rows read.
   */
  private async copyOf(range: RangeSpec, after: Checkpoint | null) {
    const bounds = range.bounds as Bounds;
    const columns = await this.selected();
    // A query has no ctid: its NULL-key rows, like a query without a key, are read in row order, the checkpoint a count.
    const byRows = bounds.by === 'rows' || (bounds.by === 'null-key' && this.rel.query !== undefined);
    const order = byRows ? [] : bounds.by === 'ctid' || bounds.by === 'null-key' ? ['ctid'] : bounds.key;
    const items = columns.map((c) => selectItem(c.name, c.category));
    // A key column the job reads as is (not as JSON) is taken from its own field, not sent twice.
    const own = order.map((k) => columns.findIndex((c, i) => c.name === k && items[i] === quoteIdent(k)));
    const appended = order.filter((_, i) => own[i] < 0);
    const keyAt = order.map((k, i) => (own[i] >= 0 ? own[i] : columns.length + appended.indexOf(k)));
    const offset = after === null || !byRows ? 0 : Number(after);
    const sql = byRows
      ? rowsCopySql(this.rel, items, rangeConditions(this.spec.where, bounds, null), offset)
      : copySql(this.rel, items, order, appended, rangeConditions(this.spec.where, bounds, after));
    const checkpoint = byRows
      ? (_key: (string | null)[], count: number) => String(count)
      : order.length === 1 && order[0] === 'ctid'
        ? (key: (string | null)[]) => key[0] as string
        : (key: (string | null)[]) => JSON.stringify(key);
    return { columns, sql, byRows, keyAt, fields: columns.length + appended.length, offset, checkpoint };
  }

  /** The bytes COPY ... TO STDOUT writes, as they arrive. */
  private async *copy(sql: string): AsyncGenerator<Buffer> {
    const client = await this.pool.connect().catch((error) => {
      throw pgError(error, this.server, 'connecting');
    });
    let finished = false;
    try {
      yield* client.query(copyTo(sql)) as AsyncIterable<Buffer>;
      finished = true;
    } catch (error) {
      throw pgError(error, this.server, `reading ${this.label}`);
    } finally {
      // A COPY left half-read (an error, or the consumer stopped early) makes the connection unusable.
      client.release(finished ? undefined : true);
    }
  }

  private range(bounds: Bounds): RangeSpec {
    // The description is the range's resolved SQL condition: what `batchsync plan` shows a person.
    return { description: rangeConditions(this.spec.where, bounds, null).join(' AND '), bounds };
  }

  /**
   * Keys of a block sample for `ranges` ranges, thinned to about
   * SAMPLE_KEYS_PER_RANGE a range (SAMPLE_KEYS at most) in key order. The
   * sample reads about SAMPLE_BLOCKS_PER_RANGE random blocks a range
   * (SAMPLE_BLOCKS at most) however large the table; when the job's `where`
   * leaves too few of their rows, it grows tenfold.
   */
  private async sample(key: string[], ranges: number): Promise<string[][]> {
    const blocks = this.rel.query ? 0 : await this.blocks();
    const wanted = Math.min(SAMPLE_BLOCKS, SAMPLE_BLOCKS_PER_RANGE * ranges);
    let percent = blocks <= wanted ? 100 : Math.max(0.0001, (100 * wanted) / blocks);
    for (;;) {
      // Each row: the key's texts, then the sample's size.
      const rows = await this.query<string[]>(sampleSql(this.rel, key, this.spec.where, percent, Math.min(SAMPLE_KEYS, SAMPLE_KEYS_PER_RANGE * ranges)), 'sampling the split key', [], 'array');
      const sampled = rows.length ? Number(rows[0][key.length]) : 0;
      if (sampled >= MIN_SAMPLE_ROWS || percent >= 100) return rows.map((r) => r.slice(0, key.length));
      percent = Math.min(100, percent * 10);
    }
  }

  private async blocks(): Promise<number> {
    const [{ blocks }] = await this.query<{ blocks: string }>(TABLE_BLOCKS, 'sizing the table', [this.rel.from]);
    return Number(blocks);
  }

  /** Block ranges of about equal size: for a table without a key to split on. */
  private async planBlocks(ranges: number): Promise<RangeSpec[]> {
    const total = await this.blocks();
    const count = Math.max(1, Math.min(ranges, Math.floor(total / MIN_RANGE_BLOCKS)));
    const width = Math.ceil(total / count);
    const out: RangeSpec[] = [];
    for (let i = 0; i < count; i++) {
      out.push(this.range({ by: 'ctid', fromBlock: i === 0 ? null : i * width, toBlock: i === count - 1 ? null : (i + 1) * width }));
    }
    return out;
  }

  /** The job's split key, or the primary key when its types order usefully; null means split by blocks. */
  private async splitKey(): Promise<PgColumn[] | null> {
    const all = await this.allColumns();
    if (this.spec.splitKey !== undefined) {
      const wanted = Array.isArray(this.spec.splitKey) ? this.spec.splitKey : [this.spec.splitKey];
      return wanted.map((name) => {
        const column = all.find((c) => c.name === name);
        if (!column) throw missingColumn('source.splitKey', name, this.label, all.map((c) => c.name));
        if (!isKeyType(column)) throw new JobError(`source.splitKey: column "${name}" is ${column.type}, which cannot be split into ranges (use a number, text, date/time or uuid column)`);
        return column;
      });
    }
    if (this.rel.query) return null;
    const pk = await this.query<{ name: string }>(PRIMARY_KEY, 'finding the primary key', [this.rel.from]);
    const key = pk.map((p) => all.find((c) => c.name === p.name) as PgColumn);
    return key.length > 0 && key.every(isKeyType) ? key : null;
  }

  private async allColumns(): Promise<PgColumn[]> {
    if (this.rel.query) {
      this.cached ??= await this.queryColumns();
      return this.cached;
    }
    this.cached ??= (
      await this.query<{ name: string; type: string; typname: string; category: string; notnull: boolean }>(COLUMNS, 'reading the source schema', [this.rel.from]).catch(
        async (error) => {
          if (error instanceof JobError && /does not exist/.test(error.message)) {
            throw new JobError(`source.table: table ${this.spec.table} does not exist on ${this.server}${await this.similarTable()}`);
          }
          throw error;
        },
      )
    ).map((r) => ({ name: r.name, type: r.type, typname: r.typname, category: r.category, notNull: r.notnull }));
    return this.cached;
  }

  /** "; did you mean X?" for a table name that does not exist: the same name in another case, or a near one. */
  private async similarTable(): Promise<string> {
    const table = this.spec.table as string;
    const rows = await this.query<{ schema: string; name: string }>(TABLE_NAMES, 'listing tables').catch(() => []);
    // Names as the job would write them: bare for the search path's public schema, else schema.table; quoted when not lower case.
    const shown = (r: { schema: string; name: string }) => {
      const part = (n: string) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : quoteLike(n));
      return table.includes('.') || r.schema !== 'public' ? `${part(r.schema)}.${part(r.name)}` : part(r.name);
    };
    const plain = (r: { schema: string; name: string }) => (table.includes('.') || r.schema !== 'public' ? `${r.schema}.${r.name}` : r.name);
    const byPlain = new Map(rows.map((r) => [plain(r), shown(r)]));
    const hint = didYouMean(table.replaceAll('"', ''), byPlain.keys());
    const hit = /did you mean (.*)\?$/.exec(hint)?.[1];
    return hit === undefined ? '' : `; did you mean ${byPlain.get(hit)}?`;
  }

  /** A query's result columns and their types, from running it for no rows. */
  private async queryColumns(): Promise<PgColumn[]> {
    let fields: Array<{ name: string; dataTypeID: number; dataTypeModifier: number }>;
    try {
      fields = (await this.pool.query(`SELECT * FROM ${this.rel.from} LIMIT 0`)).fields;
    } catch (error) {
      throw pgError(error, this.server, 'source.query: running the query');
    }
    const types = await this.query<{ type: string; typname: string; category: string }>(RESULT_TYPES, 'reading the query types', [
      fields.map((f) => f.dataTypeID),
      fields.map((f) => f.dataTypeModifier),
    ]);
    return fields.map((f, i) => ({ name: f.name, type: types[i].type, typname: types[i].typname, category: types[i].category, notNull: false }));
  }

  private async selected(): Promise<PgColumn[]> {
    return selectColumns(await this.allColumns(), this.spec.columns, this.label);
  }


  private async query<T>(sql: string, doing: string, values: unknown[] = [], rowMode?: 'array'): Promise<T[]> {
    try {
      const result = rowMode ? await this.pool.query({ text: sql, values, rowMode }) : await this.pool.query(sql, values);
      return result.rows as T[];
    } catch (error) {
      throw pgError(error, this.server, doing);
    }
  }
}

/** A PostgreSQL identifier as the job file would quote it. */
function quoteLike(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sameTexts(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return a.length === b.length;
}

/** Bytes as they stream in, kept in one buffer that grows by doubling; `drop` removes a prefix. */
class ByteQueue {
  private buffer = Buffer.alloc(1 << 16);
  private length = 0;

  /** The bytes held (a view: valid until the next push or drop). */
  get bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  push(chunk: Buffer): void {
    if (this.length + chunk.length > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + chunk.length));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.length += chunk.copy(this.buffer, this.length);
  }

  drop(bytes: number): void {
    this.buffer.copy(this.buffer, 0, bytes, this.length);
    this.length -= bytes;
  }
}
