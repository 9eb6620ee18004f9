/**
 * A WalFileSystem over the real one that counts calls and injects faults (for tests only).
 */
import { nodeWalFileSystem } from '../wal/wal-file-system';
import type { WalFile, WalFileSystem } from '../wal/wal-file-system';

/** An error shaped like Node's system errors. */
export function systemError(code: string, message = code): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** What a write fault does: fail outright, or write some bytes first (a partial write). */
export interface WriteFault {
  readonly error: Error;
  /** Bytes actually written before failing (default 0). */
  readonly partialBytes?: number;
}

export class FaultyFileSystem implements WalFileSystem {
  writes = 0;
  datasyncs = 0;
  /** When set, the next (and every further) write to a matching path fails this way. */
  writeFault: WriteFault | undefined;
  /** Restricts writeFault to paths containing this text (default: every WAL file). */
  writeFaultPath = '.wal';
  /** When set, datasync fails with it. */
  datasyncFault: Error | undefined;
  /** When set, datasync waits for this promise first (to hold a batch in flight). */
  datasyncGate: Promise<void> | undefined;
  /** When set, writeFile (the space probe) fails with it. */
  writeFileFault: Error | undefined;

  constructor(private readonly inner: WalFileSystem = nodeWalFileSystem) {}

  async openForUpdate(path: string): Promise<WalFile> {
    return this.wrap(path, await this.inner.openForUpdate(path));
  }

  async createExclusive(path: string): Promise<WalFile> {
    return this.wrap(path, await this.inner.createExclusive(path));
  }

  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  mkdirp(dir: string): Promise<void> {
    return this.inner.mkdirp(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }

  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    if (this.writeFileFault !== undefined) {
      throw this.writeFileFault;
    }
    await this.inner.writeFile(path, data);
  }

  private wrap(path: string, file: WalFile): WalFile {
    return {
      write: async (buffer, offset, length, position) => {
        this.writes++;
        const fault = path.includes(this.writeFaultPath) ? this.writeFault : undefined;
        if (fault !== undefined) {
          const partial = Math.min(fault.partialBytes ?? 0, length);
          if (partial > 0) {
            await file.write(buffer, offset, partial, position);
          }
          throw fault.error;
        }
        return file.write(buffer, offset, length, position);
      },
      datasync: async () => {
        this.datasyncs++;
        if (this.datasyncGate !== undefined) {
          await this.datasyncGate;
        }
        if (this.datasyncFault !== undefined) {
          throw this.datasyncFault;
        }
        await file.datasync();
      },
      truncate: (length) => file.truncate(length),
      readSync: (buffer, offset, length, position) => file.readSync(buffer, offset, length, position),
      close: () => file.close(),
    };
  }
}
