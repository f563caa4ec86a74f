import { StringDecoder } from 'node:string_decoder';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { AuthError, BatchsyncError, ConnectionError, JobError, RetryableError, StatementError, UnreachableError } from '../../core/errors.ts';
import type { SqlSource } from '../../core/job-spec.ts';
import type { Batch, Checkpoint, RangeSpec, Row, Source, SourceColumn, Value } from '../../core/ports.ts';
import type { DbConfig } from '../connections.ts';
import { parseCopyLine } from './copy-text.ts';

/**
 * The PostgreSQL source. Ranges cut an integer key into intervals (from its
 * MIN and MAX, no COUNT), or, without such a key, the table's blocks into
 * ctid ranges. A range is read with one COPY ... TO STDOUT ordered by the
 * key (or ctid), so a checkpoint is simply the last key written.
 */

interface PgColumn extends SourceColumn {
  typname: string;
  notNull: boolean;
}

/** How a range selects and orders its rows; stored in the ledger as its bounds. */
type Bounds =
  | { by: 'key'; key: string; from: string | null; to: string | null }
  | { by: 'ctid'; fromBlock: number | null; toBlock: number | null }
  | { by: 'null-key'; key: string };

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8']);

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function qualified(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

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
  if (['40P01', '40001', '57P01', '57P02', '57P03', '53300', 'ECONNRESET', 'EPIPE'].includes(code) || code.startsWith('08')) {
    return new RetryableError(`${doing} on ${server}: ${message}`, { cause: error });
  }
  return new StatementError(`${doing} on ${server}: ${message}`, { cause: error });
}

export function createPgPool(config: DbConfig, max: number): pg.Pool {
  const pool = new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    ssl: config.ssl ? { rejectUnauthorized: false } : undefined,
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

  constructor(
    private readonly pool: pg.Pool,
    private readonly spec: SqlSource,
    private readonly server: string,
  ) {}

  async columns(): Promise<SourceColumn[]> {
    return (await this.selected()).map(({ name, type }) => ({ name, type }));
  }

  async plan(ranges: number): Promise<RangeSpec[]> {
    const key = await this.splitKey();
    if (!key) return this.planBlocks(ranges);
    const [bounds] = await this.query<{ lo: string | null; hi: string | null }>(
      `SELECT min(${quoteIdent(key.name)})::text AS lo, max(${quoteIdent(key.name)})::text AS hi FROM ${qualified(this.spec.table)}${this.whereSql()}`,
      'finding the split key bounds',
    );
    const out: RangeSpec[] = [];
    if (bounds.lo === null || bounds.hi === null) {
      out.push(this.range({ by: 'key', key: key.name, from: null, to: null }));
    } else {
      const lo = BigInt(bounds.lo);
      const span = BigInt(bounds.hi) - lo + 1n;
      const count = BigInt(Math.max(1, ranges)) < span ? BigInt(Math.max(1, ranges)) : span;
      const width = (span + count - 1n) / count;
      // The first range has no lower bound and the last no upper one: rows added since planning are read too.
      for (let i = 0n; i < count; i++) {
        const from = i === 0n ? null : String(lo + i * width);
        const to = i === count - 1n ? null : String(lo + (i + 1n) * width);
        out.push(this.range({ by: 'key', key: key.name, from, to }));
      }
    }
    if (!key.notNull) out.push(this.range({ by: 'null-key', key: key.name }));
    return out;
  }

  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    const bounds = range.bounds as Bounds;
    const columns = await this.selected();
    // Qualified, so it names the table's column even when the select list repeats the key.
    const orderBy = `${qualified(this.spec.table)}.${bounds.by === 'key' ? quoteIdent(bounds.key) : 'ctid'}`;
    const select = [...columns.map((c) => quoteIdent(c.name)), orderBy].join(', ');
    const conditions = this.conditions(bounds, after);
    const sql = `COPY (SELECT ${select} FROM ${qualified(this.spec.table)} WHERE ${conditions.join(' AND ')} ORDER BY ${orderBy}) TO STDOUT`;
    const normalizers = columns.map((c) => normalizer(c.typname));
    const width = columns.length;

    const client = await this.pool.connect().catch((error) => {
      throw pgError(error, this.server, 'connecting');
    });
    let finished = false;
    try {
      const stream = client.query(copyTo(sql));
      const decoder = new StringDecoder('utf8');
      let rest = '';
      let rows: Row[] = [];
      let lastKey: string | null = null;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const text = rest + decoder.write(chunk);
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          const fields = parseCopyLine(text.slice(start, nl)) as Value[];
          start = nl + 1;
          const key = fields.pop() as string;
          // A batch closes only where the key changes, so a checkpoint never splits equal keys.
          if (rows.length >= batchRows && key !== lastKey) {
            yield { rows, checkpoint: lastKey as string };
            rows = [];
          }
          for (let i = 0; i < width; i++) {
            const normalize = normalizers[i];
            if (normalize && fields[i] !== null) fields[i] = normalize(fields[i] as string);
          }
          rows.push(fields);
          lastKey = key;
        }
        rest = text.slice(start);
      }
      if (rows.length) yield { rows, checkpoint: lastKey as string };
      finished = true;
    } catch (error) {
      throw pgError(error, this.server, `reading ${this.spec.table}`);
    } finally {
      // A COPY left half-read (an error, or the consumer stopped early) makes the connection unusable.
      client.release(finished ? undefined : true);
    }
  }

  async close(): Promise<void> {}

  private range(bounds: Bounds): RangeSpec {
    return { description: describeBounds(bounds), bounds };
  }

  private whereSql(): string {
    return this.spec.where ? ` WHERE (${this.spec.where})` : '';
  }

  private conditions(bounds: Bounds, after: Checkpoint | null): string[] {
    const out = this.spec.where ? [`(${this.spec.where})`] : [];
    const lit = (v: string) => pg.Client.prototype.escapeLiteral(v);
    if (bounds.by === 'key') {
      const k = quoteIdent(bounds.key);
      if (bounds.from !== null) out.push(`${k} >= ${lit(bounds.from)}`);
      if (bounds.to !== null) out.push(`${k} < ${lit(bounds.to)}`);
      if (after !== null) out.push(`${k} > ${lit(after)}`);
    } else {
      if (bounds.by === 'null-key') out.push(`${quoteIdent(bounds.key)} IS NULL`);
      else {
        if (bounds.fromBlock !== null) out.push(`ctid >= '(${bounds.fromBlock},0)'::tid`);
        if (bounds.toBlock !== null) out.push(`ctid < '(${bounds.toBlock},0)'::tid`);
      }
      if (after !== null) out.push(`ctid > ${lit(after)}::tid`);
    }
    return out.length ? out : ['TRUE'];
  }

  private async planBlocks(ranges: number): Promise<RangeSpec[]> {
    const [{ blocks }] = await this.query<{ blocks: string }>(
      `SELECT (pg_relation_size('${qualified(this.spec.table).replaceAll("'", "''")}'::regclass) / current_setting('block_size')::int)::text AS blocks`,
      'sizing the table',
    );
    const total = Number(blocks);
    const count = Math.max(1, Math.min(ranges, total));
    const width = Math.ceil(total / count);
    const out: RangeSpec[] = [];
    for (let i = 0; i < count; i++) {
      out.push(this.range({ by: 'ctid', fromBlock: i === 0 ? null : i * width, toBlock: i === count - 1 ? null : (i + 1) * width }));
    }
    return out;
  }

  /** The job's split key, or the single-column integer primary key; null means split by blocks. */
  private async splitKey(): Promise<PgColumn | null> {
    const all = await this.allColumns();
    const wanted = this.spec.splitKey === undefined ? undefined : Array.isArray(this.spec.splitKey) ? this.spec.splitKey[0] : this.spec.splitKey;
    if (wanted !== undefined) {
      const column = all.find((c) => c.name === wanted);
      if (!column) throw new JobError(`source.splitKey: column "${wanted}" does not exist in ${this.spec.table}`);
      if (!INTEGER_TYPES.has(column.typname)) throw new JobError(`source.splitKey: column "${wanted}" is ${column.type}; only integer keys are supported yet`);
      return column;
    }
    const pk = await this.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary`,
      'finding the primary key',
      [qualified(this.spec.table)],
    );
    const column = pk.length === 1 ? all.find((c) => c.name === pk[0].name) : undefined;
    return column && INTEGER_TYPES.has(column.typname) ? column : null;
  }

  private async allColumns(): Promise<PgColumn[]> {
    this.cached ??= (
      await this.query<{ name: string; type: string; typname: string; notnull: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname, a.attnotnull AS notnull
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        'reading the source schema',
        [qualified(this.spec.table)],
      ).catch((error) => {
        if (error instanceof JobError && /does not exist/.test(error.message)) {
          throw new JobError(`source.table: table ${this.spec.table} does not exist on ${this.server}`);
        }
        throw error;
      })
    ).map((r) => ({ name: r.name, type: r.type, typname: r.typname, notNull: r.notnull }));
    return this.cached;
  }

  private async selected(): Promise<PgColumn[]> {
    const all = await this.allColumns();
    if (!this.spec.columns) return all;
    return this.spec.columns.map((name, i) => {
      const column = all.find((c) => c.name === name) ?? all.find((c) => c.name.toLowerCase() === name.toLowerCase());
      if (!column) throw new JobError(`source.columns[${i}]: column "${name}" does not exist in ${this.spec.table} (it has ${all.map((c) => c.name).join(', ')})`);
      return column;
    });
  }

  private async query<T>(sql: string, doing: string, values: unknown[] = []): Promise<T[]> {
    try {
      const result = await this.pool.query(sql, values);
      return result.rows as T[];
    } catch (error) {
      throw pgError(error, this.server, doing);
    }
  }
}

function describeBounds(b: Bounds): string {
  if (b.by === 'null-key') return `${b.key} IS NULL`;
  const parts: string[] = [];
  const name = b.by === 'key' ? b.key : 'block';
  const from = b.by === 'key' ? b.from : b.fromBlock;
  const to = b.by === 'key' ? b.to : b.toBlock;
  if (from !== null) parts.push(`${name} >= ${from}`);
  if (to !== null) parts.push(`${name} < ${to}`);
  return parts.length ? parts.join(' AND ') : b.by === 'key' ? 'all rows' : 'all blocks';
}
