/**
 * Test fixtures shared by the storage specs (not part of the library build).
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EMPTY_CONFIG, EntryType, logIndex, nodeId, term } from '@keyval/raft';
import type { Entry, HardState, MembershipConfig, SnapshotMeta } from '@keyval/raft';

/** A deterministic payload for (index, term): tests can check an entry is intact. */
export function payload(index: number, entryTerm: number, bytes = 8 + ((index * 7 + entryTerm * 13) % 41)): Uint8Array {
  const data = new Uint8Array(bytes);
  let x = (index * 2654435761 + entryTerm * 40503) >>> 0 || 1;
  for (let k = 0; k < bytes; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[k] = x & 0xff;
  }
  return data;
}

export function entry(index: number, entryTerm: number, data: Uint8Array = payload(index, entryTerm)): Entry {
  return { index: logIndex(index), term: term(entryTerm), type: EntryType.Normal, data };
}

/** Entries [from, to] all with `entryTerm`. */
export function entries(from: number, to: number, entryTerm: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) {
    out.push(entry(index, entryTerm));
  }
  return out;
}

export function hardState(hsTerm: number, vote: number, commit: number): HardState {
  return { term: term(hsTerm), vote: nodeId(vote), commit: logIndex(commit) };
}

export function snapshotMeta(index: number, snapshotTerm: number, config: MembershipConfig = EMPTY_CONFIG): SnapshotMeta {
  return { index: logIndex(index), term: term(snapshotTerm), config };
}

/** Entries compared by value (data as plain bytes), for toEqual. */
export function plain(list: readonly Entry[]): { index: number; term: number; type: number; data: number[] }[] {
  return list.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] }));
}

/** A fresh temporary directory. */
export function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `keyval-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/**
 * Differences between two entry lists (index, term, type, bytes), as short strings; empty when
 * they are equal. Much faster than toEqual on large payloads.
 */
export function entryDifferences(actual: readonly Entry[], expected: readonly Entry[]): string[] {
  const differences: string[] = [];
  if (actual.length !== expected.length) {
    differences.push(`length ${actual.length} instead of ${expected.length}`);
  }
  for (let k = 0; k < Math.min(actual.length, expected.length) && differences.length < 10; k++) {
    const a = actual[k] as Entry;
    const e = expected[k] as Entry;
    if (a.index !== e.index || a.term !== e.term || a.type !== e.type || Buffer.compare(a.data, e.data) !== 0) {
      differences.push(`entry #${k}: (${a.index}, ${a.term}) instead of (${e.index}, ${e.term}) or different data`);
    }
  }
  return differences;
}
