// Public surface of @keyval/storage: the log-store contract, the in-memory and durable (WAL)
// implementations, their errors, and the offline data-dir verifier. See README.md.
export * from './errors';
export * from './log-store';
export * from './log-update-plan';
export * from './memory-log-store';
export { WalLogStore } from './wal/wal-log-store';
export { DEFAULT_SEGMENT_BYTES, REAL_WAL_SCHEDULER } from './wal/wal-options';
export type { WalLogStoreOptions, WalObserver, WalScheduler } from './wal/wal-options';
export { WAL_DIR_NAME } from './wal/wal-open';
export { nodeWalFileSystem } from './wal/wal-file-system';
export type { WalFile, WalFileSystem } from './wal/wal-file-system';
export { formatDataDirReport, verifyDataDir } from './verify-data-dir';
export type { DataDirReport, SegmentReport } from './verify-data-dir';
export type { FoundSnapshotMarker } from './wal/segment-scan';
