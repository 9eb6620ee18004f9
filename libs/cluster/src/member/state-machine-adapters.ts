/**
 * Adapts the state machine (libs/statemachine) to what the driver needs: applying entries,
 * and snapshot files — listing, sending as a byte stream, receiving with verification,
 * restoring and creating.
 */
import { createReadStream } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import type { Entry, LogIndex, SnapshotMeta } from '@keyval/raft';
import type { ApplyResult, StateMachine } from '@keyval/statemachine';
import type { DriverSnapshots, DriverStateMachine } from '../driver/raft-driver';
import type { SnapshotObserver } from './member-observer';
import type { SnapshotChunkIn, SnapshotOffer, SnapshotSource } from '../transport/transport';

export class SnapshotTransferError extends Error {
  constructor(message: string) {
    super(`snapshot transfer: ${message}`);
    this.name = 'SnapshotTransferError';
  }
}

export class StateMachineAdapter implements DriverStateMachine<ApplyResult> {
  constructor(private readonly sm: StateMachine) {}

  appliedIndex(): LogIndex {
    return this.sm.appliedIndex();
  }

  apply(entries: readonly Entry[]): Promise<readonly ApplyResult[]> {
    return this.sm.apply(entries);
  }
}

const READ_CHUNK_BYTES = 1024 * 1024;

async function fileCrc(file: string): Promise<number> {
  let crc = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES })) {
    crc = crc32c(chunk as Buffer, crc);
  }
  return crc;
}

export class SnapshotAdapter implements DriverSnapshots {
  constructor(
    private readonly sm: StateMachine,
    private readonly observer?: SnapshotObserver,
    /** Called once a restored snapshot is the state machine (its membership may be new). */
    private readonly onRestored?: () => void,
  ) {}

  latest(): SnapshotMeta | undefined {
    return this.sm.snapshots.latest()?.meta;
  }

  async open(meta: SnapshotMeta): Promise<SnapshotSource> {
    const info = this.sm.snapshots.byIndex(meta.index);
    const crc = await fileCrc(info.path);
    return {
      totalBytes: info.sizeBytes,
      crc32c: crc,
      chunks: () => createReadStream(info.path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>,
    };
  }

  async receive(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (bytes: number) => void): Promise<void> {
    let received = 0;
    let ok = false;
    try {
      await this.receiveChunks(offer, chunks, (bytes) => {
        received = bytes;
        progress(bytes);
      });
      ok = true;
    } finally {
      this.observer?.received(ok, received);
    }
  }

  private async receiveChunks(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (bytes: number) => void): Promise<void> {
    const receiver = this.sm.snapshots.receiver();
    let received = 0;
    let crc = 0;
    try {
      for await (const chunk of chunks) {
        if (chunk.offset !== received) {
          throw new SnapshotTransferError(`chunk at offset ${chunk.offset}, expected ${received}`);
        }
        const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
        if (crc32c(data) !== chunk.crc32c) {
          throw new SnapshotTransferError(`chunk at offset ${chunk.offset} fails its checksum`);
        }
        await receiver.write(data);
        crc = crc32c(data, crc);
        received += data.byteLength;
        progress(received);
      }
      if (received !== offer.totalBytes || crc !== offer.crc32c) {
        throw new SnapshotTransferError(`received ${received} of ${offer.totalBytes} bytes (checksum ${crc === offer.crc32c ? 'ok' : 'mismatch'})`);
      }
      const info = await receiver.finish();
      if (info.meta.index !== offer.meta.index || info.meta.term !== offer.meta.term) {
        throw new SnapshotTransferError(`the file covers ${info.meta.index}/${info.meta.term}, the leader announced ${offer.meta.index}/${offer.meta.term}`);
      }
    } catch (error) {
      await receiver.abort();
      throw error;
    }
  }

  async restore(meta: SnapshotMeta): Promise<void> {
    await this.sm.restore(this.sm.snapshots.byIndex(meta.index).path);
    this.onRestored?.();
  }

  async create(): Promise<SnapshotMeta> {
    const began = performance.now();
    const info = await this.sm.createSnapshot();
    this.observer?.created(performance.now() - began, info.sizeBytes);
    return info.meta;
  }
}
