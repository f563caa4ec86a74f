import { CsvSyntaxError, type CsvFormat, parseCsv, recordStarts } from '../../core/csv.ts';
import { JobError, StatementError } from '../../core/errors.ts';
import type { Row, SourceColumn } from '../../core/ports.ts';
import { describeBytes, evenCuts, type FileFormat, GZIP_RATIO, isGzip, type Part, type PartBatch, partBytes, type Projection, type SizedPart } from './format.ts';
import type { FileInfo, FileStore } from './store.ts';

/**
 * CSV files. A file is cut at record boundaries found by tracking quotes
 * from its start, as a newline inside a quoted field is not a boundary: on
 * S3 that is one streamed read of each file larger than a range at planning
 * time (files up to a range's size are not read past their header). A
 * position is the byte after the last record read.
 */
export class CsvFileFormat implements FileFormat {
  constructor(
    private readonly store: FileStore,
    private readonly format: CsvFormat & { header: boolean },
    private readonly compression: 'none' | 'gzip' | 'auto',
  ) {}

  async columns(file: FileInfo): Promise<SourceColumn[] | null> {
    if (!this.format.header) return null;
    return (await this.readHeader(file)).names.map((name) => ({ name, type: 'text' }));
  }

  async split(file: FileInfo, bytes: number, columns: readonly SourceColumn[]): Promise<SizedPart[]> {
    let dataStart = 0;
    if (this.format.header) {
      const header = await this.readHeader(file);
      const expected = columns.map((c) => c.name);
      if (header.names.join('\u0000') !== expected.join('\u0000')) {
        throw new JobError(`source.url: ${file.name} has header (${header.names.join(', ')}), the first file has (${expected.join(', ')})`);
      }
      dataStart = header.end;
    }
    const base = { path: file.path, name: file.name, size: file.size };
    if (isGzip(file.name, this.compression)) return [{ ...base, start: dataStart, end: null, gzip: true, bytes: file.size * GZIP_RATIO }];
    const targets = evenCuts(dataStart, file.size, bytes);
    const starts = targets.length ? await recordStarts(this.store.read(file.path, dataStart, file.size), targets.map((t) => t - dataStart), this.format.quote, file.size - dataStart) : [];
    const cuts = [...new Set([dataStart, ...starts.map((s) => s + dataStart), file.size])].sort((a, b) => a - b);
    const parts: SizedPart[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      if (cuts[i + 1] > cuts[i]) parts.push({ ...base, start: cuts[i], end: cuts[i + 1], bytes: cuts[i + 1] - cuts[i] });
    }
    return parts;
  }

  async *read(part: Part, position: number | null, projection: Projection, batchRows: number): AsyncGenerator<PartBatch> {
    const start = position ?? part.start;
    const width = projection.all.length;
    const identity = projection.indexes.length === width && projection.indexes.every((c, i) => c === i);
    try {
      for await (const batch of parseCsv(partBytes(this.store, part, start), this.format, batchRows)) {
        const rows: Row[] = [];
        const rejected: PartBatch['rejected'] = [];
        for (const record of batch.rows) {
          if (record.length !== width) rejected.push({ record, reason: `record has ${record.length} fields, expected ${width}` });
          else rows.push(identity ? record : projection.indexes.map((i) => record[i]));
        }
        yield { rows, rejected, position: start + batch.bytesConsumed };
      }
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new StatementError(`${part.name}: malformed CSV near byte ${start + error.offset}: ${error.message}`);
      throw error;
    }
  }

  describe(part: Part): string {
    return describeBytes(part);
  }

  /** The header's names and the byte after it (in the decompressed text for gzip): the first record, read alone. */
  private async readHeader(file: FileInfo): Promise<{ names: string[]; end: number }> {
    const gzip = isGzip(file.name, this.compression);
    const whole: Part = { path: file.path, name: file.name, size: file.size, start: 0, end: gzip ? null : file.size, gzip: gzip || undefined };
    for await (const batch of parseCsv(partBytes(this.store, whole, 0), this.format, 1)) {
      return { names: batch.rows[0].map((v) => v ?? ''), end: batch.bytesConsumed };
    }
    throw new JobError(`source.url: ${file.name} is empty; expected a CSV header`);
  }
}
