/**
 * `npm run bench:statemachine`: throughput of the RocksDB state machine.
 *
 * 1. apply: 256-byte puts to distinct keys, in apply calls of 1, 16, 256 and 4096 entries
 *    (each call is one RocksDB write batch), with and without client sessions;
 * 2. overwrite: 256-byte puts cycling over 1,000 keys in calls of 256 (the record cache hit
 *    path, every put also writing a version and a revision record);
 * 3. snapshot: a state of N keys (1 M by default) written as a snapshot file (with the longest
 *    time the event loop was held meanwhile), then restored into a fresh state machine (MB/s
 *    and seconds);
 * 4. compaction: N puts over N/10 keys (10 versions each), then a compaction at the last
 *    revision while puts go on: how long the physical work takes, versions deleted per second,
 *    the longest the event loop was held, and the puts/s applied meanwhile.
 *
 * Options: --only apply,sessions,overwrite,snapshot,compaction (parts to run), --keys N (snapshot state size),
 * --puts N (per apply configuration),
 * --value-bytes N, --dir PATH (scratch directory; default under the OS temp dir).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { EntryType } from '@keyval/raft';
import type { Command } from '../command-types';
import { encodeCommand } from '../codec/command-codec';
import { RocksStateMachine } from '../rocks/rocks-state-machine';

interface BenchOptions {
  /** Which parts to run: apply, sessions, snapshot (default all). */
  readonly only: readonly string[];
  readonly keys: number;
  readonly puts: number;
  readonly valueBytes: number;
  readonly dir: string;
}

function parseOptions(argv: readonly string[]): BenchOptions {
  const value = (name: string, fallback: string): string => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 && argv[at + 1] !== undefined ? (argv[at + 1] as string) : fallback;
  };
  const count = (name: string, fallback: number): number => {
    const parsed = Number(value(name, String(fallback)));
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      console.error(`--${name} must be a positive integer`);
      process.exit(2);
    }
    return parsed;
  };
  return { only: value('only', 'apply,sessions,overwrite,snapshot,compaction').split(','), keys: count('keys', 1_000_000), puts: count('puts', 200_000), valueBytes: count('value-bytes', 256), dir: value('dir', os.tmpdir()) };
}

/** Builds entries of puts to distinct keys, continuing from `firstIndex`. */
class PutLog {
  private index: number;
  private readonly value: Uint8Array;

  constructor(
    firstIndex: number,
    valueBytes: number,
    private readonly withSessions: boolean,
  ) {
    this.index = firstIndex;
    this.value = new Uint8Array(valueBytes).fill(0x61);
  }

  get lastIndex(): number {
    return this.index - 1;
  }

  /** Leaves out one index (an entry the caller built itself). */
  skip(): void {
    this.index++;
  }

  /** Puts to keys keyOffset, keyOffset + 1, ... (modulo `keyCount` when given). */
  next(count: number, keyOffset: number, keyCount?: number): Entry[] {
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const n = keyCount === undefined ? keyOffset + i : (keyOffset + i) % keyCount;
      const command: Command = {
        timestampMs: 1_700_000_000_000 + this.index,
        op: { type: 'put', request: { key: Buffer.from(`bench/${String(n).padStart(10, '0')}`), value: this.value } },
        ...(this.withSessions && { session: { clientId: BigInt(n % 1000), seq: Math.floor(n / 1000) + 1 } }),
      };
      entries.push({ index: this.index++ as LogIndex, term: 1 as Term, type: EntryType.Normal, data: encodeCommand(command) });
    }
    return entries;
  }
}

async function benchApply(options: BenchOptions, batchEntries: number, withSessions: boolean, keyCount?: number): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(options.dir, 'keyval-bench-apply-'));
  const sm = await RocksStateMachine.open({ dataDir, limits: { maxApplyBatchEntries: Math.max(batchEntries, 4096), maxSessions: 10_000 } });
  try {
    const total = batchEntries === 1 ? Math.min(options.puts, 20_000) : options.puts;
    const log = new PutLog(1, options.valueBytes, withSessions);
    let applyMs = 0;
    for (let done = 0; done < total; done += batchEntries) {
      const entries = log.next(Math.min(batchEntries, total - done), done, keyCount);
      const started = performance.now();
      await sm.apply(entries);
      applyMs += performance.now() - started;
    }
    const perSecond = total / (applyMs / 1000);
    const mbPerSecond = (total * options.valueBytes) / (applyMs / 1000) / 1e6;
    const what = keyCount === undefined ? (withSessions ? 'sessions   ' : 'no sessions') : `${keyCount} keys `;
    console.log(`apply  batch ${String(batchEntries).padStart(4)}  ${what}  ${total} puts  ${perSecond.toFixed(0).padStart(8)} puts/s  ${mbPerSecond.toFixed(1).padStart(6)} MB/s of values`);
  } finally {
    await sm.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function benchSnapshot(options: BenchOptions): Promise<void> {
  const sourceDir = await fs.mkdtemp(path.join(options.dir, 'keyval-bench-snap-'));
  const targetDir = await fs.mkdtemp(path.join(options.dir, 'keyval-bench-restore-'));
  const source = await RocksStateMachine.open({ dataDir: sourceDir });
  const target = await RocksStateMachine.open({ dataDir: targetDir });
  try {
    const log = new PutLog(1, options.valueBytes, false);
    const loadStarted = performance.now();
    for (let done = 0; done < options.keys; done += 4096) {
      await source.apply(log.next(Math.min(4096, options.keys - done), done));
    }
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    console.log(`load   ${options.keys} keys of ${options.valueBytes} B in ${loadSeconds.toFixed(1)} s (${(options.keys / loadSeconds).toFixed(0)} puts/s)`);

    // The export runs on the event loop while a member keeps serving: how long it holds the
    // loop at a time matters as much as its speed (a member's replication waits meanwhile).
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const snapStarted = performance.now();
    const info = await source.createSnapshot();
    const snapSeconds = (performance.now() - snapStarted) / 1000;
    loopDelay.disable();
    const mb = info.sizeBytes / 1e6;
    console.log(`snapshot write    ${options.keys} keys  ${mb.toFixed(1)} MB  ${snapSeconds.toFixed(2)} s  ${(mb / snapSeconds).toFixed(1)} MB/s`);
    console.log(`  event loop held during the write: max ${(loopDelay.max / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms`);

    const restoreStarted = performance.now();
    await target.restore(info.path);
    const restoreSeconds = (performance.now() - restoreStarted) / 1000;
    console.log(`snapshot restore  ${options.keys} keys  ${mb.toFixed(1)} MB  ${restoreSeconds.toFixed(2)} s  ${(mb / restoreSeconds).toFixed(1)} MB/s`);

    const counted = await target.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), countOnly: true });
    if (counted.count !== options.keys || target.revision() !== source.revision()) {
      throw new Error(`restored ${counted.count} keys at revision ${target.revision()}, expected ${options.keys} at ${source.revision()}`);
    }
  } finally {
    await source.close();
    await target.close();
    await fs.rm(sourceDir, { recursive: true, force: true });
    await fs.rm(targetDir, { recursive: true, force: true });
  }
}

async function benchCompaction(options: BenchOptions): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(options.dir, 'keyval-bench-compact-'));
  const sm = await RocksStateMachine.open({ dataDir });
  try {
    const log = new PutLog(1, options.valueBytes, false);
    const keyCount = Math.max(1, Math.floor(options.puts / 10));
    for (let done = 0; done < options.puts; done += 4096) {
      await sm.apply(log.next(Math.min(4096, options.puts - done), done, keyCount));
    }
    const target = sm.revision();
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const started = performance.now();
    await sm.apply([{ index: log.lastIndex + 1, term: 1, type: EntryType.Normal, data: encodeCommand({ timestampMs: 1, op: { type: 'compact', request: { revision: target } } }) } as Entry]);
    log.skip();
    let finished = false;
    const done = sm.compacted(target).then(() => {
      finished = true;
    });
    let applied = 0;
    while (!finished) {
      await sm.apply(log.next(256, applied, keyCount));
      applied += 256;
    }
    await done;
    const seconds = (performance.now() - started) / 1000;
    loopDelay.disable();
    const deleted = options.puts - keyCount;
    console.log(
      `compaction  ${options.puts} versions of ${keyCount} keys  ${seconds.toFixed(2)} s  ${(deleted / seconds).toFixed(0)} versions deleted/s  ${(applied / seconds).toFixed(0)} puts/s applied meanwhile`,
    );
    console.log(`  event loop held during the compaction: max ${(loopDelay.max / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms`);
  } finally {
    await sm.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cpus = os.cpus();
  console.log(`keyval state machine benchmark — node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`);
  console.log(`scratch dir ${options.dir}; values ${options.valueBytes} B; writes not fsynced per batch (the Raft log is the durable copy)`);
  if (options.only.includes('apply')) {
    for (const batch of [1, 16, 256, 4096]) {
      await benchApply(options, batch, false);
    }
  }
  if (options.only.includes('sessions')) {
    await benchApply(options, 256, true);
  }
  if (options.only.includes('overwrite')) {
    await benchApply(options, 256, false, 1000);
  }
  if (options.only.includes('snapshot')) {
    await benchSnapshot(options);
  }
  if (options.only.includes('compaction')) {
    await benchCompaction(options);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
