/**
 * `npm run bench:storage`: synced appends of 256-byte entries to a WalLogStore by 1, 16 and 256
 * concurrent appenders. Each appender appends one entry and waits for its acknowledgement
 * (fdatasync included) before appending the next. Prints entries/s, fdatasyncs/s, entries per
 * fdatasync and the latency of each append (call to acknowledgement) at p50/p99/max.
 *
 * Options: --seconds N (per run, default 5), --dir D (default: the OS temp dir), --concurrency
 * 1,16,256, --entry-bytes 256, --json (one JSON line per run instead of the table).
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EntryType, logIndex, term } from '@keyval/raft';
import type { Entry } from '@keyval/raft';
import { WalLogStore } from '../wal/wal-log-store';
import { nodeWalFileSystem } from '../wal/wal-file-system';
import type { WalFileSystem } from '../wal/wal-file-system';

interface RunResult {
  readonly concurrency: number;
  readonly entries: number;
  readonly seconds: number;
  readonly entriesPerSecond: number;
  readonly fdatasyncsPerSecond: number;
  readonly entriesPerFdatasync: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? (process.argv[at + 1] as string) : fallback;
}

/** The real file system, counting fdatasyncs. */
function countingFileSystem(counter: { datasyncs: number }): WalFileSystem {
  return {
    ...nodeWalFileSystem,
    async openForUpdate(file) {
      return countSyncs(await nodeWalFileSystem.openForUpdate(file), counter);
    },
    async createExclusive(file) {
      return countSyncs(await nodeWalFileSystem.createExclusive(file), counter);
    },
  };
}

function countSyncs<T extends { datasync(): Promise<void> }>(file: T, counter: { datasyncs: number }): T {
  const datasync = file.datasync.bind(file);
  file.datasync = () => {
    counter.datasyncs++;
    return datasync();
  };
  return file;
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number);
}

async function run(baseDir: string, concurrency: number, seconds: number, entryBytes: number): Promise<RunResult> {
  const dir = await fsp.mkdtemp(path.join(baseDir, 'keyval-bench-storage-'));
  const counter = { datasyncs: 0 };
  const store = await WalLogStore.open(dir, { fileSystem: countingFileSystem(counter) });
  const data = new Uint8Array(entryBytes).fill(7);
  let next = 1;
  let measuring = false;
  let stop = false;
  let latencies = new Float64Array(1 << 20);
  let count = 0;
  const appender = async (): Promise<void> => {
    while (!stop) {
      const entry: Entry = { index: logIndex(next++), term: term(1), type: EntryType.Normal, data };
      const started = process.hrtime.bigint();
      await store.append([entry]);
      if (measuring) {
        if (count === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[count++] = Number(process.hrtime.bigint() - started) / 1e6;
      }
    }
  };
  const appenders = Array.from({ length: concurrency }, appender);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const syncsBefore = counter.datasyncs;
  const started = process.hrtime.bigint();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const syncs = counter.datasyncs - syncsBefore;
  stop = true;
  await Promise.all(appenders);
  await store.close();
  await fsp.rm(dir, { recursive: true, force: true });
  const sorted = latencies.slice(0, count).sort();
  return {
    concurrency,
    entries: count,
    seconds: elapsed,
    entriesPerSecond: count / elapsed,
    fdatasyncsPerSecond: syncs / elapsed,
    entriesPerFdatasync: syncs === 0 ? 0 : count / syncs,
    latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) },
  };
}

async function main(): Promise<void> {
  const seconds = Number(argument('seconds', '5'));
  const baseDir = argument('dir', os.tmpdir());
  const entryBytes = Number(argument('entry-bytes', '256'));
  const levels = argument('concurrency', '1,16,256').split(',').map(Number);
  const json = process.argv.includes('--json');
  const cpus = os.cpus();
  console.log(`storage benchmark: synced appends of ${entryBytes}-byte entries, ${seconds} s per run, WAL in ${baseDir}`);
  console.log(`machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, node ${process.version}`);
  if (!json) {
    console.log('appenders  entries/s  fdatasyncs/s  entries/fdatasync  p50 ms  p99 ms  max ms');
  }
  for (const concurrency of levels) {
    const result = await run(baseDir, concurrency, seconds, entryBytes);
    if (json) {
      console.log(JSON.stringify(result));
      continue;
    }
    const { p50, p99, max } = result.latencyMs;
    console.log(
      `${String(concurrency).padStart(9)}  ${result.entriesPerSecond.toFixed(0).padStart(9)}  ${result.fdatasyncsPerSecond.toFixed(0).padStart(12)}  ` +
        `${result.entriesPerFdatasync.toFixed(1).padStart(17)}  ${p50.toFixed(3).padStart(6)}  ${p99.toFixed(3).padStart(6)}  ${max.toFixed(2).padStart(6)}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
