import { CsvSyntaxError, parseCsv, recordStarts, type CsvFormat } from '../../core/csv.ts';
import { JobError, StatementError } from '../../core/errors.ts';
import type { FilesSource as FilesSpec } from '../../core/job-spec.ts';
import type { Batch, Checkpoint, RangeSpec, Row, Source, SourceColumn } from '../../core/ports.ts';
import type { FileInfo, FileStore } from './store.ts';

/** One piece of a range: bytes [start, end) of a file, both record boundaries. */
interface Part {
  path: string;
  name: string;
  start: number;
  end: number;
}

interface Bounds {
  parts: Part[];
}

/** A range never gets smaller than this (small files are grouped up to the range size)… */
const MIN_RANGE_BYTES = 256 << 10;
/** …nor larger than this, so one range is minutes of work, not hours. */
const MAX_RANGE_BYTES = 256 << 20;

/**
 * Files (CSV for now): each file is cut into byte ranges at record
 * boundaries, small files are grouped, and a range is read by streaming its
 * bytes through the parser. A checkpoint is `part:offset`, the byte after the
 * last record written.
 */
export class FilesSource implements Source {
  private readonly format: CsvFormat & { header: boolean };
  private header: string[] | null = null;

  constructor(
    private readonly store: FileStore,
    private readonly spec: FilesSpec,
  ) {
    const csv = spec.csv ?? { header: true, delimiter: ',', quote: '"', nullValue: '' };
    this.format = csv;
    if (!csv.header && !spec.columns) throw new JobError('source.columns: required when the CSV has no header (csv.header is false)');
  }

  async columns(): Promise<SourceColumn[]> {
    const names = await this.names();
    return this.selection(names).map((i) => ({ name: names[i], type: 'text' }));
  }

  async plan(ranges: number): Promise<RangeSpec[]> {
    const files = await this.store.list();
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const rangeBytes = Math.min(MAX_RANGE_BYTES, Math.max(MIN_RANGE_BYTES, Math.ceil(total / Math.max(1, ranges))));
    const out: RangeSpec[] = [];
    let group: Part[] = [];
    let groupBytes = 0;
    const flush = () => {
      if (group.length) out.push({ description: describeParts(group), bounds: { parts: group } satisfies Bounds });
      group = [];
      groupBytes = 0;
    };
    for (const file of files) {
      for (const part of await this.splitFile(file, rangeBytes)) {
        if (groupBytes + (part.end - part.start) > rangeBytes) flush();
        group.push(part);
        groupBytes += part.end - part.start;
      }
    }
    flush();
    return out;
  }

  async *read(range: RangeSpec, after: Checkpoint | null, batchRows: number): AsyncGenerator<Batch> {
    const { parts } = range.bounds as Bounds;
    const names = await this.names();
    const selection = this.selection(names);
    const identity = selection.every((c, i) => c === i) && selection.length === names.length;
    const [firstPart, firstOffset] = after === null ? [0, parts[0]?.start ?? 0] : after.split(':').map(Number);
    for (let p = firstPart; p < parts.length; p++) {
      const part = parts[p];
      const start = p === firstPart ? firstOffset : part.start;
      try {
        for await (const batch of parseCsv(this.store.read(part.path, start, part.end), this.format, batchRows)) {
          const rows: Row[] = [];
          const rejected: Batch['rejected'] = [];
          for (const record of batch.rows) {
            if (record.length !== names.length) rejected.push({ record, reason: `record has ${record.length} fields, expected ${names.length}` });
            else rows.push(identity ? record : selection.map((i) => record[i]));
          }
          yield { rows, rejected, checkpoint: `${p}:${start + batch.bytesConsumed}` };
        }
      } catch (error) {
        if (error instanceof CsvSyntaxError) {
          throw new StatementError(`${part.name}: malformed CSV near byte ${start + error.offset}: ${error.message}`);
        }
        throw error;
      }
    }
  }

  async close(): Promise<void> {}

  /** The column names: the job's, or the first file's header. */
  private async names(): Promise<string[]> {
    if (this.header) return this.header;
    if (!this.format.header) return (this.header = this.spec.columns as string[]);
    const [first] = await this.store.list();
    if (!first) throw new JobError(`source.url: no files to read a CSV header from`);
    this.header = await this.readHeader(first);
    return this.header;
  }

  /** Indexes of the read columns in each record: the job's columns by name, or all. */
  private selection(names: string[]): number[] {
    if (!this.format.header || !this.spec.columns) return names.map((_, i) => i);
    return this.spec.columns.map((name, i) => {
      const index = names.indexOf(name);
      if (index < 0) throw new JobError(`source.columns[${i}]: column "${name}" is not in the CSV header (${names.join(', ')})`);
      return index;
    });
  }

  private async readHeader(file: FileInfo): Promise<string[]> {
    const [end] = await recordStarts(this.store.read(file.path, 0, file.size), [1], this.format.quote, file.size);
    for await (const batch of parseCsv(this.store.read(file.path, 0, end), this.format, 1)) {
      return batch.rows[0].map((v) => v ?? '');
    }
    throw new JobError(`source.url: ${file.name} is empty; expected a CSV header`);
  }

  /** A file's data cut at record boundaries about every `rangeBytes`; its header checked against the first file's. */
  private async splitFile(file: FileInfo, rangeBytes: number): Promise<Part[]> {
    const targets: number[] = [];
    if (this.format.header) {
      targets.push(1);
      const header = await this.readHeader(file);
      const expected = await this.names();
      if (header.join('\u0000') !== expected.join('\u0000')) {
        throw new JobError(`source.url: ${file.name} has header (${header.join(', ')}), the first file has (${expected.join(', ')})`);
      }
    }
    for (let t = rangeBytes; t < file.size; t += rangeBytes) targets.push(t);
    const starts = targets.length ? await recordStarts(this.store.read(file.path, 0, file.size), targets, this.format.quote, file.size) : [];
    const cuts = [...new Set([this.format.header ? starts[0] : 0, ...starts.slice(this.format.header ? 1 : 0), file.size])].sort((a, b) => a - b);
    const parts: Part[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      if (cuts[i + 1] > cuts[i]) parts.push({ path: file.path, name: file.name, start: cuts[i], end: cuts[i + 1] });
    }
    return parts;
  }
}

function describeParts(parts: Part[]): string {
  const shown = parts.slice(0, 3).map((p) => `${p.name} bytes ${p.start}-${p.end}`);
  return parts.length > 3 ? `${shown.join(', ')} and ${parts.length - 3} more files` : shown.join(', ');
}
