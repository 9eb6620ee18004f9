/**
 * The file-system operations the WAL uses, behind an interface so tests can inject faults
 * (a failing fdatasync, ENOSPC in the middle of a write). The real implementation writes
 * synchronously on the event loop when no fdatasync of the file is running: a write then only
 * copies into the page cache (microseconds; the fdatasync after every synced batch keeps dirty
 * data small), and a round trip through the libuv thread pool cost ~30 µs of CPU per call
 * here, more than the copy itself. A write can still wait on the file system now and then
 * (the journal committing another process's fsync: 1% of writes took over 2 ms, at most 4 ms,
 * under the cluster benchmark). While an fdatasync of this file runs, a write to the page
 * being written back may wait for that I/O too, so it goes to the thread pool instead of
 * holding the event loop. fdatasync and the rest run on the thread pool (fs.promises).
 * `readSync` serves the core's synchronous reads of older entries.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';

/** An open file. */
export interface WalFile {
  /** Writes `length` bytes of `buffer` at `position`; returns how many were written. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync: makes written data (and the size needed to read it) durable. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Reads synchronously (positional); returns how many bytes were read. */
  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  close(): Promise<void>;
}

/** The directory and file operations the WAL needs. */
export interface WalFileSystem {
  /** Opens an existing file for reading and writing. */
  openForUpdate(path: string): Promise<WalFile>;
  /** Creates a new file (failing if it exists) for reading and writing. */
  createExclusive(path: string): Promise<WalFile>;
  readFile(path: string): Promise<Buffer>;
  /** File names in `dir`. */
  readdir(dir: string): Promise<string[]>;
  /** Creates `dir` and its parents if missing. */
  mkdirp(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of a directory, making created, renamed and removed names in it durable. */
  syncDir(dir: string): Promise<void>;
  /** Writes a whole file (used by the disk-space probe). */
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

class NodeWalFile implements WalFile {
  /** fdatasync calls of this file in progress. */
  private syncing = 0;

  constructor(private readonly handle: fsp.FileHandle) {}

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.syncing === 0) {
      return fs.writeSync(this.handle.fd, buffer, offset, length, position);
    }
    const { bytesWritten } = await this.handle.write(buffer, offset, length, position);
    return bytesWritten;
  }

  async datasync(): Promise<void> {
    this.syncing++;
    try {
      await this.handle.datasync();
    } finally {
      this.syncing--;
    }
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return fs.readSync(this.handle.fd, buffer, offset, length, position);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The real file system. */
export const nodeWalFileSystem: WalFileSystem = {
  async openForUpdate(path) {
    return new NodeWalFile(await fsp.open(path, 'r+'));
  },
  async createExclusive(path) {
    return new NodeWalFile(await fsp.open(path, 'wx+'));
  },
  readFile: (path) => fsp.readFile(path),
  readdir: (dir) => fsp.readdir(dir),
  async mkdirp(dir) {
    await fsp.mkdir(dir, { recursive: true });
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  async syncDir(dir) {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  writeFile: (path, data) => fsp.writeFile(path, data),
};
