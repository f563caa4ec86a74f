import { createGunzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import type { Batch, Row, SourceColumn } from '../../core/ports.ts';
import type { FileInfo, FileStore } from './store.ts';

/**
 * What a file format does for the files source: name its columns, cut a
 * file into parts, and read a part from a position. Positions are the
 * format's own: a byte offset (for gzip files, in the decompressed bytes) or
 * a row number (Parquet); a checkpoint is a part and a position.
 */

/** One piece of a range: [start, end) of a file, in the format's units. */
export interface Part {
  path: string;
  name: string;
  /** The file's size in bytes. */
  size: number;
  start: number;
  /** null: to the end (a gzip file, whose decompressed size is unknown). */
  end: number | null;
  gzip?: boolean;
  /** CSV: the 1-based line of the byte at `start`, so a malformed record is named by its line. */
  line?: number;
}

export interface SizedPart extends Part {
  /** About how much work the part is, in bytes read and parsed: what ranges are balanced on. */
  bytes: number;
}

/** A batch of a part: rows projected on the selected columns, and the position after them. */
export interface PartBatch {
  rows: Row[];
  rejected: NonNullable<Batch['rejected']>;
  position: number;
}

/** A batch of a part as escaped text (text-rows.ts): every record of the file's columns, in its order. */
export interface TextPartBatch {
  text: Buffer;
  rows: number;
  rejected: NonNullable<Batch['rejected']>;
  position: number;
}

/** The columns a read projects: the names, and their index in the file's own order. */
export interface Projection {
  names: readonly string[];
  indexes: readonly number[];
  /** All the file's columns, in its order. */
  all: readonly string[];
}

export interface FileFormat {
  /** The columns the first file carries (header, first record's keys, schema); null when it carries no names. */
  columns(file: FileInfo): Promise<SourceColumn[] | null>;
  /** A file's parts of about `bytes` each, checked against the first file's columns. */
  split(file: FileInfo, bytes: number, columns: readonly SourceColumn[]): Promise<SizedPart[]>;
  /** A part's rows from `position` (null: its start), in batches of about `batchRows`. */
  read(part: Part, position: number | null, projection: Projection, batchRows: number): AsyncGenerator<PartBatch>;
  /** read(), as escaped text of all the file's columns (`width` of them), in batches of about `size` rows or bytes: a format that makes that text cheaply. */
  readText?(part: Part, position: number | null, width: number, size: { rows: number; bytes: number }): AsyncGenerator<TextPartBatch>;
  /** The part in words, for plan output. */
  describe(part: Part): string;
  /** Fails (JobError) when the file cannot be read at all, found without reading its rows (a Parquet footer). */
  check?(file: FileInfo): Promise<void>;
}

/**
 * Offsets that cut [start, end) into parts of about `bytes` each, all about
 * the same size: a file of 2.1 parts' worth makes two parts, not a third
 * tiny one.
 */
export function evenCuts(start: number, end: number, bytes: number): number[] {
  const parts = Math.max(1, Math.round((end - start) / bytes));
  return Array.from({ length: parts - 1 }, (_, i) => start + Math.round(((i + 1) * (end - start)) / parts));
}

/** gzip text is about this many times smaller than the text: its parts are weighed by the text they hold. */
export const GZIP_RATIO = 4;

export const isGzip = (name: string, compression: 'none' | 'gzip' | 'auto') => compression === 'gzip' || (compression === 'auto' && name.endsWith('.gz'));

/**
 * A part's bytes from `position`: a range read, or for a gzip file the
 * whole object decompressed as it streams, the bytes before `position`
 * dropped (a gzip stream cannot be entered in the middle).
 */
export async function* partBytes(store: FileStore, part: Part, position: number): AsyncGenerator<Buffer> {
  if (!part.gzip) {
    yield* store.read(part.path, position, part.end as number);
    return;
  }
  // pipeline carries a read error into the decompressed stream, and closing that stream closes the read.
  const text = pipeline(Readable.from(store.read(part.path, 0, part.size)), createGunzip(), () => {});
  let skip = position;
  for await (const chunk of text as AsyncIterable<Buffer>) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield skip ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}

/** Byte offsets of the first record start at or after each target, found by reading a small window after it (no scan). */
export async function lineStarts(store: FileStore, file: FileInfo, targets: readonly number[], window = 64 << 10): Promise<number[]> {
  const out: number[] = [];
  for (const target of targets) {
    let at = Math.max(0, target - 1);
    let found = file.size;
    // A newline at target-1 means a record starts exactly at the target.
    while (at < file.size) {
      const end = Math.min(file.size, at + window);
      const chunks: Buffer[] = [];
      for await (const chunk of store.read(file.path, at, end)) chunks.push(chunk);
      const n = Buffer.concat(chunks).indexOf(10);
      if (n >= 0) {
        found = at + n + 1;
        break;
      }
      at = end;
    }
    out.push(found);
  }
  return out;
}

/** A byte part in words. */
export function describeBytes(p: Part): string {
  if (p.gzip) return `${p.name} (gzip, whole file)`;
  return `${p.name} bytes ${p.start}-${p.end}`;
}
