/**
 * What the crash test knows about a log, and the check it makes after every kill.
 *
 * The child announces every write (`o <seq> ...`) before issuing it and every acknowledgement
 * (`a <seq>`) after it. Writes take their place in the log in seq order and acknowledgements
 * come in seq order, so after a kill the recovered log must be the log after *some prefix of
 * the records written*, and that prefix must include every record of every acknowledged write.
 * Entry payloads are a function of (index, term), so every entry read back is also checked
 * byte for byte.
 */
import { nodeId } from '@keyval/raft';
import type { MembershipConfig } from '@keyval/raft';

/** Every snapshot the child writes carries this configuration. */
export const CRASH_CONFIG: MembershipConfig = { voters: [nodeId(1), nodeId(2), nodeId(3)], learners: [] };

/** A write the child makes, as announced on its stdout. */
export type CrashOp =
  | { readonly kind: 'append'; readonly from: number; readonly count: number; readonly term: number; readonly commit?: number }
  | { readonly kind: 'hardState'; readonly term: number; readonly commit: number }
  | { readonly kind: 'compact'; readonly index: number; readonly term: number }
  | { readonly kind: 'snapshot'; readonly index: number; readonly term: number };

/** The child's line for an op (without the `o <seq>` prefix). */
export function formatOp(op: CrashOp): string {
  switch (op.kind) {
    case 'append':
      return `A ${op.from} ${op.count} ${op.term}${op.commit === undefined ? '' : ` ${op.commit}`}`;
    case 'hardState':
      return `H ${op.term} ${op.commit}`;
    case 'compact':
      return `C ${op.index} ${op.term}`;
    case 'snapshot':
      return `S ${op.index} ${op.term}`;
  }
}

/** Parses what formatOp printed (split on spaces). */
export function parseOp(fields: readonly string[]): CrashOp {
  const n = fields.slice(1).map(Number);
  switch (fields[0]) {
    case 'A':
      return { kind: 'append', from: n[0] as number, count: n[1] as number, term: n[2] as number, ...(n.length > 3 ? { commit: n[3] as number } : {}) };
    case 'H':
      return { kind: 'hardState', term: n[0] as number, commit: n[1] as number };
    case 'C':
      return { kind: 'compact', index: n[0] as number, term: n[1] as number };
    case 'S':
      return { kind: 'snapshot', index: n[0] as number, term: n[1] as number };
    default:
      throw new Error(`unknown op line: ${fields.join(' ')}`);
  }
}

/** A log as plain numbers: the snapshot, the hard state and the term of every entry after it. */
export interface LogState {
  snapshotIndex: number;
  snapshotTerm: number;
  hardTerm: number;
  hardCommit: number;
  /** terms[k] is the term of entry snapshotIndex + 1 + k. */
  terms: number[];
}

/** The log of an empty data dir. */
export const EMPTY_STATE: LogState = { snapshotIndex: 0, snapshotTerm: 0, hardTerm: 0, hardCommit: 0, terms: [] };

/** The last index (the snapshot index when no entry follows it). */
export function lastIndex(state: LogState): number {
  return state.snapshotIndex + state.terms.length;
}

/** The term at `index` (the snapshot's at its index), or undefined outside the log. */
export function termAt(state: LogState, index: number): number | undefined {
  return index === state.snapshotIndex ? state.snapshotTerm : state.terms[index - state.snapshotIndex - 1];
}

/** One record the store writes for an op, in the order it writes them. */
type CrashRecord =
  | { readonly type: 'entry'; readonly index: number; readonly term: number }
  | { readonly type: 'hardState'; readonly term: number; readonly commit: number }
  | { readonly type: 'snapshot'; readonly index: number; readonly term: number; readonly compact: boolean };

function recordsOf(op: CrashOp): CrashRecord[] {
  switch (op.kind) {
    case 'append': {
      const records: CrashRecord[] = [];
      for (let k = 0; k < op.count; k++) {
        records.push({ type: 'entry', index: op.from + k, term: op.term });
      }
      if (op.commit !== undefined) {
        records.push({ type: 'hardState', term: op.term, commit: op.commit });
      }
      return records;
    }
    case 'hardState':
      return [{ type: 'hardState', term: op.term, commit: op.commit }];
    case 'compact':
      return [{ type: 'snapshot', index: op.index, term: op.term, compact: true }];
    case 'snapshot':
      return [{ type: 'snapshot', index: op.index, term: op.term, compact: false }];
  }
}

/** Applies one record (the rules of raft's MemoryStorage), mutating `state`. */
function applyRecord(state: LogState, record: CrashRecord): void {
  switch (record.type) {
    case 'entry':
      state.terms.length = record.index - state.snapshotIndex - 1;
      state.terms.push(record.term);
      return;
    case 'hardState':
      state.hardTerm = record.term;
      state.hardCommit = record.commit;
      return;
    case 'snapshot': {
      if (record.compact && record.index <= state.snapshotIndex) {
        return;
      }
      const keep = record.compact || (record.index > state.snapshotIndex && record.index <= lastIndex(state) && termAt(state, record.index) === record.term);
      state.terms = keep ? state.terms.slice(record.index - state.snapshotIndex) : [];
      state.snapshotIndex = record.index;
      state.snapshotTerm = record.term;
      return;
    }
  }
}

/** Applies whole ops to a copy of `state`. */
export function applyOps(state: LogState, ops: readonly CrashOp[]): LogState {
  const next = { ...state, terms: [...state.terms] };
  for (const op of ops) {
    for (const record of recordsOf(op)) {
      applyRecord(next, record);
    }
  }
  return next;
}

function sameState(a: LogState, b: LogState): boolean {
  if (a.snapshotIndex !== b.snapshotIndex || a.snapshotTerm !== b.snapshotTerm || a.hardTerm !== b.hardTerm || a.hardCommit !== b.hardCommit) {
    return false;
  }
  return a.terms.length === b.terms.length && a.terms.every((t, k) => t === b.terms[k]);
}

/** One line about a log, for progress and failure messages. */
export function describeState(state: LogState): string {
  const last = lastIndex(state);
  return `snapshot ${state.snapshotIndex}/${state.snapshotTerm}, hard state term ${state.hardTerm} commit ${state.hardCommit}, entries ${state.snapshotIndex + 1}..${last} (last term ${termAt(state, last)})`;
}

/**
 * Checks that `recovered` is the log after every acknowledged op (ops with seq <= ackedThrough)
 * plus some prefix of the records of the ops issued after them. Returns undefined when it is,
 * or an explanation.
 */
export function checkRecovered(base: LogState, ops: readonly CrashOp[], ackedThrough: number, recovered: LogState): string | undefined {
  const candidate = applyOps(base, ops.slice(0, ackedThrough + 1));
  if (sameState(candidate, recovered)) {
    return undefined;
  }
  const acknowledged = describeState(candidate);
  for (const op of ops.slice(ackedThrough + 1)) {
    for (const record of recordsOf(op)) {
      applyRecord(candidate, record);
      if (sameState(candidate, recovered)) {
        return undefined;
      }
    }
  }
  return `recovered ${describeState(recovered)}; after the acknowledged writes expected ${acknowledged}, or a later prefix of the ${ops.length - ackedThrough - 1} unacknowledged writes`;
}

/**
 * The payload of entry (index, term), all derived from the pair: 0 to 299 bytes, except one
 * entry in 211 of about 150 KB (a batch larger than a test segment, and a longer write).
 */
export function crashPayload(index: number, entryTerm: number): Uint8Array {
  const size = index % 211 === 0 ? 150_000 + (index % 1000) : (index * 31 + entryTerm * 7) % 300;
  const bytes = new Uint8Array(size);
  let x = (index * 2654435761 + entryTerm * 97) >>> 0;
  for (let k = 0; k < bytes.length; k++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    bytes[k] = x >>> 24;
  }
  return bytes;
}

/** Applies one op to `state` in place (the child's view of the log it is writing). */
export function applyOpInPlace(state: LogState, op: CrashOp): void {
  for (const record of recordsOf(op)) {
    applyRecord(state, record);
  }
}
