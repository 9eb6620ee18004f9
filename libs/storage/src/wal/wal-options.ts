/**
 * Options of the WAL log store, their defaults and their limits.
 */
import { InvalidStoreOptionError } from '../errors';
import { SILENT_LOGGER } from '../log-store';
import type { StorageLogger } from '../log-store';
import { FRAME_HEADER_BYTES, RECORD_PAYLOAD_BYTES_LIMIT } from './record-codec';
import { nodeWalFileSystem } from './wal-file-system';
import type { WalFileSystem } from './wal-file-system';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** Options of `WalLogStore.open`; every one has a default and a range (resolveWalOptions). */
export interface WalLogStoreOptions {
  /** A new segment is started when the next batch would pass this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Largest record (one entry with its framing) accepted. Default 16 MiB. */
  readonly maxRecordBytes?: number;
  /** Bytes of accepted writes waiting for the next batch; more is refused. Default 64 MiB. */
  readonly writeBufferBytesMax?: number;
  /** Budget of the in-memory cache of the newest entries. Default 64 MiB. */
  readonly cacheBytesMax?: number;
  /** How often a store in state `disk-full` probes for space; 0 disables. Default 1000 ms. */
  readonly probeIntervalMs?: number;
  /** File-system layer (tests inject faults here; the simulation its simulated disk). Default: node:fs. */
  readonly fileSystem?: WalFileSystem;
  /**
   * Time and deferred tasks (the batch flush, fdatasync timing, the disk-space probe).
   * Default: the event loop and the monotonic clock (REAL_WAL_SCHEDULER); a seeded
   * simulation passes its own, so the WAL reads no clock and arms no timer of its own.
   */
  readonly scheduler?: WalScheduler;
  readonly logger?: StorageLogger;
  /** Hears about writes and fdatasyncs (metrics). Default: none. */
  readonly observer?: WalObserver;
}

/**
 * What the WAL needs of time: the subset of the cluster driver's Scheduler (libs/cluster
 * driver/clock.ts) it uses, so one scheduler object serves both.
 */
export interface WalScheduler {
  /** Monotonic milliseconds. */
  nowMs(): number;
  /** Runs `task` once the current turn is over, after the I/O that is ready (as setImmediate). */
  defer(task: () => void): void;
  /** A periodic timer that does not keep the process alive. */
  setInterval(callback: () => void, ms: number): { cancel(): void };
}

/** The event loop and the monotonic clock. */
export const REAL_WAL_SCHEDULER: WalScheduler = {
  nowMs: () => performance.now(),
  defer: (task) => {
    setImmediate(task);
  },
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
};

/**
 * What the WAL tells an observer (metrics: etcd's `etcd_disk_wal_fsync_duration_seconds`).
 * Called on the write path: implementations must be cheap and must not throw.
 */
export interface WalObserver {
  /** One batch of `bytes` was written to the active segment (one write system call). */
  written(bytes: number): void;
  /** One fdatasync of the active segment took `durationMs`. */
  synced(durationMs: number): void;
}

/** Options with their defaults applied, checked. */
export interface ResolvedWalOptions {
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly writeBufferBytesMax: number;
  readonly cacheBytesMax: number;
  readonly probeIntervalMs: number;
  /** Initial size of each batch buffer. */
  readonly batchBufferBytes: number;
  readonly fileSystem: WalFileSystem;
  readonly scheduler: WalScheduler;
  readonly logger: StorageLogger;
  readonly observer: WalObserver | undefined;
}

/** Segment size unless configured: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES = 64 * MIB;

/** Applies defaults and checks every option against its limits. */
export function resolveWalOptions(options: WalLogStoreOptions = {}): ResolvedWalOptions {
  const segmentBytes = checked('segmentBytes', options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, 4 * KIB, GIB);
  const maxRecordBytes = checked('maxRecordBytes', options.maxRecordBytes ?? 16 * MIB, 256, FRAME_HEADER_BYTES + RECORD_PAYLOAD_BYTES_LIMIT);
  const writeBufferBytesMax = checked('writeBufferBytesMax', options.writeBufferBytesMax ?? 64 * MIB, maxRecordBytes, GIB);
  const cacheBytesMax = checked('cacheBytesMax', options.cacheBytesMax ?? 64 * MIB, 0, 16 * GIB);
  const probeIntervalMs = checked('probeIntervalMs', options.probeIntervalMs ?? 1000, 0, 3_600_000);
  return {
    segmentBytes,
    maxRecordBytes,
    writeBufferBytesMax,
    cacheBytesMax,
    probeIntervalMs,
    batchBufferBytes: Math.min(MIB, writeBufferBytesMax),
    fileSystem: options.fileSystem ?? nodeWalFileSystem,
    scheduler: options.scheduler ?? REAL_WAL_SCHEDULER,
    logger: options.logger ?? SILENT_LOGGER,
    observer: options.observer,
  };
}

function checked(option: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidStoreOptionError(option, value, `an integer in [${min}, ${max}]`);
  }
  return value;
}
