import type { Connection as CoreConnection, TypeCast } from 'mysql2';
import type mysql from 'mysql2/promise';
import { JobError, StatementError } from '../../core/errors.ts';
import { missingColumn, selectColumns } from '../../core/mapping.ts';
import { type SqlSource, sourceLabel } from '../../core/job-spec.ts';
import type { Batch, Checkpoint, RangeSpec, Row, Source, SourceColumn, SourceSchema, Value } from '../../core/ports.ts';
import { didYouMean } from '../../core/suggest.ts';
import {
  cutPoints, estimatedPoints, type IntervalProbe, type Key, type KeyPoint, type KeyValue, middleBytes, middleInteger, middleString, sameKey,
} from '../../core/split.ts';
import { mysqlError } from './connect.ts';
import {
  allOf, bindKey, type Bounds, edgeKeySql, encodeKey, estimateSql, INDEXES, type JsonKey, keyCompare, type KeyKind, probeSql, rangeConditions, readSql,
  rowsReadSql, sampleKeysSql, selectivitySql, shown, SOURCE_COLUMNS, type Sql, TABLE_NAMES, TABLE_ROWS,
} from './source-sql.ts';
import { quoteId, type TableName, tableName } from './sql.ts';

/**
 * The MySQL source (also MariaDB). Ranges cut the split key (the primary
 * key by default; integer, string, date/time, decimal and binary columns,
 * composite keys too) where the optimizer's own index estimates say the rows
 * are spread evenly: key intervals are halved, each estimated with EXPLAIN
 * (two B-tree dives, no scan), until each holds a small share of the table.
 * Planning costs a few hundred index dives, whatever the table's size. A
 * range is streamed with one query ordered by the key, so a checkpoint is
 * the last key written.
 */

interface MyColumn extends SourceColumn {
  dataType: string;
  nullable: boolean;
}

// FLOAT and DOUBLE are left out: their text does not compare equal to the stored value, so a checkpoint could repeat a row.
const KEY_KINDS: Record<string, KeyKind> = {
  tinyint: 'integer', smallint: 'integer', mediumint: 'integer', int: 'integer', bigint: 'integer', year: 'integer',
  decimal: 'decimal',
  char: 'string', varchar: 'string',
  date: 'temporal', datetime: 'temporal', timestamp: 'temporal',
  binary: 'bytes', varbinary: 'bytes',
};

interface SplitKey {
  columns: MyColumn[];
  kinds: KeyKind[];
  /** The index whose leading columns are the key: estimates and range reads go through it. */
  index: string;
  primaryKey: MyColumn[];
}

/** The kind of a primary key column (any type orders the NULL-key rows; only the binding matters here). */
const kindOf = (c: MyColumn): KeyKind => KEY_KINDS[c.dataType] ?? 'string';

/** Intervals per range the estimates aim for: their errors average out over the intervals of a range. */
const POINTS_PER_RANGE = 8;
const MAX_POINTS = 2048;
/** Seconds the server waits for a paused reader: longer than any write or throttle pause between batches. */
const NET_WRITE_TIMEOUT = 3600;
/** Rows read at the start of each interval to weigh it by the job's `where`. */
const SELECTIVITY_ROWS = 200;
/** Keys of a query's rows the planner cuts on (a query has no index to estimate with). */
const QUERY_SAMPLE_KEYS = 20_000;

export class MysqlSource implements Source {
  private readonly table: TableName;
  private cached: MyColumn[] | null = null;
  /** Reading a query (as a subquery, `table.sql`) instead of a table. */
  private readonly isQuery: boolean;
  /** The table, or "source.query", for messages. */
  private readonly label: string;

  /**
   * `pool` is where every read goes: the replica when the job names one.
   * `database` is that connection's default database.
   */
  constructor(
    private readonly pool: mysql.Pool,
    private readonly spec: SqlSource,
    database: string,
    private readonly server: string,
  ) {
    this.isQuery = spec.query !== undefined;
    this.table = this.isQuery ? { database, table: '', sql: `(${spec.query}) AS batchsync_q` } : tableName(spec.table as string, database);
    this.label = sourceLabel(spec);
  }

  /** The query, then the `where` on it, run reading no row: each mistake names its key. */
  async checkRead(): Promise<void> {
    // A statement that fails here fails for the job's text (a syntax error, say): the job is wrong, not the server.
    const run = (sql: string, doing: string) =>
      this.query(sql, doing).catch((error: unknown) => {
        throw error instanceof StatementError ? new JobError(error.message, { cause: error }) : error;
      });
    if (this.isQuery) await run(probeSql(this.table.sql, undefined), 'source.query: running the query');
    if (this.spec.where !== undefined) await run(probeSql(this.table.sql, this.spec.where), 'source.where: running the condition');
  }

  async schema(): Promise<SourceSchema> {
    const columns = (await this.selected()).map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }));
    let key: string[] = [];
    if (this.spec.splitKey !== undefined) key = Array.isArray(this.spec.splitKey) ? this.spec.splitKey : [this.spec.splitKey];
    else if (!this.isQuery) key = (await this.indexes()).get('PRIMARY')?.columns ?? [];
    return { dialect: 'mysql', columns, key: key.every((k) => columns.some((c) => c.name.toLowerCase() === k.toLowerCase())) ? key : [] };
  }

  async columns(): Promise<SourceColumn[]> {
    return (await this.selected()).map(({ name, type }) => ({ name, type }));
  }

  async plan(ranges: number): Promise<RangeSpec[]> {
    if (this.isQuery) return this.planQuery(ranges);
    const key = await this.splitKey();
    const names = key.columns.map((c) => c.name);
    const nullable = key.columns.filter((c) => c.nullable).map((c) => c.name);
    const cuts = cutPoints(await this.points(key, ranges), ranges);
    const out: RangeSpec[] = [];
    // The first range has no lower bound and the last no upper one: rows added since planning are read too.
    for (let i = 0; i <= cuts.length; i++) {
      const from = i === 0 ? null : encodeKey(cuts[i - 1]);
      out.push(this.range({ by: 'key', key: names, kinds: key.kinds, from, to: i === cuts.length ? null : encodeKey(cuts[i]), ...(nullable.length && { nullable }) }));
    }
    if (nullable.length) {
      if (!key.primaryKey.length) throw new JobError(`source.splitKey: (${names.join(', ')}) may be NULL and ${this.spec.table} has no primary key to read those rows in order`);
      out.push(this.range({ by: 'null-key', key: names, order: key.primaryKey.map((c) => c.name), kinds: key.primaryKey.map(kindOf) }));
    }
    return out;
  }

  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    const bounds = range.bounds as Bounds;
    const columns = await this.selected();
    // A query's rows without a key are read in the order of all their columns, the checkpoint a count.
    const byRows = bounds.by === 'rows';
    const order = bounds.by === 'key' ? bounds.key : bounds.by === 'null-key' ? bounds.order : [];
    let count = byRows && after !== null ? Number(after) : 0;
    const where = rangeConditions(this.spec.where, bounds, after === null || byRows ? null : (JSON.parse(after) as JsonKey));
    const { sql, values } = byRows ? rowsReadSql(this.table.sql, columns.map((c) => c.name), where, count) : readSql(this.table.sql, columns.map((c) => c.name), order, where);
    const checkpointOf = byRows ? () => String(count) : (key: Value[]) => JSON.stringify(encodeKey(key as KeyValue[]));
    const normalizers = columns.map((c) => normalizer(c.dataType));
    const width = columns.length;

    const conn = await this.pool.getConnection().catch((error) => {
      throw mysqlError(error, this.server, 'connecting');
    });
    let finished = false;
    try {
      // The socket pauses while batches are written (and throttled): the server must not give up on it meanwhile.
      await conn.query(`SET SESSION net_write_timeout = ${NET_WRITE_TIMEOUT}`);
      // The core connection streams rows as they arrive, pausing the socket while batches are written.
      const core = conn.connection as unknown as CoreConnection;
      const typeCast = jsonAsText(columns);
      const stream = core.query({ sql, values, rowsAsArray: true, typeCast }).stream({ highWaterMark: Math.min(batchRows, 4096) });
      let rows: Row[] = [];
      let lastKey: Value[] = [];
      for await (const row of stream as AsyncIterable<Value[]>) {
        const key = row.splice(width);
        // A batch closes only where the key changes, so a checkpoint never splits equal keys.
        if (rows.length >= batchRows && (byRows || !sameKey(key as KeyValue[], lastKey as KeyValue[]))) {
          yield { rows, checkpoint: checkpointOf(lastKey) };
          rows = [];
        }
        for (let i = 0; i < width; i++) {
          const normalize = normalizers[i];
          if (normalize && row[i] !== null) row[i] = normalize(row[i]);
        }
        rows.push(row);
        count++;
        lastKey = key;
      }
      if (rows.length) yield { rows, checkpoint: checkpointOf(lastKey) };
      finished = true;
    } catch (error) {
      throw mysqlError(error, this.server, `reading ${this.label}`);
    } finally {
      // A result left half-read (an error, or the consumer stopped early) leaves the connection mid-protocol.
      if (finished) conn.release();
      else conn.destroy();
    }
  }

  /**
   * A query is cut on its split key at quantiles of the keys of its rows
   * (it has no index to estimate with), or read as one range without one.
   * Rows whose key is NULL are a range of their own, read in row order.
   */
  private async planQuery(ranges: number): Promise<RangeSpec[]> {
    if (this.spec.splitKey === undefined) return [this.range({ by: 'rows', nullKey: null })];
    const all = await this.allColumns();
    const columns = (Array.isArray(this.spec.splitKey) ? this.spec.splitKey : [this.spec.splitKey]).map((name) => this.keyColumn(all, name));
    const names = columns.map((c) => c.name);
    const kinds = columns.map((c) => KEY_KINDS[c.dataType]);
    const keys = await this.keyRows({ sql: sampleKeysSql(this.table.sql, names, this.spec.where, QUERY_SAMPLE_KEYS), values: [] }, 'sampling the split key of source.query');
    const cuts = cutPoints(keys.map((key) => ({ key, weight: 1 })), ranges);
    const out: RangeSpec[] = [];
    for (let i = 0; i <= cuts.length; i++) {
      const from = i === 0 ? null : encodeKey(cuts[i - 1]);
      out.push(this.range({ by: 'key', key: names, kinds, from, to: i === cuts.length ? null : encodeKey(cuts[i]) }));
    }
    out.push(this.range({ by: 'rows', nullKey: names }));
    return out;
  }

  /** A split key column, by name (any case), that orders usefully. */
  private keyColumn(all: readonly MyColumn[], name: string): MyColumn {
    const column = all.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!column) throw missingColumn('source.splitKey', name, this.label, all.map((c) => c.name));
    if (!KEY_KINDS[column.dataType]) throw new JobError(`source.splitKey: column "${name}" is ${column.type}, which cannot be split into ranges (use an integer, string, date/time, decimal or binary column)`);
    return column;
  }

  private range(bounds: Bounds): RangeSpec {
    // The description is the range's resolved SQL condition: what `batchsync plan` shows a person.
    return { description: shown(rangeConditions(this.spec.where, bounds, null)), bounds };
  }

  /**
   * How the rows spread over the key, as weighted points: key intervals
   * halved until each is estimated at a small share of the table, then,
   * when the job has a `where`, each weighed by the share of its first rows
   * that match.
   */
  private async points(key: SplitKey, ranges: number): Promise<KeyPoint[]> {
    const names = key.columns.map((c) => c.name);
    const bind = (k: Key) => bindKey(key.kinds, k);
    const [first] = await this.keyRows(edgeKeySql(this.table.sql, key.index, names, allOf([]), false), 'finding the first key');
    if (!first) return [];
    const [stats] = await this.query<Array<{ n: number | string | null }>>(TABLE_ROWS, 'reading the table statistics', [this.table.database, this.table.table]);
    const wanted = Math.min(ranges * POINTS_PER_RANGE, MAX_POINTS);
    const threshold = Math.max(1, Number(stats?.n ?? 0)) / wanted;
    const points = await estimatedPoints(this.probe(key), first, threshold, { maxDepth: 64, maxPoints: wanted * 4 });
    if (!this.spec.where) return points;
    const where = this.spec.where;
    return Promise.all(
      points.map(async (point, i) => {
        const next = points[i + 1];
        const interval = allOf([keyCompare(names, '>=', bind(point.key)), ...(next ? [keyCompare(names, '<', bind(next.key))] : [])]);
        const [row] = await this.query<Array<{ n: number | string; m: number | string }>>(
          selectivitySql(this.table.sql, key.index, names, where, interval, SELECTIVITY_ROWS),
          'weighing the key intervals by source.where',
        );
        const n = Number(row.n);
        // Smoothed, so an interval whose first rows all miss still weighs a little.
        return { key: point.key, weight: n ? (point.weight * (Number(row.m) + 0.5)) / (n + 1) : point.weight };
      }),
    );
  }

  /** Index estimates and midpoints of key intervals, for estimatedPoints. */
  private probe(key: SplitKey): IntervalProbe {
    const names = key.columns.map((c) => c.name);
    const bind = (k: Key) => bindKey(key.kinds, k);
    let last: Promise<Key | undefined> | null = null;
    const lastBefore = (to: Key | null): Promise<Key | undefined> => {
      if (to === null) {
        last ??= this.keyRows(edgeKeySql(this.table.sql, key.index, names, allOf([]), true), 'finding the last key').then((r) => r[0]);
        return last;
      }
      return this.keyRows(edgeKeySql(this.table.sql, key.index, names, keyCompare(names, '<', bind(to)), true), 'finding a key').then((r) => r[0]);
    };
    return {
      estimate: async (from, to) => {
        const where = allOf([keyCompare(names, '>=', bind(from)), ...(to ? [keyCompare(names, '<', bind(to))] : [])]);
        const rows = await this.query<Array<{ rows: number | string | null }>>(estimateSql(this.table.sql, key.index, where), 'estimating a key interval');
        return rows.reduce((sum, r) => sum + Number(r.rows ?? 0), 0);
      },
      middle: async (from, to) => {
        // A single integer key halves by arithmetic: its order is the database's, and no key needs to exist there.
        if (names.length === 1 && key.kinds[0] === 'integer') {
          const last = to ? BigInt(String(to[0])) - 1n : await lastBefore(null).then((k) => (k ? BigInt(String(k[0])) : null));
          const mid = last === null ? null : middleInteger(BigInt(String(from[0])), last);
          return mid === null ? null : [String(mid)];
        }
        const upper = await lastBefore(to);
        if (!upper || sameKey(upper, from)) return null;
        // The first column where the interval's ends differ is the one to halve; the columns before it are fixed.
        let d = 0;
        while (d < names.length - 1 && sameKey([from[d]], [upper[d]])) d++;
        const inside = [keyCompare(names, '>', bind(from)), keyCompare(names, '<=', bind(upper))];
        const middle = middleValue(key.kinds[d], from[d], upper[d]);
        if (middle !== null) {
          const bound = bind([...from.slice(0, d), middle]);
          const prefix = names.slice(0, d).map((n, i) => ({ sql: `${quoteId(n)} = ?`, values: [bound[i]] }));
          const atLeast = { sql: `${quoteId(names[d])} >= ?`, values: [bound[d]] };
          const [snapped] = await this.keyRows(edgeKeySql(this.table.sql, key.index, names, allOf([...inside, ...prefix, atLeast]), false), 'finding a key');
          if (snapped) return snapped;
        }
        // The database orders differently from the midpoint (a collation): any key inside still makes progress.
        const [next] = await this.keyRows(edgeKeySql(this.table.sql, key.index, names, allOf(inside), false), 'finding a key');
        return next ?? null;
      },
    };
  }

  /** The job's split key, or the primary key (or a unique key of NOT NULL columns), and an index that starts with it. */
  private async splitKey(): Promise<SplitKey> {
    const all = await this.allColumns();
    const indexes = await this.indexes();
    const primary = indexes.get('PRIMARY')?.columns ?? [];
    const primaryKey = primary.map((name) => all.find((c) => c.name === name) as MyColumn);
    let wanted: string[];
    if (this.spec.splitKey !== undefined) wanted = Array.isArray(this.spec.splitKey) ? this.spec.splitKey : [this.spec.splitKey];
    else if (primary.length) wanted = primary;
    else {
      const unique = [...indexes.values()].find((ix) => ix.unique && !ix.prefix && ix.columns.every((c) => !all.find((a) => a.name === c)?.nullable));
      if (!unique) throw new JobError(`source.splitKey: ${this.spec.table} has no primary key; name the column(s) to split on (an indexed key)`);
      wanted = unique.columns;
    }
    const columns = wanted.map((name) => this.keyColumn(all, name));
    const startsWithKey = (ix: IndexInfo) => !ix.prefix && columns.every((c, i) => ix.columns[i]?.toLowerCase() === c.name.toLowerCase());
    const index = startsWithKey(indexes.get('PRIMARY') ?? NO_INDEX) ? 'PRIMARY' : [...indexes.entries()].find(([, ix]) => startsWithKey(ix))?.[0];
    if (!index) {
      throw new JobError(`source.splitKey: no index of ${this.spec.table} starts with (${columns.map((c) => c.name).join(', ')}); ranges need one to be cut and read without scanning the table`);
    }
    return { columns, kinds: columns.map((c) => KEY_KINDS[c.dataType]), index, primaryKey };
  }

  private async indexes(): Promise<Map<string, IndexInfo>> {
    const rows = await this.query<Array<{ indexName: string; name: string; nonUnique: number | string; subPart: number | string | null }>>(
      INDEXES,
      'reading the source indexes',
      [this.table.database, this.table.table],
    );
    const out = new Map<string, IndexInfo>();
    for (const r of rows) {
      const ix = out.get(r.indexName) ?? { columns: [], unique: Number(r.nonUnique) === 0, prefix: false };
      ix.columns.push(r.name);
      ix.prefix ||= r.subPart !== null;
      out.set(r.indexName, ix);
    }
    return out;
  }

  private async allColumns(): Promise<MyColumn[]> {
    if (this.cached) return this.cached;
    if (this.isQuery) {
      this.cached = await this.queryColumns();
      return this.cached;
    }
    const rows = await this.query<Array<{ name: string; type: string; dataType: string; nullable: string }>>(SOURCE_COLUMNS, 'reading the source schema', [
      this.table.database,
      this.table.table,
    ]);
    if (!rows.length) {
      const names = await this.query<Array<{ name: string }>>(TABLE_NAMES, 'listing tables', [this.table.database]).catch(() => []);
      throw new JobError(`source.table: table ${this.table.database}.${this.table.table} does not exist on ${this.server}${didYouMean(this.table.table, names.map((n) => n.name))}`);
    }
    this.cached = rows.map((r) => ({ name: r.name, type: r.type, dataType: r.dataType.toLowerCase(), nullable: r.nullable === 'YES' }));
    return this.cached;
  }

  private async selected(): Promise<MyColumn[]> {
    return selectColumns(await this.allColumns(), this.spec.columns, this.label);
  }

  /** A query's result columns and their types, from the driver's metadata of running it for no rows. */
  private async queryColumns(): Promise<MyColumn[]> {
    let fields: ResultField[];
    try {
      [, fields] = (await this.pool.query(`SELECT * FROM ${this.table.sql} LIMIT 0`)) as unknown as [unknown, ResultField[]];
    } catch (error) {
      throw mysqlError(error, this.server, 'source.query: running the query');
    }
    return fields.map((f) => {
      const type = resultType(f);
      return { name: f.name, type, dataType: /^[a-z]+/.exec(type)?.[0] ?? type, nullable: (f.flags & 1) === 0 };
    });
  }


  private async keyRows(sql: Sql, doing: string): Promise<Key[]> {
    try {
      const [rows] = await this.pool.query({ sql: sql.sql, values: sql.values, rowsAsArray: true });
      return rows as unknown as Key[];
    } catch (error) {
      throw mysqlError(error, this.server, doing);
    }
  }

  private async query<T>(sql: string | Sql, doing: string, values?: unknown[]): Promise<T> {
    try {
      const [rows] = typeof sql === 'string' ? await this.pool.query(sql, values) : await this.pool.query(sql.sql, sql.values);
      return rows as T;
    } catch (error) {
      throw mysqlError(error, this.server, doing);
    }
  }
}

interface ResultField {
  name: string;
  columnType: number;
  columnLength: number;
  decimals: number;
  flags: number;
  characterSet: number;
}

/** The column type of a query's result column, from the protocol's field metadata (what `target.create` and conversion read). */
function resultType(f: ResultField): string {
  const unsigned = (f.flags & 32) !== 0 ? ' unsigned' : '';
  const binary = f.characterSet === 63;
  const chars = Math.ceil(f.columnLength / (binary ? 1 : 4));
  switch (f.columnType) {
    case 1: return `tinyint${unsigned}`;
    case 2: return `smallint${unsigned}`;
    case 3: return `int${unsigned}`;
    case 9: return `mediumint${unsigned}`;
    case 8: return `bigint${unsigned}`;
    case 4: return 'float';
    case 5: return 'double';
    case 0:
    case 246: {
      const precision = Math.max(1, f.columnLength - (f.decimals > 0 ? 1 : 0) - (unsigned ? 0 : 1));
      return `decimal(${Math.min(65, precision)},${Math.min(30, f.decimals)})${unsigned}`;
    }
    case 7: return f.decimals ? `timestamp(${f.decimals})` : 'timestamp';
    case 12: return f.decimals ? `datetime(${f.decimals})` : 'datetime';
    case 10: return 'date';
    case 11: return f.decimals ? `time(${f.decimals})` : 'time';
    case 13: return 'year';
    case 16: return `bit(${f.columnLength})`;
    case 245: return 'json';
    case 249: case 250: case 251: case 252: return binary ? 'longblob' : 'longtext';
    case 254: return binary ? `binary(${chars})` : chars <= 255 ? `char(${chars})` : 'longtext';
    default: return binary ? (chars <= 4096 ? `varbinary(${chars})` : 'longblob') : chars <= 4096 ? `varchar(${chars})` : 'longtext';
  }
}

interface IndexInfo {
  columns: string[];
  unique: boolean;
  /** Some column is indexed by a prefix only: the index cannot order by the whole value. */
  prefix: boolean;
}

const NO_INDEX: IndexInfo = { columns: [], unique: false, prefix: false };

/** A value of the key's column about halfway between two, in the form the database compares; null when there is none. */
function middleValue(kind: KeyKind, lo: KeyValue, hi: KeyValue): KeyValue | null {
  switch (kind) {
    case 'integer': {
      const mid = middleInteger(BigInt(String(lo)), BigInt(String(hi)));
      return mid === null ? null : String(mid);
    }
    case 'string':
      return middleString(String(lo), String(hi));
    case 'bytes':
      return middleBytes(lo as Uint8Array, hi as Uint8Array);
    case 'decimal': {
      // Approximate is fine: the midpoint is only where to look for a real key.
      const mid = ((Number(lo) + Number(hi)) / 2).toFixed(6);
      return /^-?\d+\.\d+$/.test(mid) ? mid : null;
    }
    case 'temporal':
      return middleTime(String(lo), String(hi));
  }
}

/** The instant halfway between two DATE/DATETIME texts (read as UTC: only the order matters), in the same form. */
function middleTime(lo: string, hi: string): string | null {
  const ms = (t: string) => Date.parse(`${t.length === 10 ? `${t}T00:00:00` : t.replace(' ', 'T')}Z`);
  const a = ms(lo);
  const b = ms(hi);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a) return null;
  const iso = new Date(a + Math.ceil((b - a) / 2)).toISOString();
  return lo.length === 10 ? iso.slice(0, 10) : iso.slice(0, 19).replace('T', ' ');
}

/**
 * The driver's conversion, except that JSON stays the text it is, not an
 * object re-encoded with other spacing. MariaDB's JSON is a LONGTEXT that
 * the driver parses by its metadata, so every LONGTEXT column is read as text.
 */
function jsonAsText(columns: readonly MyColumn[]): TypeCast | undefined {
  const text = new Set(columns.filter((c) => c.dataType === 'json' || c.dataType === 'longtext').map((c) => c.name));
  return text.size ? (field, next) => (text.has(field.name) ? field.string() : next()) : undefined;
}

/**
 * Values whose driver form the conversion would misread: TIMESTAMP text is
 * UTC (the session's zone), so it gets its offset; BIT comes as bytes and
 * goes on as the number they hold.
 */
function normalizer(dataType: string): ((value: Value) => Value) | null {
  if (dataType === 'timestamp') return (v) => `${v as string}Z`;
  if (dataType === 'bit') return (v) => BigInt(`0x${Buffer.from(v as Uint8Array).toString('hex') || '0'}`).toString();
  return null;
}
