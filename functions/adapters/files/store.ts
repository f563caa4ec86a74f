/** Where files live: a local directory or an S3 prefix. */
export interface FileInfo {
  /** What read() takes: an absolute path or an object key. */
  path: string;
  /** The name below the URL, for messages and descriptions. */
  name: string;
  size: number;
}

export interface FileStore {
  /** Files below the URL, in name order; hidden (.x) and marker (_x) files left out. */
  list(): Promise<FileInfo[]>;
  /** The bytes [start, end) of a file, streamed. */
  read(path: string, start: number, end: number): AsyncIterable<Buffer>;
}
