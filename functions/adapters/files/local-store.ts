import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobError } from '../../core/errors.ts';
import type { FileInfo, FileStore } from './store.ts';

/** Files under a file:// URL: one file, or every file below a directory. */
export class LocalStore implements FileStore {
  private readonly root: string;

  constructor(url: string) {
    this.root = fileURLToPath(url);
  }

  async list(): Promise<FileInfo[]> {
    const info = await stat(this.root).catch(() => {
      throw new JobError(`source.url: ${this.root} does not exist`);
    });
    if (info.isFile()) return [{ path: this.root, name: this.root.split('/').pop() as string, size: info.size }];
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    const files: FileInfo[] = [];
    for (const entry of entries) {
      const path = join(entry.parentPath, entry.name);
      const name = path.slice(this.root.length).replace(/^\/+/, '');
      if (!entry.isFile() || name.split('/').some((part) => part.startsWith('.') || part.startsWith('_'))) continue;
      files.push({ path, name, size: (await stat(path)).size });
    }
    return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async *read(path: string, start: number, end: number): AsyncGenerator<Buffer> {
    if (end <= start) return;
    yield* createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }
}
