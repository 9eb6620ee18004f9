/**
 * The crash test's child: opens a WAL, then writes to it from several concurrent writers as
 * fast as it can, announcing each write on stdout before issuing it (`o <seq> <op>`) and each
 * acknowledgement after it (`a <seq>`), until the parent kills it with SIGKILL. Lines are written
 * with synchronous system calls, so the parent sees every line printed before the kill.
 *
 * With `chunked`, every write system call writes at most a few hundred bytes (a short write,
 * which the store continues), so a kill often lands in the middle of a batch: a torn tail.
 *
 * Usage: node -r ./test/crash/ts-register.js test/crash/crash-child.ts <dataDir> <seed> <segmentBytes> [chunked]
 */
import * as fs from 'node:fs';
import { EntryType, logIndex, nodeId, term } from '@keyval/raft';
import type { Entry, LogIndex } from '@keyval/raft';
import { WalLogStore, nodeWalFileSystem } from '@keyval/storage';
import type { LogUpdate, StorageLogger, WalFileSystem } from '@keyval/storage';
import { CRASH_CONFIG, applyOpInPlace, crashPayload, formatOp, lastIndex, termAt } from './crash-model';
import type { CrashOp, LogState } from './crash-model';
import { SeededRandom } from './seeded-random';

const logger: StorageLogger = {
  info: () => undefined,
  warn: (message, fields) => process.stderr.write(`warn ${message} ${JSON.stringify(fields)}\n`),
  error: (message, fields) => process.stderr.write(`error ${message} ${JSON.stringify(fields)}\n`),
};

/** The real file system, but each write call writes at most 1 to 512 bytes. */
function chunkedFileSystem(random: SeededRandom): WalFileSystem {
  const chunked = async (path: string, open: (path: string) => ReturnType<WalFileSystem['openForUpdate']>) => {
    const file = await open(path);
    return {
      write: (buffer: Uint8Array, offset: number, length: number, position: number) => file.write(buffer, offset, Math.min(length, 1 + random.int(512)), position),
      datasync: () => file.datasync(),
      truncate: (length: number) => file.truncate(length),
      readSync: (buffer: Uint8Array, offset: number, length: number, position: number) => file.readSync(buffer, offset, length, position),
      close: () => file.close(),
    };
  };
  return {
    ...nodeWalFileSystem,
    openForUpdate: (path) => chunked(path, nodeWalFileSystem.openForUpdate),
    createExclusive: (path) => chunked(path, nodeWalFileSystem.createExclusive),
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes a line straight to fd 1 and returns only once the kernel has it, so the parent sees it
 * even if this process is killed right after. (process.stdout buffers in user space when the
 * pipe is full, and that buffer dies with the process.)
 */
function out(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  let written = 0;
  while (written < bytes.byteLength) {
    try {
      written += fs.writeSync(1, bytes, written);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') {
        throw err;
      }
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

function stateOf(store: WalLogStore): LogState {
  const snapshot = store.snapshotMeta();
  const terms: number[] = [];
  for (let index = snapshot.index + 1; index <= store.lastIndex(); index++) {
    terms.push(store.term(index as LogIndex));
  }
  const hs = store.hardState();
  return { snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, hardTerm: hs.term, hardCommit: hs.commit, terms };
}

/** Picks the next write, valid against `state` (the log after every write issued so far). */
function nextOp(state: LogState, random: SeededRandom, currentTerm: { value: number }): CrashOp {
  const snap = state.snapshotIndex;
  const last = lastIndex(state);
  const r = random.next();
  if (r < 0.06) {
    return { kind: 'hardState', term: currentTerm.value, commit: snap + random.int(last - snap + 1) };
  }
  if (r < 0.08 && last > snap) {
    currentTerm.value++;
    const from = Math.max(snap + 1, last - random.int(8));
    return { kind: 'append', from, count: 1 + random.int(4), term: currentTerm.value, commit: from - 1 };
  }
  if (r < 0.095 && last > snap + 20) {
    const index = snap + 1 + random.int(last - snap - 10);
    return { kind: 'compact', index, term: termAt(state, index) as number };
  }
  if (r < 0.098) {
    const index = Math.max(snap, last + random.int(7) - 3);
    const inLog = index > snap && index <= last;
    if (inLog && random.next() < 0.5) {
      return { kind: 'snapshot', index, term: termAt(state, index) as number };
    }
    currentTerm.value++;
    return { kind: 'snapshot', index, term: currentTerm.value };
  }
  const count = random.next() < 0.8 ? 1 : 1 + random.int(8);
  return { kind: 'append', from: last + 1, count, term: currentTerm.value, ...(random.next() < 0.5 ? { commit: last } : {}) };
}

function issue(store: WalLogStore, op: CrashOp, sync: boolean): Promise<void> {
  const meta = (index: number, t: number) => ({ index: logIndex(index), term: term(t), config: CRASH_CONFIG });
  switch (op.kind) {
    case 'append': {
      const entries: Entry[] = [];
      for (let index = op.from; index < op.from + op.count; index++) {
        entries.push({ index: logIndex(index), term: term(op.term), type: EntryType.Normal, data: crashPayload(index, op.term) });
      }
      const update: LogUpdate = { entries, ...(op.commit === undefined ? {} : { hardState: { term: term(op.term), vote: nodeId(1), commit: logIndex(op.commit) } }) };
      return store.save(update, { sync });
    }
    case 'hardState':
      return store.save({ hardState: { term: term(op.term), vote: nodeId(1), commit: logIndex(op.commit) } }, { sync });
    case 'compact':
      return store.compact(meta(op.index, op.term));
    case 'snapshot':
      return store.save({ snapshot: meta(op.index, op.term) }, { sync });
  }
}

async function main(): Promise<void> {
  const [dataDir, seedText, segmentText, mode] = process.argv.slice(2);
  const random = new SeededRandom(Number(seedText));
  const fileSystem = mode === 'chunked' ? chunkedFileSystem(new SeededRandom(Number(seedText) + 1)) : nodeWalFileSystem;
  const store = await WalLogStore.open(dataDir as string, { segmentBytes: Number(segmentText), cacheBytesMax: 64 * 1024, logger, fileSystem });
  const state = stateOf(store);
  const currentTerm = { value: Math.max(1, state.hardTerm, state.snapshotTerm, termAt(state, lastIndex(state)) ?? 0) };
  out(`ready ${lastIndex(state)}`);
  let seq = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const op = nextOp(state, random, currentTerm);
      const mine = seq++;
      out(`o ${mine} ${formatOp(op)}`);
      applyOpInPlace(state, op);
      await issue(store, op, random.next() < 0.9);
      out(`a ${mine}`);
    }
  };
  const writers = 1 + random.int(24);
  await Promise.all(Array.from({ length: writers }, writer));
}

main().catch((err: unknown) => {
  process.stderr.write(`crash child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(3);
});
