import { csvAsText, type CsvItem, CsvFormatError, type CsvFormat, CsvReader, parseCsv, recordStarts } from '../../core/csv.ts';
import { JobError } from '../../core/errors.ts';
import type { Row, SourceColumn } from '../../core/ports.ts';
import { describeBytes, evenCuts, type FileFormat, GZIP_RATIO, isGzip, type Part, type PartBatch, partBytes, type Projection, type SizedPart, type TextPartBatch } from './format.ts';
import type { FileInfo, FileStore } from './store.ts';

/**
 * CSV files. A file is cut where the parser's own record reader, run from
 * the file's start, begins a record (a newline inside a quoted field is not
 * a boundary): on S3 that is one streamed read of each file larger than a
 * range at planning time (files up to a range's size are not read past
 * their header). A position is the byte after the last record read; each
 * part carries the line number of its first byte, so a malformed record is
 * a dirty record naming its file and line, and reading goes on.
 */
export class CsvFileFormat implements FileFormat {
  constructor(
    private readonly store: FileStore,
    private readonly format: CsvFormat & { header: boolean },
    private readonly compression: 'none' | 'gzip' | 'auto',
  ) {
    try {
      new CsvReader(format);
    } catch (error) {
      if (error instanceof CsvFormatError) throw new JobError(`source.${error.message}`);
      throw error;
    }
  }

  async columns(file: FileInfo): Promise<SourceColumn[] | null> {
    if (!this.format.header) return null;
    return (await this.readHeader(file)).names.map((name) => ({ name, type: 'text' }));
  }

  async split(file: FileInfo, bytes: number, columns: readonly SourceColumn[]): Promise<SizedPart[]> {
    let data = { offset: 0, line: 1 };
    if (this.format.header) {
      const header = await this.readHeader(file);
      const expected = columns.map((c) => c.name);
      if (header.names.join('\u0000') !== expected.join('\u0000')) {
        throw new JobError(`source.url: ${file.name} has header (${header.names.join(', ')}), the first file has (${expected.join(', ')})`);
      }
      data = { offset: header.end, line: header.line };
    }
    const base = { path: file.path, name: file.name, size: file.size };
    if (isGzip(file.name, this.compression)) return [{ ...base, start: data.offset, end: null, gzip: true, line: data.line, bytes: file.size * GZIP_RATIO }];
    const targets = evenCuts(data.offset, file.size, bytes);
    const starts = targets.length ? await recordStarts(this.store.read(file.path, data.offset, file.size), targets, this.format, file.size, data) : [];
    const cuts = [data, ...starts.filter((s) => s.offset < file.size), { offset: file.size, line: 0 }];
    const parts: SizedPart[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const [from, to] = [cuts[i], cuts[i + 1]];
      if (to.offset > from.offset) parts.push({ ...base, start: from.offset, end: to.offset, line: from.line, bytes: to.offset - from.offset });
    }
    return parts;
  }

  async *read(part: Part, position: number | null, projection: Projection, batchRows: number): AsyncGenerator<PartBatch> {
    const start = position ?? part.start;
    const width = projection.all.length;
    const identity = projection.indexes.length === width && projection.indexes.every((c, i) => c === i);
    const line = await this.lineAt(part, start);
    for await (const batch of parseCsv(partBytes(this.store, part, start), this.format, batchRows, { offset: start, line })) {
      const rows: Row[] = [];
      const rejected: PartBatch['rejected'] = [];
      for (const item of batch.items) {
        const record = item.fields;
        if (record === null || record.length !== width) rejected.push(rejection(part, item, width));
        else rows.push(identity ? record : projection.indexes.map((i) => record[i]));
      }
      yield { rows, rejected, position: batch.end };
    }
  }

  async *readText(part: Part, position: number | null, width: number, size: { rows: number; bytes: number }): AsyncGenerator<TextPartBatch> {
    const start = position ?? part.start;
    const line = await this.lineAt(part, start);
    for await (const batch of csvAsText(partBytes(this.store, part, start), this.format, width, size, { offset: start, line })) {
      yield { text: batch.text, rows: batch.rows, rejected: batch.items.map((item) => rejection(part, item, width)), position: batch.end };
    }
  }

  describe(part: Part): string {
    return describeBytes(part);
  }

  /**
   * The line of the byte at `position` in a part: the part's own line plus
   * the line ends before the position (read again only when a range resumes
   * inside a part; a part planned without a line counts from the file's start).
   */
  private async lineAt(part: Part, position: number): Promise<number> {
    if (part.line !== undefined && position === part.start) return part.line;
    const from = part.line === undefined ? 0 : part.start;
    let line = part.line ?? 1;
    let left = position - from;
    const span: Part = { ...part, start: from, end: part.gzip ? null : position };
    for await (const chunk of partBytes(this.store, span, from)) {
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
      for (let n = piece.indexOf(10); n >= 0; n = piece.indexOf(10, n + 1)) line++;
      left -= piece.length;
      if (left <= 0) break;
    }
    return line;
  }

  /** The header's names, the byte after it (in the decompressed text for gzip) and the line after it: the first record, read alone. */
  private async readHeader(file: FileInfo): Promise<{ names: string[]; end: number; line: number }> {
    const gzip = isGzip(file.name, this.compression);
    const whole: Part = { path: file.path, name: file.name, size: file.size, start: 0, end: gzip ? null : file.size, gzip: gzip || undefined };
    for await (const batch of parseCsv(partBytes(this.store, whole, 0), this.format, 1)) {
      const [first] = batch.items;
      if (first.fields === null) throw new JobError(`source.url: ${file.name} line 1: the CSV header is malformed: ${first.malformed}`);
      return { names: first.fields.map((v) => v ?? ''), end: first.end, line: first.endLine };
    }
    throw new JobError(`source.url: ${file.name} is empty; expected a CSV header`);
  }
}

/** A record that is not a row of `width` fields (malformed, or of another width), as the dirty record it makes. */
function rejection(part: Part, item: CsvItem, width: number): PartBatch['rejected'][number] {
  if (item.fields === null) return { record: item.text, reason: `${part.name} line ${item.line}: malformed CSV: ${item.malformed}` };
  return { record: item.fields, reason: `${part.name} line ${item.line}: record has ${item.fields.length} fields, expected ${width}` };
}
