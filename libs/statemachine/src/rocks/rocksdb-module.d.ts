/**
 * The part of the untyped `rocksdb` package (5.2.1, an abstract-leveldown store) that
 * rocks-database.ts uses. Only that file imports the module; nothing exported mentions these
 * types, so consumers of this library never need this declaration.
 */
declare module 'rocksdb' {
  type Callback<T = void> = (error: Error | null | undefined, result?: T) => void;

  interface RocksOpenOptionsRaw {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    compression?: boolean;
    cacheSize?: number;
    writeBufferSize?: number;
    maxOpenFiles?: number;
    infoLogLevel?: string | null;
  }

  interface RocksIteratorOptionsRaw {
    gte?: Buffer;
    lt?: Buffer;
    keys?: boolean;
    values?: boolean;
    keyAsBuffer?: boolean;
    valueAsBuffer?: boolean;
    highWaterMark?: number;
    fillCache?: boolean;
  }

  interface RocksIteratorRaw {
    /** The native iterator handle (an implementation detail of rocksdb 5.x). */
    readonly context?: unknown;
    next(callback: (error: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
    end(callback: Callback): void;
  }

  interface RocksChainedBatchRaw {
    put(key: Buffer, value: Buffer): RocksChainedBatchRaw;
    del(key: Buffer): RocksChainedBatchRaw;
    write(options: { sync: boolean }, callback: Callback): void;
  }

  interface RocksLevelDown {
    open(options: RocksOpenOptionsRaw, callback: Callback): void;
    close(callback: Callback): void;
    get(key: Buffer, options: { asBuffer: boolean; fillCache?: boolean }, callback: Callback<Buffer>): void;
    getMany(keys: Buffer[], options: { asBuffer: boolean }, callback: Callback<Array<Buffer | undefined>>): void;
    /** A chained batch: each put is added to a native WriteBatch at once (cheaper than an array batch). */
    batch(): RocksChainedBatchRaw;
    iterator(options: RocksIteratorOptionsRaw): RocksIteratorRaw;
    /** RocksDB's CompactRange over [start, end], on a libuv worker thread. */
    compactRange(start: Buffer, end: Buffer, callback: Callback): void;
    /** RocksDB's GetProperty (synchronous; "" for an unknown property). */
    getProperty(property: string): string;
  }

  function rocksdb(location: string): RocksLevelDown;
  export = rocksdb;
}

/** The native binding of the `rocksdb` package (5.x): used only for batched iteration. */
declare module 'rocksdb/binding' {
  /** Reads up to 1000 entries; `entries` is [value N, key N, ..., value 1, key 1]. */
  export function iterator_next(context: unknown, callback: (error: Error | null | undefined, entries: Buffer[], finished: boolean) => void): void;
}
