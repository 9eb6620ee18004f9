/**
 * The WAL's file-system layer (libs/storage WalFileSystem) over simulated storage, with the
 * crash semantics of a real disk behind a page cache:
 *
 *     write/truncate ──▶ file's page-cache image (read back at once)   + queued as unsynced
 *     datasync ─(seeded latency; may fail with EIO)─▶ the operations queued when it was
 *                                                     called become durable
 *     crash ──▶ each file = its durable image + a seeded prefix of its unsynced operations,
 *               the last of which may be torn (only some of its bytes written)
 *
 * Names (create, rename, unlink) change the page-cache directory at once and become durable
 * with syncDir of their directory; a crash brings back the durable directory (a file created
 * but never made durable by syncDir is gone; an unlink not synced is undone). Directories
 * themselves (mkdirp) are durable at once. `noSpace` makes writes fail with ENOSPC (nothing
 * written) until it is cleared.
 *
 * A crash bumps the generation: the dead process's open files fail every call with EIO and its
 * datasyncs in flight never complete (their promises stay pending, as a dead process's do).
 */
import * as path from 'node:path';
import type { WalFile, WalFileSystem } from '@keyval/storage';
import type { SimRandom } from '../sim-random';
import type { SimAgenda } from './sim-scheduler';

/** An error shaped like Node's system errors (the WAL reads `code`). */
export function simSystemError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Per-disk faults and timing, changed by the fault injector as a run goes. */
export interface SimDiskFaults {
  /** fdatasync latency (world ms) for this call. */
  fsyncDelayMs(r: SimRandom): number;
  /** Probability that an fdatasync fails (EIO): the WAL then fails and the member must restart. */
  fsyncFailProb: number;
  /** Writes fail with ENOSPC while set. */
  noSpace: boolean;
  /** On a crash, probability that the first unsynced operation not kept is torn (partly written). */
  tornWriteProb: number;
}

type Op = { readonly kind: 'write'; readonly position: number; readonly bytes: Uint8Array } | { readonly kind: 'truncate'; readonly length: number };

class Inode {
  /** The page-cache image (what reads see). */
  data: Uint8Array = new Uint8Array(0);
  size = 0;
  /** What survives a crash. */
  durable: Uint8Array = new Uint8Array(0);
  durableSize = 0;
  /** Operations since the last completed datasync, oldest first. */
  unsynced: Op[] = [];
  /** Operations issued and made durable (or lost) so far: a datasync covers those issued before it. */
  issued = 0;
  settled = 0;

  applyVolatile(op: Op): void {
    ({ data: this.data, size: this.size } = applyOp(this.data, this.size, op));
  }

  queue(op: Op): void {
    this.applyVolatile(op);
    this.unsynced.push(op);
    this.issued++;
  }

  /** Every operation issued before the `through`-th becomes durable. */
  syncThrough(through: number): void {
    this.syncOps(Math.max(0, through - this.settled));
  }

  /** The first `count` unsynced operations become durable. */
  syncOps(count: number): void {
    this.settled += Math.min(count, this.unsynced.length);
    for (const op of this.unsynced.splice(0, count)) {
      ({ data: this.durable, size: this.durableSize } = applyOp(this.durable, this.durableSize, op));
    }
  }

  content(): Uint8Array {
    return this.data.subarray(0, this.size);
  }
}

function applyOp(data: Uint8Array, size: number, op: Op): { data: Uint8Array; size: number } {
  if (op.kind === 'truncate') {
    if (op.length < size) {
      data.fill(0, op.length, size);
    }
    return { data: ensure(data, op.length), size: op.length };
  }
  const end = op.position + op.bytes.length;
  const grown = ensure(data, end);
  grown.set(op.bytes, op.position);
  return { data: grown, size: Math.max(size, end) };
}

function ensure(data: Uint8Array, length: number): Uint8Array {
  if (data.length >= length) {
    return data;
  }
  const grown = new Uint8Array(Math.max(length, data.length * 2, 4096));
  grown.set(data);
  return grown;
}

/** Counters for the run summary and tests. */
export interface SimFsStats {
  writes: number;
  bytesWritten: number;
  datasyncs: number;
  fsyncFailures: number;
  noSpaceErrors: number;
  tornWrites: number;
  lostOps: number;
}

export class SimFileSystem implements WalFileSystem {
  /** The page-cache directory: path → file. */
  private names = new Map<string, Inode>();
  /** The durable directory. */
  private durableNames = new Map<string, Inode>();
  private readonly dirs = new Set<string>(['/']);
  private generation = 0;
  readonly stats: SimFsStats = { writes: 0, bytesWritten: 0, datasyncs: 0, fsyncFailures: 0, noSpaceErrors: 0, tornWrites: 0, lostOps: 0 };

  constructor(
    private readonly agenda: SimAgenda,
    private readonly random: SimRandom,
    readonly faults: SimDiskFaults,
  ) {}

  /** Operations written but not yet durable, over every file (a crash now may lose some). */
  get unsyncedCount(): number {
    let count = 0;
    for (const inode of new Set(this.names.values())) {
      count += inode.unsynced.length;
    }
    return count;
  }

  /**
   * The process died. Every file keeps its durable image plus a seeded prefix of its unsynced
   * operations (the OS wrote some back), the next one possibly torn; the directory reverts to
   * its durable state. Returns a description for the trace.
   */
  crash(): string {
    this.generation++;
    const notes: string[] = [];
    for (const [name, inode] of [...this.durableNames].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const pending = inode.unsynced.length;
      if (pending === 0) {
        continue;
      }
      const kept = this.random.between(0, pending);
      inode.syncOps(kept);
      let torn = false;
      const next = inode.unsynced[0];
      if (next !== undefined && next.kind === 'write' && next.bytes.length > 1 && this.random.chance(this.faults.tornWriteProb)) {
        const part = this.random.between(1, next.bytes.length - 1);
        inode.unsynced[0] = { kind: 'write', position: next.position, bytes: next.bytes.subarray(0, part) };
        inode.syncOps(1);
        torn = true;
        this.stats.tornWrites++;
      }
      this.stats.lostOps += inode.unsynced.length;
      notes.push(`${path.basename(name)}: ${kept}/${pending} unsynced kept${torn ? ' +1 torn' : ''}`);
    }
    const names = new Map<string, Inode>();
    for (const [name, inode] of this.durableNames) {
      inode.unsynced = [];
      inode.settled = inode.issued;
      inode.data = inode.durable.slice();
      inode.size = inode.durableSize;
      names.set(name, inode);
    }
    this.names = names;
    this.durableNames = new Map(names);
    return notes.length === 0 ? 'nothing unsynced' : notes.join(', ');
  }

  /** Bytes a file holds in the page cache (tests), or undefined. */
  fileSize(file: string): number | undefined {
    return this.names.get(file)?.size;
  }

  /**
   * Damages cold data: flips one bit in the first half of a durable file of at least `minBytes`
   * (past its first `skipBytes`), in the durable and the cached image. Returns where, or
   * undefined when no file is large enough.
   */
  flipColdBit(minBytes: number, skipBytes: number): { file: string; byte: number } | undefined {
    const candidates = [...this.durableNames].filter(([, inode]) => inode.durableSize >= minBytes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (candidates.length === 0) {
      return undefined;
    }
    const [file, inode] = this.random.pick(candidates);
    const byte = this.random.between(skipBytes, Math.floor(inode.durableSize / 2));
    this.flipBit(file, byte, this.random.nextInt(8));
    return { file, byte };
  }

  /** Flips one bit of a file's durable and cached image (tests of corruption handling). */
  flipBit(file: string, byte: number, bit: number): void {
    const inode = this.names.get(file);
    if (inode === undefined || byte >= inode.durableSize) {
      throw new RangeError(`no byte ${byte} in ${file}`);
    }
    inode.durable[byte] = (inode.durable[byte] as number) ^ (1 << bit);
    inode.data[byte] = (inode.data[byte] as number) ^ (1 << bit);
  }

  async openForUpdate(file: string): Promise<WalFile> {
    const inode = this.names.get(file);
    if (inode === undefined) {
      throw simSystemError('ENOENT', `no such file, open '${file}'`);
    }
    return this.open(file, inode);
  }

  async createExclusive(file: string): Promise<WalFile> {
    this.checkDir(file);
    if (this.names.has(file)) {
      throw simSystemError('EEXIST', `file already exists, open '${file}'`);
    }
    const inode = new Inode();
    this.names.set(file, inode);
    return this.open(file, inode);
  }

  async readFile(file: string): Promise<Buffer> {
    const inode = this.names.get(file);
    if (inode === undefined) {
      throw simSystemError('ENOENT', `no such file, open '${file}'`);
    }
    return Buffer.from(inode.content());
  }

  async readdir(dir: string): Promise<string[]> {
    if (!this.dirs.has(dir)) {
      throw simSystemError('ENOENT', `no such directory, scandir '${dir}'`);
    }
    const out: string[] = [];
    for (const name of this.names.keys()) {
      if (path.dirname(name) === dir) {
        out.push(path.basename(name));
      }
    }
    return out.sort();
  }

  async mkdirp(dir: string): Promise<void> {
    for (let d = dir; !this.dirs.has(d); d = path.dirname(d)) {
      this.dirs.add(d);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const inode = this.names.get(from);
    if (inode === undefined) {
      throw simSystemError('ENOENT', `no such file, rename '${from}'`);
    }
    this.checkDir(to);
    this.names.delete(from);
    this.names.set(to, inode);
  }

  async unlink(file: string): Promise<void> {
    if (!this.names.delete(file)) {
      throw simSystemError('ENOENT', `no such file, unlink '${file}'`);
    }
  }

  async syncDir(dir: string): Promise<void> {
    for (const name of [...this.durableNames.keys()]) {
      if (path.dirname(name) === dir && this.names.get(name) !== this.durableNames.get(name)) {
        this.durableNames.delete(name);
      }
    }
    for (const [name, inode] of this.names) {
      if (path.dirname(name) === dir) {
        this.durableNames.set(name, inode);
      }
    }
  }

  async writeFile(file: string, data: Uint8Array): Promise<void> {
    this.checkDir(file);
    if (this.faults.noSpace) {
      this.stats.noSpaceErrors++;
      throw simSystemError('ENOSPC', `no space left on device, write '${file}'`);
    }
    const inode = new Inode();
    inode.applyVolatile({ kind: 'write', position: 0, bytes: Uint8Array.prototype.slice.call(data) });
    this.names.set(file, inode);
  }

  private checkDir(file: string): void {
    if (!this.dirs.has(path.dirname(file))) {
      throw simSystemError('ENOENT', `no such directory '${path.dirname(file)}'`);
    }
  }

  private open(file: string, inode: Inode): WalFile {
    const generation = this.generation;
    // Errors name the path the file was opened under (it may have been renamed since).
    const alive = (): void => {
      if (this.generation !== generation) {
        throw simSystemError('EIO', `${file} was opened by a process that crashed`);
      }
    };
    return {
      write: async (buffer, offset, length, position) => {
        alive();
        if (this.faults.noSpace) {
          this.stats.noSpaceErrors++;
          throw simSystemError('ENOSPC', `no space left on device, write '${file}'`);
        }
        // A copy: the caller reuses its buffer (Buffer#slice would be a view of it).
        const op: Op = { kind: 'write', position, bytes: Uint8Array.prototype.slice.call(buffer, offset, offset + length) };
        inode.queue(op);
        this.stats.writes++;
        this.stats.bytesWritten += length;
        return length;
      },
      datasync: () => {
        alive();
        const through = inode.issued;
        const fail = this.random.chance(this.faults.fsyncFailProb);
        const delay = this.faults.fsyncDelayMs(this.random);
        return new Promise<void>((resolve, reject) => {
          this.agenda.schedule(delay, () => {
            if (this.generation !== generation) {
              return; // the process is gone: its fdatasync never returns
            }
            this.stats.datasyncs++;
            if (fail) {
              this.stats.fsyncFailures++;
              reject(simSystemError('EIO', `i/o error, fdatasync '${file}'`));
              return;
            }
            inode.syncThrough(through);
            resolve();
          });
        });
      },
      truncate: async (length) => {
        alive();
        inode.queue({ kind: 'truncate', length });
      },
      readSync: (buffer, offset, length, position) => {
        alive();
        const available = Math.max(0, Math.min(length, inode.size - position));
        buffer.set(inode.data.subarray(position, position + available), offset);
        return available;
      },
      close: async () => undefined,
    };
  }
}
