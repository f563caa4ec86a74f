import { JobError } from '../../core/errors.ts';
import type { FilesSource as FilesSpec } from '../../core/job-spec.ts';
import type { Batch, Checkpoint, RangeSpec, Row, Source, SourceColumn, SourceSchema, TextBatch } from '../../core/ports.ts';
import { CsvFileFormat } from './csv-format.ts';
import type { FileFormat, Part, Projection, SizedPart } from './format.ts';
import { JsonlFileFormat } from './jsonl-format.ts';
import { ParquetFileFormat } from './parquet-format.ts';
import type { FileStore } from './store.ts';

interface Bounds {
  parts: Part[];
}

/** Rows of the first range that CSV and JSON Lines column types are inferred from, for `target.create`. */
const SAMPLE_ROWS = 1000;

/** A range never gets smaller than this (small files are grouped up to the range size)… */
const MIN_RANGE_BYTES = 256 << 10;
/** …nor larger than this, so one range is minutes of work, not hours. */
const MAX_RANGE_BYTES = 256 << 20;

/** The format reader a job's files need. */
export function fileFormat(store: FileStore, spec: FilesSpec): FileFormat {
  switch (spec.format) {
    case 'csv':
      return new CsvFileFormat(store, spec.csv ?? { header: true, delimiter: ',', quote: '"', nullValue: '' }, spec.compression);
    case 'jsonl':
      return new JsonlFileFormat(store, spec.compression);
    case 'parquet':
      return new ParquetFileFormat(store);
  }
}

/** The parts of a range left after a checkpoint (`part:position`): the first from that position, the rest from their start (null). */
function* resumed(range: RangeSpec, after: Checkpoint | null): Generator<{ index: number; part: Part; position: number | null }> {
  const { parts } = range.bounds as Bounds;
  const [first, position] = after === null ? [0, null] : after.split(':').map(Number);
  for (let index = first; index < parts.length; index++) yield { index, part: parts[index], position: index === first ? position : null };
}

/**
 * Files (CSV, JSON Lines, Parquet; gzip CSV and JSONL), local or on S3: each
 * file is cut into parts by its format (byte ranges at record boundaries,
 * runs of row groups, a whole gzip file), and parts are grouped into ranges
 * of about equal size, so many small files make a few ranges and a big file
 * several. A checkpoint is `part:position`, where the next record starts.
 */
export class FilesSource implements Source {
  private cached: { names: string[]; columns: SourceColumn[] } | null = null;
  /** Set where the format makes escaped text and the job reads the files' columns as they are. */
  readonly readText?: Source['readText'];

  constructor(
    private readonly store: FileStore,
    private readonly spec: FilesSpec,
    private readonly format: FileFormat = fileFormat(store, spec),
  ) {
    if (spec.format === 'csv' && spec.csv?.header === false && !spec.columns) throw new JobError('source.columns: required when the CSV has no header (csv.header is false)');
    // Without named columns (or with a CSV's own, by position) every record is read whole, in the file's order.
    if (this.format.readText && (!spec.columns || spec.csv?.header === false)) this.readText = (range, after, size) => this.textBatches(range, after, size);
  }

  async columns(): Promise<SourceColumn[]> {
    const { names, columns } = await this.fileColumns();
    const projection = this.projection(names);
    return projection.names.map((name, k) => columns[projection.indexes[k]] ?? { name, type: 'json' });
  }

  async schema(): Promise<SourceSchema> {
    const columns = (await this.columns()).map((c) => ({ ...c, nullable: true }));
    if (this.spec.format === 'parquet') return { dialect: 'parquet', columns, key: [] };
    const sample: Row[] = [];
    const [first] = await this.plan(1);
    if (first) {
      for await (const batch of this.read(first, null, SAMPLE_ROWS)) {
        sample.push(...batch.rows.slice(0, SAMPLE_ROWS - sample.length));
        if (sample.length >= SAMPLE_ROWS) break;
      }
    }
    return { dialect: this.spec.format, columns, key: [], sample };
  }

  /** The keys of the first file (its CSV header, its first JSON Lines record): those no column reads are reported. */
  async fileKeys(): Promise<string[]> {
    if (this.spec.format === 'parquet' || (this.spec.format === 'csv' && this.spec.csv?.header === false)) return [];
    const [first] = await this.store.list();
    if (!first) return [];
    return ((await this.format.columns(first)) ?? []).map((c) => c.name);
  }

  async plan(ranges: number): Promise<RangeSpec[]> {
    const files = await this.store.list();
    const { columns } = await this.fileColumns();
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const rangeBytes = Math.min(MAX_RANGE_BYTES, Math.max(MIN_RANGE_BYTES, Math.ceil(total / Math.max(1, ranges))));
    const out: RangeSpec[] = [];
    let group: SizedPart[] = [];
    let groupBytes = 0;
    const flush = () => {
      if (group.length) out.push(this.range(group));
      group = [];
      groupBytes = 0;
    };
    for (const file of files) {
      for (const part of await this.format.split(file, rangeBytes, columns)) {
        if (groupBytes + part.bytes > rangeBytes) flush();
        group.push(part);
        groupBytes += part.bytes;
      }
    }
    flush();
    return out;
  }

  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    const projection = this.projection((await this.fileColumns()).names);
    for (const { index, part, position } of resumed(range, after)) {
      for await (const batch of this.format.read(part, position, projection, batchRows)) {
        yield { rows: batch.rows, rejected: batch.rejected, checkpoint: `${index}:${batch.position}` };
      }
    }
  }

  private async *textBatches(range: RangeSpec, after: Checkpoint | null, size: { rows: number; bytes: number }): AsyncGenerator<TextBatch> {
    const width = (await this.fileColumns()).names.length;
    const readText = (this.format.readText as NonNullable<FileFormat['readText']>).bind(this.format);
    for (const { index, part, position } of resumed(range, after)) {
      for await (const batch of readText(part, position, width, size)) {
        yield { text: batch.text, rows: batch.rows, fields: width, rejected: batch.rejected, checkpoint: `${index}:${batch.position}` };
      }
    }
  }

  async check(): Promise<void> {
    const check = this.format.check?.bind(this.format);
    if (!check) return;
    for (const file of await this.store.list()) await check(file);
  }

  private range(parts: SizedPart[]): RangeSpec {
    const bare: Part[] = parts.map(({ bytes: _, ...part }) => part);
    const shown = bare.slice(0, 3).map((p) => this.format.describe(p));
    const description = bare.length > 3 ? `${shown.join(', ')} and ${bare.length - 3} more` : shown.join(', ');
    return { description, bounds: { parts: bare } satisfies Bounds };
  }

  /** The files' columns: what the first file carries, or the job's names where the format carries none. */
  private async fileColumns(): Promise<{ names: string[]; columns: SourceColumn[] }> {
    if (this.cached) return this.cached;
    const [first] = await this.store.list();
    if (!first) throw new JobError('source.url: no files to read');
    // JSON Lines with named columns need no look at the data: each record is read by name.
    const carried = this.spec.format === 'jsonl' && this.spec.columns ? null : await this.format.columns(first);
    const columns = carried ?? (this.spec.columns as string[]).map((name) => ({ name, type: 'text' }));
    this.cached = { names: columns.map((c) => c.name), columns };
    return this.cached;
  }

  /** The job's columns by name among the file's, or all of them. */
  private projection(names: string[]): Projection {
    // CSV without a header: the job's columns are the file's, by position.
    if (!this.spec.columns || (this.spec.format === 'csv' && this.spec.csv?.header === false)) return { names, indexes: names.map((_, i) => i), all: names };
    const indexes = this.spec.columns.map((name, i) => {
      const index = names.indexOf(name);
      if (index >= 0) return index;
      // JSON Lines records may each carry other keys: a named column absent from the first record is still read.
      if (this.spec.format === 'jsonl') return -1;
      throw new JobError(`source.columns[${i}]: column "${name}" is not in ${this.spec.format === 'csv' ? 'the CSV header' : 'the files'} (${names.join(', ')})`);
    });
    return { names: this.spec.columns, indexes, all: names };
  }
}
