/**
 * The snapshot directory: the files a member created or received, newest last, pruned to
 * `snapshotsRetained`. It hands out snapshots as verified streams for sending to a follower
 * and takes them in through a SnapshotReceiver that verifies as it writes.
 *
 *     leader:   store.source(info).frames() ──(transport, any piece sizes)──▶
 *     follower: receiver.write(piece)... receiver.finish() ─▶ file in the store ─▶ machine.restore(path)
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SnapshotCorruptError, SnapshotNotFoundError } from '../errors';
import type { StateMachineLimits } from '../limits';
import { fsyncDir } from '../util/durable-fs';
import { SnapshotDecoder } from './snapshot-decoder';
import type { SnapshotFileInfo } from './snapshot-file';
import { infoFromHeader, readSnapshotFrames, readSnapshotInfo, verifySnapshotFile } from './snapshot-file';
import { parseSnapshotFileName, snapshotFileName } from './snapshot-format';

/** The limits a snapshot store enforces: chunk and header sizes, and how many snapshots it keeps. */
export type StoreLimits = Pick<StateMachineLimits, 'maxSnapshotChunkBytes' | 'maxSnapshotHeaderBytes' | 'snapshotsRetained'>;

export class SnapshotStore {
  private files: SnapshotFileInfo[] = [];
  private receivers = 0;

  private constructor(
    readonly dir: string,
    private readonly limits: StoreLimits,
  ) {}

  /**
   * Opens (creating) a snapshot directory: removes temporary files left by a crash and lists
   * the snapshots whose header verifies. A file whose header does not verify is left in place
   * and not listed.
   */
  static async open(dir: string, limits: StoreLimits): Promise<SnapshotStore> {
    await fs.mkdir(dir, { recursive: true });
    const store = new SnapshotStore(dir, limits);
    for (const name of (await fs.readdir(dir)).sort()) {
      const file = path.join(dir, name);
      if (name.endsWith('.tmp')) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (parseSnapshotFileName(name) === undefined) {
        continue;
      }
      try {
        store.files.push(await readSnapshotInfo(file, limits));
      } catch (error) {
        if (!(error instanceof SnapshotCorruptError)) {
          throw error;
        }
      }
    }
    store.files.sort((a, b) => a.meta.index - b.meta.index);
    return store;
  }

  /** Snapshots on disk, oldest first. */
  list(): readonly SnapshotFileInfo[] {
    return this.files;
  }

  /** The newest snapshot, if any: what the log store may compact up to. */
  latest(): SnapshotFileInfo | undefined {
    return this.files[this.files.length - 1];
  }

  /** The snapshot covering exactly `index`. Throws SnapshotNotFoundError. */
  byIndex(index: number): SnapshotFileInfo {
    const info = this.files.find((f) => f.meta.index === index);
    if (info === undefined) {
      throw new SnapshotNotFoundError(`index ${index} in ${this.dir}`);
    }
    return info;
  }

  /** Adds a file written into the directory and prunes old ones. */
  async add(info: SnapshotFileInfo): Promise<void> {
    this.files = this.files.filter((f) => f.fileName !== info.fileName);
    this.files.push(info);
    this.files.sort((a, b) => a.meta.index - b.meta.index);
    await this.prune();
  }

  /** Deletes the oldest snapshots beyond `snapshotsRetained`. */
  async prune(): Promise<void> {
    const excess = this.files.length - this.limits.snapshotsRetained;
    if (excess <= 0) {
      return;
    }
    const doomed = this.files.slice(0, excess);
    this.files = this.files.slice(excess);
    for (const info of doomed) {
      await fs.rm(info.path, { force: true });
    }
    await fsyncDir(this.dir);
  }

  /** Re-reads a snapshot whole, verifying every checksum. */
  verify(info: SnapshotFileInfo): Promise<SnapshotFileInfo> {
    return verifySnapshotFile(info.path, this.limits);
  }

  /**
   * The file as a stream of verified frames (header, chunks, end) for sending: each piece is
   * one frame's bytes; a corrupt local file fails the stream rather than being sent.
   */
  async *frames(info: SnapshotFileInfo): AsyncGenerator<Uint8Array> {
    for await (const frame of readSnapshotFrames(info.path, this.limits)) {
      yield frame.raw;
    }
  }

  /** Starts receiving a snapshot streamed by the leader. */
  receiver(): SnapshotReceiver {
    return new SnapshotReceiver(this, path.join(this.dir, `incoming-${process.pid}-${this.receivers++}.snap.tmp`), this.limits);
  }
}

/**
 * A streaming writer for a snapshot arriving in pieces: verifies each frame's checksum as soon
 * as it is complete and rejects a corrupt stream at once (SnapshotCorruptError naming the
 * chunk); `finish` verifies the end frame and whole-file checksum, fsyncs, renames the file to
 * its final name, fsyncs the directory and adds it to the store.
 */
export class SnapshotReceiver {
  private readonly decoder: SnapshotDecoder;
  private handle: fs.FileHandle | undefined;
  private size = 0;
  private closed = false;

  constructor(
    private readonly store: SnapshotStore,
    private readonly tmp: string,
    limits: StoreLimits,
  ) {
    this.decoder = new SnapshotDecoder('incoming snapshot', limits);
  }

  /** Accepts the next piece (any size). Throws SnapshotCorruptError and discards the file. */
  async write(piece: Uint8Array): Promise<void> {
    if (this.closed) {
      throw new Error('snapshot receiver already finished or aborted');
    }
    try {
      this.decoder.push(piece);
      this.handle ??= await fs.open(this.tmp, 'w');
      await this.handle.write(piece);
      this.size += piece.byteLength;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Completes the file. Throws SnapshotTruncatedError if the end frame never came. */
  async finish(): Promise<SnapshotFileInfo> {
    try {
      this.decoder.finish();
      const handle = this.handle as fs.FileHandle;
      await handle.sync();
      await handle.close();
      this.handle = undefined;
      this.closed = true;
      const header = this.decoder.header;
      if (header === undefined) {
        throw new Error('snapshot receiver finished without a header');
      }
      const final = path.join(this.store.dir, snapshotFileName(header.lastIndex, header.lastTerm));
      await fs.rename(this.tmp, final);
      await fsyncDir(this.store.dir);
      const info = infoFromHeader(final, header, this.size);
      await this.store.add(info);
      return info;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Discards what was received. */
  async abort(): Promise<void> {
    this.closed = true;
    if (this.handle !== undefined) {
      await this.handle.close();
      this.handle = undefined;
    }
    await fs.rm(this.tmp, { force: true });
  }
}
